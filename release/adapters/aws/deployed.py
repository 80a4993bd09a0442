"""Read what an environment runs, per service, from the tags each release records."""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from release.adapters.aws import ecs
from release.adapters.aws.clients import AwsClients, explain
from release.config.model import Environment
from release.planning.reconcile import Deployed
from release.planning.recorded import BUILD_KEY_TAG, CONFIG_KEY_TAG, SOURCE_COMMIT_TAG

# What each tag holds when a release wrote it. Anyone who can tag the resource (or deploy
# once from a branch) writes these values, and they are printed, compared and passed to
# git: a value of another shape is treated as absent, and never shown.
TAG_SHAPES: dict[str, tuple[re.Pattern[str], str]] = {
    BUILD_KEY_TAG: (re.compile(r"[0-9a-f]{8,64}|no-image"), "a build key (hex)"),
    CONFIG_KEY_TAG: (re.compile(r"[0-9a-f]{8,64}"), "a config key (hex)"),
    SOURCE_COMMIT_TAG: (re.compile(r"[0-9a-f]{7,64}"), "a commit SHA (hex)"),
}
MAX_TAG_VALUE = 64

Notes = Callable[[str], None]


def _note_to_log(note: str) -> None:
    sys.stderr.write(f"note: {note}\n")


def tag_value(tags: Mapping[str, object], key: str, where: str,
              note: Notes = _note_to_log) -> str | None:
    """The value of tag ``key`` when it has the shape a release writes; else None, with a
    note on ``where`` it was and what is wrong with it (its text is never repeated)."""
    value = tags.get(key)
    if value is None:
        return None
    pattern, shape = TAG_SHAPES[key]
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    note(f"{where}: tag {key} is not {shape} ({_what_is_wrong(value)}); treated as absent")
    return None


def _what_is_wrong(value: object) -> str:
    if not isinstance(value, str):
        return f"a {type(value).__name__}, not text"
    if not value:
        return "empty"
    if len(value) > MAX_TAG_VALUE:
        return f"{len(value)} characters, at most {MAX_TAG_VALUE}"
    if any(not ch.isprintable() for ch in value):
        return f"{len(value)} characters, with control or invisible characters"
    return f"{len(value)} characters, not all lowercase hex"


def _from_tags(tags: Mapping[str, object], when: float | None, where: str,
               note: Notes) -> Deployed:
    return Deployed(tag_value(tags, BUILD_KEY_TAG, where, note),
                    tag_value(tags, SOURCE_COMMIT_TAG, where, note), when,
                    tag_value(tags, CONFIG_KEY_TAG, where, note))


def read(env: Environment, aws: AwsClients, services: list[str],
         note: Notes = _note_to_log) -> dict[str, Deployed | None]:
    """Service -> what runs (None: not deployed, or deployed by something else).

    A recorded tag of the wrong shape counts as absent; ``note`` says so.
    """
    found: dict[str, list[Deployed | None]] = defaultdict(list)
    ecs_services = _ecs(env, aws, services, note)
    for name, state in ecs_services.items():
        found[name].append(state)
    lambdas = [n for n in services if env.deployments[n].lambda_ is not None]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for name, state in zip(lambdas, pool.map(lambda n: _function(env, aws, n, note),
                                                 lambdas), strict=True):
            found[name].append(state)
    out: dict[str, Deployed | None] = {}
    for name in services:
        states = found.get(name, [])
        if not states or any(s is None for s in states):
            out[name] = None
            continue
        keys = {(s.build_key, s.config_key) for s in states if s is not None}
        first = states[0]
        out[name] = first if len(keys) == 1 else Deployed("mixed", first.commit if first else None)
    return out


def _ecs(env: Environment, aws: AwsClients, services: list[str],
         note: Notes) -> dict[str, Deployed | None]:
    by_cluster: dict[str, dict[str, str]] = defaultdict(dict)
    for name in services:
        target = env.deployments[name].ecs
        if target is not None:
            by_cluster[target.cluster][target.service] = name
    if not by_cluster:
        return {}
    client = aws.client("ecs")
    arns: dict[str, str] = {}
    released: dict[str, float] = {}  # when the PRIMARY deployment started: the release time
    out: dict[str, Deployed | None] = {}
    for cluster, names in by_cluster.items():
        for svc in ecs.describe_services(client, cluster, sorted(names)).values():
            name = names[svc["serviceName"]]
            arns[name] = svc["taskDefinition"]
            primary = [d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"]
            created: Any = primary[0].get("createdAt") if primary else None
            if isinstance(created, datetime):
                released[name] = created.timestamp()
        for name in names.values():
            if name not in arns:
                out[name] = None

    def describe(arn: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = client.describe_task_definition(taskDefinition=arn,
                                                                     include=["TAGS"])
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f"describe task definition {arn}") from None
        return result

    with ThreadPoolExecutor(max_workers=8) as pool:
        for name, found in zip(arns, pool.map(describe, arns.values()), strict=True):
            tags = {t["key"]: t["value"] for t in found.get("tags", [])}
            registered = found["taskDefinition"].get("registeredAt")
            when = released.get(name) or (
                registered.timestamp() if hasattr(registered, "timestamp") else None)
            out[name] = _from_tags(tags, when, f"{name} (ECS)", note)
    return out


def _function(env: Environment, aws: AwsClients, name: str, note: Notes) -> Deployed | None:
    dep = env.deployments[name].lambda_
    if dep is None:
        return None
    try:
        found = aws.client("lambda").get_function(FunctionName=dep.function)
    except Exception as exc:  # noqa: BLE001
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code == "ResourceNotFoundException":
            return None
        raise explain(exc, f"read Lambda function {dep.function}") from None
    modified = found["Configuration"].get("LastModified")
    try:
        when = datetime.fromisoformat(modified.replace("+0000", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        when = None
    return _from_tags(dict(found.get("Tags", {})), when, f"{name} (Lambda)", note)


def removed(env: Environment, aws: AwsClients) -> list[str]:
    """ECS services in the environment's clusters that a release deployed but the config no
    longer names. Reported only: removal never deletes anything."""
    known: dict[str, set[str]] = defaultdict(set)
    for dep in env.deployments.values():
        if dep.ecs is not None:
            known[dep.ecs.cluster].add(dep.ecs.service)
    client = aws.client("ecs")
    out = []
    for cluster, names in known.items():
        try:
            arns = [a for page in client.get_paginator("list_services").paginate(cluster=cluster)
                    for a in page.get("serviceArns", [])]
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f"list ECS services in {cluster}") from None
        others = sorted(a.rsplit("/", 1)[-1] for a in arns if a.rsplit("/", 1)[-1] not in names)
        for svc in ecs.describe_services(client, cluster, others).values():
            found = client.describe_task_definition(taskDefinition=svc["taskDefinition"],
                                                    include=["TAGS"])
            if any(t["key"] == BUILD_KEY_TAG for t in found.get("tags", [])):
                out.append(f"{cluster}/{svc['serviceName']}")
    return out
