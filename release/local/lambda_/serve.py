"""The Lambda runtime wired to the world, for the local cloud's front process."""

from __future__ import annotations

import threading
from typing import Any

from release.local.ecs.launching import RegistryAuth
from release.local.ecs.listener import Netns
from release.local.lambda_.environment import Engine, Environment, PutLogs
from release.local.lambda_.function import FunctionConfig
from release.local.lambda_.invoke import LambdaFront
from release.local.lambda_.pool import Pool


def lambda_front(lam: Any, *, docker_host: str, plane: str, region: str,
                 registry_auth: RegistryAuth, put_logs: PutLogs,
                 idle_seconds: float) -> LambdaFront:
    """A ``LambdaFront`` whose environments run on the engine at ``docker_host``, labelled
    as ``plane``'s (so `release local down` removes what is left of them)."""
    made: list[Netns] = []
    lock = threading.Lock()

    def netns() -> Netns:
        with lock:
            if not made:
                made.append(Netns())  # a ReleaseError without root: the invoke says so
            return made[0]

    engine = Engine(docker_host=docker_host, plane=plane, netns=netns,
                    registry_auth=registry_auth, put_logs=put_logs, region=region)

    def make(config: FunctionConfig) -> Environment:
        return Environment(config, engine)

    return LambdaFront(lam, Pool(make, idle_seconds=idle_seconds))
