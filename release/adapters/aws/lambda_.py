"""Lambda functions that run container images: update code, publish a version, move the alias."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from release.adapters.aws.clients import explain
from release.errors import ReleaseError

WAIT_DELAY = 2
WAIT_ATTEMPTS = 150  # 5 minutes


@dataclass(frozen=True)
class FunctionState:
    """What a function and its alias run now."""

    arn: str
    image_uri: str | None
    alias_version: str | None
    alias_image_uri: str | None
    tags: dict[str, str]
    environment: dict[str, str]


def _missing(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return (isinstance(exc, ClientError)
            and exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException")


def describe(lam: Any, function: str, alias: str) -> FunctionState:
    """The function's image, and the version and image its alias points at."""
    try:
        found = lam.get_function(FunctionName=function)
    except Exception as exc:  # noqa: BLE001
        if _missing(exc):
            raise ReleaseError(f"Lambda function {function} not found",
                               "create it first (package type Image), or fix lambda.function "
                               "in the environment file") from None
        raise explain(exc, f"read Lambda function {function}") from None
    config = found["Configuration"]
    if config.get("PackageType") != "Image":
        raise ReleaseError(f"Lambda function {function} is a zip function",
                           "release deploys container-image functions only")
    alias_version = alias_image = None
    try:
        alias_version = lam.get_alias(FunctionName=function, Name=alias)["FunctionVersion"]
        versioned = lam.get_function(FunctionName=function, Qualifier=alias_version)
        alias_image = versioned.get("Code", {}).get("ImageUri")
    except Exception as exc:  # noqa: BLE001
        if not _missing(exc):
            raise explain(exc, f"read alias {alias} of {function}") from None
    return FunctionState(config["FunctionArn"], found.get("Code", {}).get("ImageUri"),
                         alias_version, alias_image, dict(found.get("Tags", {})),
                         dict(config.get("Environment", {}).get("Variables", {})))


def _wait_updated(lam: Any, function: str) -> None:
    from botocore.exceptions import WaiterError

    try:
        lam.get_waiter("function_updated_v2").wait(
            FunctionName=function,
            WaiterConfig={"Delay": WAIT_DELAY, "MaxAttempts": WAIT_ATTEMPTS},
        )
    except WaiterError as exc:
        last: dict[str, Any] = dict(exc.last_response or {})
        config = last.get("Configuration", last)
        reason = config.get("LastUpdateStatusReason") or str(exc)
        raise ReleaseError(f"Lambda update of {function} failed: {reason}",
                           "the alias still points at the previous version") from None


@dataclass(frozen=True)
class FunctionUpdate:
    """The new image and, when they change, the new environment variables."""

    function: str
    alias: str
    image_uri: str
    environment: dict[str, str] | None
    tags: dict[str, str]


def deploy_image(lam: Any, update: FunctionUpdate) -> str:
    """Point the function at the image, publish a version and move the alias to it."""
    function = update.function
    _wait_updated(lam, function)  # an update still in progress would conflict
    if update.environment is not None:
        try:
            lam.update_function_configuration(
                FunctionName=function, Environment={"Variables": update.environment})
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, f"update configuration of Lambda function {function}") from None
        _wait_updated(lam, function)
    try:
        lam.update_function_code(FunctionName=function, ImageUri=update.image_uri)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"update code of Lambda function {function}") from None
    _wait_updated(lam, function)
    try:
        version = str(lam.publish_version(FunctionName=function)["Version"])
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"publish a version of {function}") from None
    point_alias(lam, function, update.alias, version)
    try:
        arn = lam.get_function_configuration(FunctionName=function)["FunctionArn"]
        lam.tag_resource(Resource=arn, Tags=update.tags)
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, f"tag Lambda function {function}") from None
    return version


def point_alias(lam: Any, function: str, alias: str, version: str) -> None:
    """Create or move ``alias`` to ``version``."""
    try:
        lam.update_alias(FunctionName=function, Name=alias, FunctionVersion=version)
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
