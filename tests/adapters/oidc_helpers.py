"""Helpers shared by the OIDC, doctor and Azure adapter tests (fixtures are in conftest)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from release.local import oidc_issuer

REQUEST_TOKEN = "request-token-for-tests"


@dataclass(frozen=True)
class RunningIssuer:
    """An issuer serving on 127.0.0.1: its URLs, bearer and claims file."""

    issuer: oidc_issuer.Issuer
    request_url: str
    claims_file: Path

    def environ(self) -> dict[str, str]:
        """What the runner would export."""
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": self.request_url,
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN}


def make_repo(root: Path, endpoint: str, *, account_id: str = "123456789012",
              role: str = "arn:aws:iam::123456789012:role/release-test") -> Path:
    """A minimal repository with one Lambda service and environment `test` at ``endpoint``."""
    (root / "services" / "fn").mkdir(parents=True)
    (root / "services" / "fn" / "Dockerfile").write_text("FROM scratch\n")
    (root / "release.yaml").write_text(
        "version: 1\nservices:\n  fn:\n    context: services/fn\n    lambda: {}\n")
    (root / "environments").mkdir()
    (root / "environments" / "test.yaml").write_text(
        f"name: test\naws:\n  region: eu-west-1\n  account_id: \"{account_id}\"\n"
        f"  role_arn: {role}\n  endpoint_url: {endpoint}\n"
        "registry:\n  type: ecr\nservices:\n  fn:\n    lambda: {}\n")
    return root
