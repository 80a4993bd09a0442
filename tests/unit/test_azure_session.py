"""The Entra ID session of a release: renewed before its token expires, on an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.adapters.azure.identity import AccessToken
from release.config.model import AzureAccount, Environment, Registry
from release.engine import azure

ACCOUNT = AzureAccount("6f1c2a4e-3b8d-4c2f-9a71-0d5e8b4c3f21",
                       "2b7e9d10-5c4a-4f6e-8b3d-7a1c9e2f4d58",
                       "9c3d5e7f-1a2b-4c6d-8e0f-3b5a7c9d1e24")
ENV = Environment(name="dev", path=Path("environments/dev.yaml"),
                  registry=Registry("acr", "acmebatch.azurecr.io"), deployments={},
                  azure=ACCOUNT)


@pytest.mark.parametrize(("expires_on", "now", "due"), [
    (3600, 0, 3300),   # an hour: five minutes ahead
    (601, 0, 301),     # just over ten minutes: still five minutes ahead
    (600, 0, 300),     # ten minutes: halfway, which is five minutes ahead too
    (60, 0, 30),       # a minute: halfway
    (3, 0, 1.5),       # a few seconds: halfway
    (100, 100, 100),   # already expired: now
    (100, 150, 100),
])
def test_renew_at(expires_on: int, now: float, due: float) -> None:
    assert azure.renew_at(AccessToken("t", expires_on), now, 300) == due


class Entra:
    """Hands out numbered tokens living ``lifetime`` seconds on the shared clock."""

    def __init__(self, clock: list[float], lifetime: int) -> None:
        self.clock, self.lifetime, self.calls = clock, lifetime, 0

    def __call__(self) -> AccessToken:
        self.calls += 1
        return AccessToken(f"token-{self.calls}", int(self.clock[0]) + self.lifetime)


def session(clock: list[float], entra: Entra) -> azure.Session:
    return azure.Session(ENV, {}, azure.Deps(clock=lambda: clock[0], entra=entra))


def test_one_token_serves_until_five_minutes_before_it_expires() -> None:
    clock = [1000.0]
    entra = Entra(clock, 3600)
    run = session(clock, entra)
    seen = []
    for clock[0] in (1000.0, 2000.0, 4299.0, 4300.0, 4301.0):
        seen.append(run.token())
    assert seen == ["token-1", "token-1", "token-1", "token-2", "token-2"]


def test_a_short_lived_token_is_renewed_halfway_every_time() -> None:
    clock = [0.0]
    entra = Entra(clock, 4)
    run = session(clock, entra)
    seen = []
    for tick in range(10):
        clock[0] = float(tick)
        seen.append(run.token())
    # renewed at 2, 4, 6, 8: never used past its expiry
    assert seen == ["token-1", "token-1", "token-2", "token-2", "token-3", "token-3",
                    "token-4", "token-4", "token-5", "token-5"]


def test_the_api_asks_the_session_at_each_call() -> None:
    clock = [0.0]
    run = session(clock, Entra(clock, 4))
    api = run.api()
    token = api.token
    assert callable(token)
    assert token() == "token-1"
    clock[0] = 5.0
    assert token() == "token-2"
