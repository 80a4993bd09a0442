"""Lambda functions that run container images: update code, publish a version, move the alias."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from release.adapters.aws.clients import explain
from release.errors import ReleaseError
from release.planning import recorded, rollout

WAIT_DELAY = 2
WAIT_ATTEMPTS = 150  # 5 minutes
CONFLICT_ATTEMPTS = 6
# The version the function's recorded keys (its tags) describe: a release re-records an
# unchanged function in its tags, and a published version's Description cannot change.
VERSION_TAG = "release:lambda-version"
RECORDED_KEYS = (recorded.BUILD_KEY_TAG, recorded.SOURCE_COMMIT_TAG, recorded.CONFIG_KEY_TAG)
MAX_DESCRIPTION = 256  # what PublishVersion accepts
NOT_FOUND_HINT = ("create it first in the account (package type Image), or fix "
                  "lambda.function in the environment file; for the local cloud, `release "
                  "local seed` creates what environments/local.yaml names")


@dataclass(frozen=True)
class FunctionState:
    """What a function and its alias run now."""

    arn: str
    image_uri: str | None
    alias_version: str | None
    alias_image_uri: str | None
    tags: dict[str, str]
    environment: dict[str, str]
    idle: bool = True  # no update in progress when it was read (LastUpdateStatus Successful)
    architectures: tuple[str, ...] = ("x86_64",)  # what images it runs (Lambda's names)
    alias_description: str = ""  # the Description of the version the alias points at


def _missing(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return (isinstance(exc, ClientError)
            and exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException")


def describe(lam: Any, function: str, alias: str) -> FunctionState:
    """The function's image, and the version and image its alias points at.

    Two reads: GetFunction, and GetFunction of the alias (its version and image at once).
    """
    try:
        found = lam.get_function(FunctionName=function)
    except Exception as exc:  # noqa: BLE001
        if _missing(exc):
            raise ReleaseError(f"Lambda function {function} not found", NOT_FOUND_HINT) from None
        raise explain(exc, f"read Lambda function {function}") from None
    config = found["Configuration"]
    if config.get("PackageType") != "Image":
        raise ReleaseError(f"Lambda function {function} is a zip function",
                           "release deploys container-image functions only")
    alias_version = alias_image = None
    description = ""
    try:
        versioned = lam.get_function(FunctionName=function, Qualifier=alias)
        alias_version = versioned["Configuration"].get("Version")
        alias_image = versioned.get("Code", {}).get("ImageUri")
        description = versioned["Configuration"].get("Description") or ""
    except Exception as exc:  # noqa: BLE001
        if not _missing(exc):
            raise explain(exc, f"read alias {alias} of {function}") from None
    return FunctionState(config["FunctionArn"], found.get("Code", {}).get("ImageUri"),
                         alias_version, alias_image, dict(found.get("Tags", {})),
                         dict(config.get("Environment", {}).get("Variables", {})),
                         _settled(config), tuple(config.get("Architectures") or ("x86_64",)),
                         description if isinstance(description, str) else "")


def version_description(tags: Mapping[str, str]) -> str:
    """What a published version records of its release, in its Description: the recorded
    keys as ``name=value`` separated by spaces ('' when that would not fit)."""
    text = " ".join(f"{key}={tags[key]}" for key in RECORDED_KEYS if tags.get(key))
    return text if len(text) <= MAX_DESCRIPTION else ""


def recorded_description(lam: Any, function: str, version: str) -> str:
    """The Description of one published version of ``function`` (its release record)."""
    try:
        found = lam.get_function(FunctionName=function, Qualifier=version)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"read version {version} of Lambda function {function}") from None
    text = found["Configuration"].get("Description") or ""
    return text if isinstance(text, str) else ""


def retag(lam: Any, arn: str, tags: Mapping[str, str], drop: list[str]) -> None:
    """Set the recorded keys of the function to ``tags``; remove those in ``drop``."""
    try:
        lam.tag_resource(Resource=arn, Tags=dict(tags))
        if drop:
            lam.untag_resource(Resource=arn, TagKeys=drop)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"tag Lambda function {arn.rsplit(':', 1)[-1]}") from None


@dataclass(frozen=True)
class Pace:
    """Clock, sleep and randomness for waits and retries (tests pass their own)."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random
    poll_seconds: float = WAIT_DELAY
    deadline_seconds: float = WAIT_DELAY * WAIT_ATTEMPTS
    conflict_attempts: int = CONFLICT_ATTEMPTS


class UpdateFailedError(ReleaseError):
    """Lambda reported ``LastUpdateStatus=Failed``: terminal, the alias did not move."""


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _settled(config: dict[str, Any]) -> bool:
    """The answer says, explicitly, that no update is in progress."""
    return config.get("LastUpdateStatus") == "Successful" and config.get("State") == "Active"


def wait_updated(lam: Any, function: str, pace: Pace) -> None:
    """Return when the function's last update is ``Successful``; raise when it ``Failed``."""
    started = pace.clock()
    while True:
        try:
            config = lam.get_function_configuration(FunctionName=function)
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f"read the update status of Lambda function {function}") from None
        status = config.get("LastUpdateStatus", "Successful")
        if status == "Failed" or config.get("State") == "Failed":
            reason = (config.get("LastUpdateStatusReason") or config.get("StateReason")
                      or "no reason given")
            code = config.get("LastUpdateStatusReasonCode") or config.get("StateReasonCode")
            raise UpdateFailedError(
                f"Lambda update of {function} failed: {reason}" + (f" ({code})" if code else ""),
                "the alias still points at the previous version; fix the cause (image, role, "
                "memory) and rerun the release")
        if status == "Successful" and config.get("State", "Active") != "Pending":
            return
        if pace.clock() - started >= pace.deadline_seconds:
            raise ReleaseError(f"Lambda function {function} still updating after "
                               f"{pace.deadline_seconds:.0f}s (status {status})",
                               "rerun the release once the update finished")
        pace.sleep(pace.poll_seconds)


def _call(lam: Any, function: str, doing: str, pace: Pace, call: Callable[[], Any]) -> Any:
    """``call()``, retrying ResourceConflictException (an update still in progress)."""
    for attempt in range(pace.conflict_attempts):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001
            if _code(exc) != "ResourceConflictException" or \
                    attempt == pace.conflict_attempts - 1:
                raise explain(exc, f"{doing} of Lambda function {function}") from None
        pace.sleep(rollout.jittered(attempt, pace.random()))
        wait_updated(lam, function, pace)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class FunctionUpdate:
    """The new image and, when they change, the new environment variables."""

    function: str
    alias: str
    image_uri: str
    environment: dict[str, str] | None
    tags: dict[str, str]
    arn: str | None = None  # known from describe(): no read to learn it before tagging
    idle: bool = False  # describe() saw no update in progress: no wait before ours


def deploy_image(lam: Any, update: FunctionUpdate, pace: Pace | None = None) -> str:
    """Point the function at the image, publish a version, and only then move the alias."""
    version = publish_image(lam, update, pace)
    point_alias(lam, update.function, update.alias, version)
    record_version(lam, update, version)
    return version


def publish_image(lam: Any, update: FunctionUpdate, pace: Pace | None = None) -> str:
    """Point the function at the image (and environment) and publish a version; the alias
    is left alone. The version's number."""
    pace = pace or Pace()
    function = update.function
    if not update.idle:
        wait_updated(lam, function, pace)  # an update still in progress would conflict
    # (an update started since describe() is met by the ResourceConflictException retry)
    if update.environment is not None:
        variables = update.environment
        done = _call(lam, function, "update configuration", pace,
                     lambda: lam.update_function_configuration(
                         FunctionName=function, Environment={"Variables": variables}))
        if not _settled(done or {}):
            wait_updated(lam, function, pace)
    done = _call(lam, function, "update code", pace, lambda: lam.update_function_code(
        FunctionName=function, ImageUri=update.image_uri))
    if not _settled(done or {}):  # Lambda usually answers InProgress: wait for the outcome
        wait_updated(lam, function, pace)
    record = version_description(update.tags)
    return str(_call(lam, function, "publish a version", pace,
                     lambda: lam.publish_version(FunctionName=function, Description=record)
                     )["Version"])


def record_version(lam: Any, update: FunctionUpdate, version: str) -> None:
    """Tag the function with the release's keys and the version its alias now runs."""
    function = update.function
    try:
        arn = update.arn or lam.get_function_configuration(FunctionName=function)["FunctionArn"]
        lam.tag_resource(Resource=arn, Tags={**update.tags, VERSION_TAG: version})
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"tag Lambda function {function}") from None


def route_alias(lam: Any, function: str, alias: str, version: str,
                routing: dict[str, dict[str, float]]) -> None:
    """Point ``alias`` at ``version`` with ``routing`` (AdditionalVersionWeights; empty:
    the version alone)."""
    try:
        lam.update_alias(FunctionName=function, Name=alias, FunctionVersion=version,
                         RoutingConfig=routing)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"route alias {alias} of {function}") from None


def alias_routing(lam: Any, function: str, alias: str) -> tuple[str, dict[str, float]]:
    """The alias's version and its AdditionalVersionWeights."""
    try:
        found = lam.get_alias(FunctionName=function, Name=alias)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"read alias {alias} of {function}") from None
    weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return str(found["FunctionVersion"]), {str(k): float(v) for k, v in weights.items()}


def published_versions(lam: Any, function: str) -> list[str]:
    """Every published version number of ``function`` (not ``$LATEST``)."""
    versions: list[str] = []
    try:
        for page in lam.get_paginator("list_versions_by_function").paginate(
                FunctionName=function):
            versions += [v["Version"] for v in page.get("Versions", [])
                         if v.get("Version") != "$LATEST"]
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"list versions of Lambda function {function}") from None
    return versions


def point_alias(lam: Any, function: str, alias: str, version: str) -> None:
    """Create or move ``alias`` to ``version`` alone: weights an interrupted canary left on
    it are cleared (UpdateAlias without RoutingConfig would keep them)."""
    try:
        lam.update_alias(FunctionName=function, Name=alias, FunctionVersion=version,
                         RoutingConfig={"AdditionalVersionWeights": {}})
    except Exception as exc:  # noqa: BLE001
        if not _missing(exc):
            raise explain(exc, f"move alias {alias} of {function}") from None
        try:
            lam.create_alias(FunctionName=function, Name=alias, FunctionVersion=version)
        except Exception as exc2:  # noqa: BLE001
            raise explain(exc2, f"create alias {alias} of {function}") from None


def alias_arn(function_arn: str, alias: str) -> str:
    """The ARN that invokes ``alias`` of the function."""
    base, _, rest = function_arn.partition(":function:")
    return f"{base}:function:{rest.split(':', 1)[0]}:{alias}"


def provisioned_status(lam: Any, function: str, alias: str) -> tuple[str, str] | None:
    """The alias's provisioned concurrency as (Status, StatusReason); None without one
    (or where the endpoint does not serve the operation, as moto does not)."""
    try:
        found = lam.get_provisioned_concurrency_config(FunctionName=function, Qualifier=alias)
    except Exception as exc:  # noqa: BLE001
        status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
        if _code(exc) == "ProvisionedConcurrencyConfigNotFoundException" or status in (
                404, 501):
            return None
        raise explain(exc, f"read the provisioned concurrency of {function}:{alias}") from None
    return str(found.get("Status") or ""), str(found.get("StatusReason") or "")
