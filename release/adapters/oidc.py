"""GitHub Actions' OIDC token: asked of the runner's token endpoint, retried with jitter.

The job must grant ``permissions: id-token: write``; the runner then sets
``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``. The embedded local
cloud's issuer answers the same way (``release local status`` shows the exports).
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from release.errors import ReleaseError

REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 - a variable name
AWS_AUDIENCE = "sts.amazonaws.com"
AZURE_AUDIENCE = "api://AzureADTokenExchange"
PERMISSIONS_YAML = "permissions:\n  id-token: write\n  contents: read"
TIMEOUT = 10.0


class MissingPermissionError(ReleaseError):
    """The job cannot ask for an OIDC token: ``id-token: write`` is not granted."""


def missing_permission() -> MissingPermissionError:
    """The error (with the exact YAML to add) for a job without ``id-token: write``."""
    return MissingPermissionError(
        f"no GitHub OIDC token available: {REQUEST_URL} is not set",
        "give the job (or the workflow) permission to request one:\n"
        f"{PERMISSIONS_YAML}\n"
        "locally, start the embedded cloud (`release local up`) and export what "
        "`release local status` prints",
    )


@dataclass(frozen=True)
class Retry:
    """Exponential backoff with jitter; ``sleep`` and ``jitter`` are passed in for tests."""

    attempts: int = 5
    base: float = 1.0
    cap: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (0-based): half fixed, half random."""
        ceiling = min(self.cap, self.base * 2 ** attempt)
        return float(ceiling / 2 + ceiling / 2 * self.jitter())


class _RetryableError(Exception):
    """A failure worth another attempt (connection refused, 5xx, 429, timeout)."""


@dataclass(frozen=True)
class TokenSource:
    """Where to ask for tokens and with which bearer: call it with an audience."""

    url: str
    bearer: str
    retry: Retry = field(default_factory=Retry)
    timeout: float = TIMEOUT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], retry: Retry | None = None) -> TokenSource:
        """The runner's token endpoint; raises with the YAML to add when it is missing."""
        url = environ.get(REQUEST_URL, "")
        if not url:
            raise missing_permission()
        bearer = environ.get(REQUEST_TOKEN, "")
        if not bearer:
            raise ReleaseError(f"{REQUEST_URL} is set but {REQUEST_TOKEN} is empty",
                               "both come from the runner; locally export both from "
                               "`release local status`")
        return cls(url, bearer, retry or Retry())

    def url_for(self, audience: str) -> str:
        """The request URL with ``audience`` appended, as GitHub's toolkit does."""
        joiner = "&" if "?" in self.url else "?"
        return f"{self.url}{joiner}audience={urllib.parse.quote(audience, safe='')}"

    def __call__(self, audience: str) -> str:
        """A fresh token for ``audience``."""
        host = urllib.parse.urlsplit(self.url).netloc or self.url
        reason = ""
        for attempt in range(self.retry.attempts):
            try:
                return self._once(audience, host)
            except _RetryableError as exc:
                reason = str(exc)
            if attempt + 1 < self.retry.attempts:
                self.retry.sleep(self.retry.delay(attempt))
        raise ReleaseError(
            f"cannot get an OIDC token from {host} after {self.retry.attempts} attempts: "
            f"{reason}",
            "GitHub's token service may be having trouble (https://www.githubstatus.com): "
            "rerun the job; locally, is the embedded cloud up (`release local up`)?")

    def _once(self, audience: str, host: str) -> str:
        if not self.url.startswith(("https://", "http://")):
            raise ReleaseError(f"{REQUEST_URL} is not an http(s) URL: {self.url!r}")
        request = urllib.request.Request(self.url_for(audience))  # noqa: S310 - checked above
        request.add_header("Authorization", f"Bearer {self.bearer}")
        request.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in {401, 403}:
                raise ReleaseError(
                    f"the OIDC token endpoint {host} refused the request ({exc.code})",
                    f"{REQUEST_TOKEN} is wrong or expired: it is valid only inside the job "
                    "that received it; locally export it again from `release local status`",
                ) from None
            if exc.code == 429 or exc.code >= 500:
                raise _RetryableError(f"HTTP {exc.code}") from None
            raise ReleaseError(f"the OIDC token endpoint {host} answered {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise _RetryableError(str(getattr(exc, "reason", exc))) from None
        return _token_of(body, host)


def _token_of(body: bytes, host: str) -> str:
    try:
        value = json.loads(body).get("value")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or value.count(".") != 2:
        raise ReleaseError(f"the OIDC token endpoint {host} answered without a token")
    return value


def unverified_claims(token: str) -> dict[str, Any]:
    """The JWT's payload, NOT verified: for explaining mismatches, never for trusting them."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ReleaseError("the OIDC token is not a JWT (expected three dot-separated parts)")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        raise ReleaseError("the OIDC token's payload is not base64url JSON") from None
    if not isinstance(claims, dict):
        raise ReleaseError("the OIDC token's payload is not a JSON object")
    return claims


def check_not_expired(claims: Mapping[str, Any], now: float) -> None:
    """Refuse a token whose ``exp`` has passed, before a cloud says so less clearly."""
    exp = claims.get("exp")
    if isinstance(exp, int | float) and exp <= now:
        raise ReleaseError(
            f"the OIDC token expired {int(now - exp)}s ago (exp {int(exp)})",
            "GitHub's tokens live 5 minutes: request one right before using it, and check "
            "the machine's clock")
