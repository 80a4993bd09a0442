"""The tools teams use today, run the way teams script them.

- fabfuel/ecs-deploy: ``ecs deploy CLUSTER SERVICE --image CONTAINER IMAGE``, one process
  per service (a shell loop over the services).
- The AWS CLI sequence from the READMEs teams keep: per ECS service
  ``aws ecs register-task-definition --cli-input-json file://task.json``,
  ``aws ecs update-service --force-new-deployment``, ``aws ecs wait services-stable``;
  per Lambda function ``aws lambda update-function-code``, ``aws lambda wait
  function-updated``, ``aws lambda publish-version``.

A chain is one service's (or function's) commands, run one after the other. Chains run
in ``sequence`` (a shell loop) or as a ``matrix`` (every chain at once, as a GitHub
Actions matrix job per service would). Each chain carries its own ``AWS_SDK_UA_APP_ID``,
so the counting proxy attributes every call to the chain that made it.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Read-only fields of DescribeTaskDefinition that RegisterTaskDefinition refuses.
_READ_ONLY = {"taskDefinitionArn", "revision", "status", "requiresAttributes",
              "compatibilities", "registeredAt", "registeredBy", "deregisteredAt"}


@dataclass(frozen=True)
class Chain:
    """One service's commands, run one after the other."""

    name: str
    app: str  # AWS_SDK_UA_APP_ID: the proxy counts the chain's calls under this tag
    commands: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Timed:
    """When a chain ran (seconds on the runner's clock)."""

    name: str
    app: str
    started: float
    ended: float

    @property
    def seconds(self) -> float:
        """How long the chain took."""
        return self.ended - self.started


def ecs_deploy(ecs: str, cluster: str, service: str, *, container: str, image: str,
               app: str) -> Chain:
    """fabfuel/ecs-deploy for one service (it registers, updates and waits)."""
    return Chain(service, app, ((ecs, "deploy", cluster, service, "--image", container, image,
                                 "--timeout", "600"),))


def task_file(described: Mapping[str, Any], image: str, where: Path) -> Path:
    """The README's task.json: the running definition with the new image."""
    body = {k: v for k, v in described.items() if k not in _READ_ONLY}
    body["containerDefinitions"] = [{**c, "image": image}
                                    for c in body.get("containerDefinitions", [])]
    where.write_text(json.dumps(body, indent=2, default=str))
    return where


def aws_cli_ecs(aws: str, cluster: str, service: str, *, family: str, task_json: Path,
                app: str) -> Chain:
    """The README sequence for one ECS service."""
    return Chain(service, app, (
        (aws, "ecs", "register-task-definition", "--cli-input-json", f"file://{task_json}"),
        (aws, "ecs", "update-service", "--cluster", cluster, "--service", service,
         "--task-definition", family, "--force-new-deployment"),
        (aws, "ecs", "wait", "services-stable", "--cluster", cluster, "--services", service),
    ))


def aws_cli_lambda(aws: str, function: str, image: str, app: str) -> Chain:
    """The README sequence for one container-image Lambda function."""
    return Chain(function, app, (
        (aws, "lambda", "update-function-code", "--function-name", function,
         "--image-uri", image),
        (aws, "lambda", "wait", "function-updated", "--function-name", function),
        (aws, "lambda", "publish-version", "--function-name", function),
    ))


class ChainFailedError(RuntimeError):
    """A command of a chain exited non-zero."""


def run_chain(chain: Chain, env: Mapping[str, str], log: Path | None = None) -> Timed:
    """Run the chain's commands in order; raise ChainFailedError on the first failure."""
    started = time.perf_counter()
    for argv in chain.commands:
        done = subprocess.run(argv, env={**env, "AWS_SDK_UA_APP_ID": chain.app},
                              capture_output=True, text=True, timeout=900, check=False)
        if log is not None:
            with log.open("a") as handle:
                handle.write(f"### {' '.join(argv[1:4])} {chain.name}: exit {done.returncode}\n"
                             f"{done.stdout[-2000:]}{done.stderr[-2000:]}\n")
        if done.returncode != 0:
            raise ChainFailedError(f"{' '.join(argv)} failed ({done.returncode}):\n"
                                   f"{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    return Timed(chain.name, chain.app, started, time.perf_counter())


def sequence(chains: Sequence[Chain], env: Mapping[str, str],
             log: Path | None = None) -> list[Timed]:
    """One chain after the other, as a shell loop runs them."""
    return [run_chain(chain, env, log) for chain in chains]


def matrix(chains: Sequence[Chain], env: Mapping[str, str],
           log: Path | None = None) -> list[Timed]:
    """Every chain at once, one thread each (a matrix job per service)."""
    results: list[Timed | BaseException | None] = [None] * len(chains)

    def one(i: int) -> None:
        try:
            results[i] = run_chain(chains[i], env, log)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the caller
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,), daemon=True)
               for i in range(len(chains))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=1200)
    out: list[Timed] = []
    for result in results:
        if not isinstance(result, Timed):
            raise ChainFailedError(f"a chain did not finish: {result}")
        out.append(result)
    return out


def wall(timed: Sequence[Timed]) -> float:
    """From the first chain's start to the last chain's end."""
    return max(t.ended for t in timed) - min(t.started for t in timed) if timed else 0.0
