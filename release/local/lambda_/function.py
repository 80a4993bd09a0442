"""Which function version an Invoke runs, and with what: read from moto (which keeps the
functions, versions and aliases), the version chosen as Lambda chooses it for an alias
with ``RoutingConfig.AdditionalVersionWeights`` (a weighted draw)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

LATEST = "$LATEST"


@dataclass(frozen=True)
class FunctionConfig:
    """One function version as an execution environment runs it (hashable: the warm pool's
    key, so a changed $LATEST gets a new environment)."""

    name: str
    arn: str  # unqualified
    version: str
    image: str
    environment: tuple[tuple[str, str], ...] = ()
    timeout: int = 3  # seconds
    memory: int = 128  # MB
    entry_point: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    working_directory: str = ""
    log_group: str = ""
    revision: str = ""  # what changes when $LATEST changes


@dataclass(frozen=True)
class Target:
    """What one Invoke names: the function and the qualifier (None: $LATEST)."""

    function: str
    qualifier: str | None


def target(path_name: str, query_qualifier: str | None) -> Target:
    """The function and qualifier from the URL's name (a name, ``name:qualifier``, or an ARN,
    percent-encoded) and the ``Qualifier`` query parameter."""
    name = unquote(path_name)
    qualifier = query_qualifier or None
    if ":function:" in name:
        rest = name.split(":function:", 1)[1]
        function, _, embedded = rest.partition(":")
    else:
        function, _, embedded = name.partition(":")
    return Target(function, qualifier or embedded or None)


def choose(version: str, weights: Mapping[str, float], draw: float) -> str:
    """The version an alias invocation runs: each of ``weights``' versions with its weight,
    the alias's own version with the rest (``draw`` uniform in [0, 1))."""
    floor = 0.0
    for other, weight in sorted(weights.items()):
        floor += float(weight)
        if draw < floor:
            return other
    return version


def is_alias(qualifier: str | None) -> bool:
    """True when the qualifier names an alias (not a version number or $LATEST)."""
    return qualifier is not None and qualifier != LATEST and not qualifier.isdigit()


def resolve(lam: Any, wanted: Target, draw: Callable[[], float]) -> FunctionConfig | None:
    """The version to run, or None when moto should answer itself (not an image function).

    botocore's ClientError (e.g. ResourceNotFoundException) propagates: the caller lets
    moto answer those too, with its own error shape."""
    version = wanted.qualifier or LATEST
    if is_alias(wanted.qualifier):
        alias = lam.get_alias(FunctionName=wanted.function, Name=wanted.qualifier)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        version = choose(str(alias["FunctionVersion"]), weights, draw())
    found = lam.get_function(FunctionName=wanted.function, Qualifier=version)
    return from_answer(found, version)


def from_answer(found: Mapping[str, Any], version: str) -> FunctionConfig | None:
    """GetFunction's answer as a ``FunctionConfig`` (None for a zip function)."""
    config = found.get("Configuration") or {}
    if config.get("PackageType") != "Image":
        return None
    image_config = (config.get("ImageConfigResponse") or {}).get("ImageConfig") or {}
    variables = (config.get("Environment") or {}).get("Variables") or {}
    name = str(config["FunctionName"])
    arn = str(config["FunctionArn"])
    if arn.count(":") > 6:  # qualified: drop the qualifier
        arn = arn.rsplit(":", 1)[0]
    logging = config.get("LoggingConfig") or {}
    return FunctionConfig(
        name=name, arn=arn, version=str(config.get("Version") or version),
        image=str((found.get("Code") or {}).get("ImageUri") or ""),
        environment=tuple(sorted((str(k), str(v)) for k, v in variables.items())),
        timeout=int(config.get("Timeout") or 3), memory=int(config.get("MemorySize") or 128),
        entry_point=tuple(str(p) for p in image_config.get("EntryPoint") or ()),
        command=tuple(str(p) for p in image_config.get("Command") or ()),
        working_directory=str(image_config.get("WorkingDirectory") or ""),
        log_group=str(logging.get("LogGroup") or f"/aws/lambda/{name}"),
        revision=str(config.get("RevisionId") or config.get("LastModified") or ""))
