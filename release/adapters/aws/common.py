"""What every AWS client shares: timeouts and retries, and the message for a botocore error.

Its own module so that the STS exchange (sts.py, web_identity.py) and the client factory
(clients.py) both use it without importing each other.
"""

from __future__ import annotations

from release.errors import ReleaseError

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
MAX_ATTEMPTS = 8


def explain(exc: Exception, doing: str) -> ReleaseError:
    """Turn a botocore exception into a message that says what to do."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, NoCredentialsError):
        return ReleaseError(f"{doing}: no AWS credentials",
                            "run `release auth aws --env ENV` (GitHub OIDC) first, or set "
                            "AWS_PROFILE locally")
    if isinstance(exc, EndpointConnectionError):
        return ReleaseError(f"{doing}: cannot reach {exc.kwargs.get('endpoint_url')}",
                            "is the endpoint up? for the local cloud run `release local up`")
    if isinstance(exc, ReadTimeoutError):
        return ReleaseError(f"{doing}: AWS did not answer in {READ_TIMEOUT}s",
                            "retry; if it persists check the AWS status page")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", "")
        hint = None
        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
            hint = "the role lacks this permission: see `release iam trust-policy`"
        elif code in {"ExpiredToken", "ExpiredTokenException"}:
            hint = "credentials expired: authenticate again"
        return ReleaseError(f"{doing}: {code}: {message}".rstrip(": "), hint)
    return ReleaseError(f"{doing}: {type(exc).__name__}: {exc}")
