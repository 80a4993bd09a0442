"""Read what an environment runs, per service, from the keys each release records: on an ECS
service's running task definition (its tags), and for a Lambda function on the version its
alias points at (the version's Description), the function's tags standing in where a
release re-recorded that version or the version holds no record."""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from release.adapters.aws import ecs, lambda_
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
    lambda_.VERSION_TAG: (re.compile(r"[1-9][0-9]{0,9}"), "a version number"),
}
MAX_TAG_VALUE = 64

Notes = Callable[[str], None]


def _note_to_log(note: str) -> None:
    sys.stderr.write(f"note: {note}\n")


def tag_value(tags: Mapping[str, object], key: str, where: str,
              note: Notes = _note_to_log, what: str = "tag") -> str | None:
    """The value of tag ``key`` when it has the shape a release writes; else None, with a
    note on ``where`` it was and what is wrong with it (its text is never repeated)."""
    value = tags.get(key)
    if value is None:
        return None
    pattern, shape = TAG_SHAPES[key]
    if isinstance(value, str) and pattern.fullmatch(value):
        return value
    note(f"{where}: {what} {key} is not {shape} ({_what_is_wrong(value)}); treated as absent")
    return None


def version_record(description: object, where: str,
                   note: Notes = _note_to_log) -> dict[str, str]:
    """The keys a release recorded in a Lambda version's Description (what
    ``lambda_.version_description`` writes: ``name=value`` pairs separated by spaces), each
    of the shape a release writes. A Description that is not a record gives {}; one that
    starts like a record but is not one, or a value of another shape, is left out with a
    note (its text is never repeated)."""
    if not isinstance(description, str) or not description.startswith("release:"):
        return {}
    pairs = [token.partition("=") for token in description.split(" ")]
    names = [name for name, _, _ in pairs]
    if (len(description) > lambda_.MAX_DESCRIPTION or len(set(names)) != len(names)
            or any(not eq or name not in lambda_.RECORDED_KEYS for name, eq, _ in pairs)):
        note(f"{where}: the description is not a release record ({len(description)} "
             "characters); treated as absent")
        return {}
    raw = {name: value for name, _, value in pairs}
    found = {key: tag_value(raw, key, where, note, "recorded key") for key in raw}
    return {key: value for key, value in found.items() if value is not None}


def alias_keys(version: str | None, description: object, tags: Mapping[str, object],
               where: str, note: Notes = _note_to_log) -> dict[str, str]:
    """The keys recorded for what a Lambda alias runs (``version``, whose Description is
    ``description``): the function's ``tags`` when they were written for that version (a
    release re-records an unchanged function there, and a rollback what it restored), else
    the version's own record, else the tags when they name no version (a version published
    before versions held a record). {} when nothing recorded describes that version."""
    tagged = tag_value(tags, lambda_.VERSION_TAG, where, note)
    from_tags = {key: value for key in lambda_.RECORDED_KEYS
                 if (value := tag_value(tags, key, where, note)) is not None}
    if tagged is not None and tagged == version:
        return from_tags
    record = version_record(description, f"{where} version {version}", note)
    if record or tagged is None:
        return record or from_tags
    note(f"{where}: the tags record version {tagged}, the alias runs {version}, which holds "
         "no record; treated as not deployed")
    return {}


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


def _from_keys(keys: Mapping[str, str], when: float | None) -> Deployed:
    return Deployed(keys.get(BUILD_KEY_TAG), keys.get(SOURCE_COMMIT_TAG), when,
                    keys.get(CONFIG_KEY_TAG))


def read(env: Environment, aws: AwsClients, services: list[str],
         note: Notes = _note_to_log) -> dict[str, Deployed | None]:
    """Service -> what runs (None: not deployed, or deployed by something else; a Deployed
    with ``missing`` set: the ECS service or Lambda function does not exist).

    A recorded tag of the wrong shape counts as absent; ``note`` says so. ECS: one
    DescribeServices per 10 services, one DescribeTaskDefinition per service; Lambda: at
    most two calls per function, eight at once.
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
        gone = [s.missing for s in states if s is not None and s.missing]
        if gone:
            out[name] = Deployed(None, missing=", ".join(gone))
            continue
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
        for service, name in names.items():
            if name not in arns:
                out[name] = Deployed(None, missing=f"ECS service {service} in cluster {cluster}")

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
    """What the function's alias runs: GetFunction of the alias (its version, Description
    and the function's tags), ListTags when that answer holds no tags; when the alias is
    not found, GetFunction of the function (missing altogether, or never released)."""
    dep = env.deployments[name].lambda_
    if dep is None:
        return None
    lam, where = aws.client("lambda"), f"{name} (Lambda)"
    found = _get_function(lam, dep.function, dep.alias)
    if found is None:
        whole = _get_function(lam, dep.function, None)
        if whole is None:
            return Deployed(None, missing=f"Lambda function {dep.function}")
        return _from_keys(alias_keys(None, None, dict(whole.get("Tags", {})), where, note),
                          _modified(whole["Configuration"]))
    config = found["Configuration"]
    tags = found.get("Tags")
    if tags is None:
        base, _, rest = str(config["FunctionArn"]).partition(":function:")
        try:
            tags = lam.list_tags(Resource=f"{base}:function:{rest.split(':', 1)[0]}")["Tags"]
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f"read the tags of Lambda function {dep.function}") from None
    keys = alias_keys(config.get("Version"), config.get("Description"), dict(tags or {}),
                      where, note)
    return _from_keys(keys, _modified(config))


def _get_function(lam: Any, function: str, qualifier: str | None) -> dict[str, Any] | None:
    """GetFunction (of ``qualifier``); None when it is not found."""
    try:
        found: dict[str, Any] = (lam.get_function(FunctionName=function, Qualifier=qualifier)
                                 if qualifier else lam.get_function(FunctionName=function))
    except Exception as exc:  # noqa: BLE001
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code == "ResourceNotFoundException":
            return None
        what = f"alias {qualifier} of " if qualifier else ""
        raise explain(exc, f"read {what}Lambda function {function}") from None
    return found


def _modified(config: Mapping[str, Any]) -> float | None:
    modified = config.get("LastModified")
    if not isinstance(modified, str):
        return None
    try:
        return datetime.fromisoformat(modified.replace("+0000", "+00:00")).timestamp()
    except ValueError:
        return None


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
