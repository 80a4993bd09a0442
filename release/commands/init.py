"""``release init``: adopt what already runs. Reads the named ECS services and Lambda
functions and writes release.yaml, environments/<env>.yaml (and local.yaml), one task
definition template per ECS service, the JSON Schemas editors read, and a workflow.

Nothing is written unless every file is new: an existing one stops the command before any
write. A variable that looks like a credential is reported and never copied.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release import __version__, build_info, names, repo_files
from release.adapters.aws.clients import AwsClients
from release.config import destinations
from release.config.model import AwsAccount
from release.config.schema import published
from release.engine import adopt as reading
from release.errors import UsageError
from release.output import envelope
from release.planning import adopt

CONTEXT_CANDIDATES = ("services/{name}", "{name}", ".")


@dataclass(frozen=True)
class Options:
    """What to adopt, from which account, into which repository."""

    root: Path
    environment: str
    ecs: tuple[str, ...] = ()  # CLUSTER/SERVICE
    functions: tuple[str, ...] = ()
    region: str | None = None
    account_id: str | None = None  # None: STS GetCallerIdentity
    role_arn: str | None = None  # None: arn:aws:iam::<account>:role/release-<env>
    endpoint_url: str | None = None  # the local cloud (loopback only)
    registry_host: str | None = None  # None: ECR's, derived from account and region
    tool_repository: str = "OWNER/REPO"
    environ: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Result:
    """The files written and what to know about them."""

    environment: str
    written: tuple[str, ...]
    notes: tuple[str, ...]

    def to_text(self) -> str:
        """The files, the notes, and the next commands."""
        lines = [f"wrote {path}" for path in self.written]
        lines += [f"note: {names.printable(note)}" for note in self.notes]
        lines += ["", "next:", "  release validate",
                  f"  release diff --env {self.environment}    # only the image should differ",
                  "  release local up                # the embedded cloud, seeded from "
                  "environments/local.yaml",
                  "  release deploy --env local"]
        return "\n".join(lines)

    def to_json(self) -> str:
        """Versioned JSON."""
        return envelope("init", {"environment": self.environment,
                                 "written": list(self.written), "notes": list(self.notes)})


def run(options: Options) -> Result:
    """Check the arguments and the paths, read what runs, work out the files, refuse if any
    exists, then write them all."""
    region = _checked(options)
    account = AwsAccount(region, options.account_id or "000000000000",
                         options.role_arn or "arn:aws:iam::000000000000:role/release",
                         options.endpoint_url)
    clients = AwsClients(account)
    try:
        services, account_id = _read(options, clients)
    finally:
        clients.close()
    if options.registry_host is not None:  # the ECR password will go there
        destinations.checked(destinations.registry_host(
            "ecr", options.registry_host, account_id=account_id, region=region))
    target = adopt.Account(
        options.environment, region, account_id,
        options.role_arn or f"arn:aws:iam::{account_id}:role/release-{options.environment}",
        options.endpoint_url, options.registry_host)
    layout = adopt.Layout({s.name: _context(options.root, s.name) for s in services},
                          tool_repository=options.tool_repository, tool_ref=build_info.commit(),
                          tool_version=f"v{__version__}")
    made = adopt.adopted(services, target, layout)
    files = {**made.files, **published("schemas")}
    _refuse_existing(options.root, list(files))  # every path first: all or nothing
    for path, text in files.items():
        try:
            repo_files.write_new(options.root, path, text)
        except repo_files.PathRefused as exc:
            raise UsageError(exc.message, exc.hint) from None
    notes = [*made.notes, *(f"no Dockerfile found for {name}: set its context in release.yaml"
                            for name, ctx in layout.contexts.items()
                            if not (options.root / ctx / "Dockerfile").is_file())]
    return Result(options.environment, tuple(files), tuple(notes))


# Written whatever is adopted ("deploy/.probe" only checks that deploy/ is a plain directory).
FIXED_PATHS = ("release.yaml", "deploy/.probe", ".github/workflows/release.yml",
               "schemas/release.schema.json", "schemas/environment.schema.json")
FUNCTION = re.compile(r"[A-Za-z0-9_-]{1,64}")
ECS_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
ACCOUNT_ID = re.compile(r"[0-9]{12}")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}")
REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")


def _checked(options: Options) -> str:
    """The region; every argument checked and the fixed paths free, before any cloud call."""
    if not options.ecs and not options.functions:
        raise UsageError("nothing to adopt", "name what runs: --ecs CLUSTER/SERVICE "
                                             "and/or --lambda FUNCTION (any number of each)")
    environ = options.environ or {}
    region = options.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    shapes = [("--region", region, REGION, "e.g. eu-west-1"),
              ("--account-id", options.account_id, ACCOUNT_ID, "12 digits"),
              ("--role-arn", options.role_arn, ROLE_ARN, "arn:aws:iam::ACCOUNT:role/NAME"),
              ("--tool-repository", options.tool_repository, REPOSITORY, "OWNER/REPO")]
    for flag, value, pattern, shape in shapes:
        if value is not None and not pattern.fullmatch(value):
            raise UsageError(f"{flag} {names.printable(value)!a} is not valid", shape)
    if not region:
        raise UsageError("no region", "pass --region, or set AWS_REGION")
    destinations.aws_account(options.endpoint_url)
    for spec in options.ecs:
        cluster, _, service = spec.partition("/")
        if not (ECS_NAME.fullmatch(cluster) and ECS_NAME.fullmatch(service)):
            raise UsageError(f"--ecs {names.printable(spec)!a}: not CLUSTER/SERVICE",
                             "e.g. --ecs prod/orders-api (names of letters, digits, - and _)")
    for function in options.functions:
        if not FUNCTION.fullmatch(function):
            raise UsageError(f"--lambda {names.printable(function)!a}: not a function name",
                             "the function's name: letters, digits, - and _")
    _refuse_existing(options.root, [*FIXED_PATHS, f"environments/{options.environment}.yaml",
                                    "environments/local.yaml"])
    return region


def _refuse_existing(root: Path, paths: list[str]) -> None:
    """A UsageError naming every path that exists or would be written through a link."""
    refused = []
    for path in paths:
        try:
            repo_files.check_new(root, path)
        except repo_files.PathRefused as exc:
            refused.append(exc)
    if refused:
        raise UsageError("; ".join(r.message for r in refused) + "; nothing was written",
                         "release init writes new files only, into plain directories: run "
                         "it where they do not exist, or move them away")


def _read(options: Options, clients: AwsClients) -> tuple[list[adopt.Service], str]:
    account_id = options.account_id or reading.account_id(clients)
    found: dict[str, adopt.Service] = {}
    for spec in options.ecs:
        running = reading.ecs_service(clients, spec)
        _add(found, adopt.Service(adopt.service_name(options.environment, running.service),
                                  ecs=running))
    for function in options.functions:
        running_fn = reading.lambda_function(clients, function)
        _add(found, adopt.Service(adopt.service_name(options.environment, function),
                                  function=running_fn))
    return list(found.values()), account_id


def _add(found: dict[str, adopt.Service], service: adopt.Service) -> None:
    if not names.SERVICE.pattern.fullmatch(service.name):
        raise UsageError(f"{service.name!a} cannot be a service name", names.SERVICE.says)
    if service.name in found:
        raise UsageError(f"two of the named resources would both be service {service.name}",
                         "adopt them in two steps, or rename one in release.yaml afterwards")
    found[service.name] = service


def _context(root: Path, name: str) -> str:
    """The first candidate directory holding a Dockerfile (else services/<name>)."""
    for pattern in CONTEXT_CANDIDATES:
        candidate = pattern.format(name=name)
        if (root / candidate / "Dockerfile").is_file():
            return candidate
    return CONTEXT_CANDIDATES[0].format(name=name)


def register(sub: Any) -> None:
    """Add ``init`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "init", help="write the config from ECS services and Lambda functions that run now",
        description="Read running ECS services (and their task definitions) and container-"
                    "image Lambda functions, and write release.yaml, environments/ENV.yaml, "
                    "environments/local.yaml, a task definition template per ECS service, "
                    "the JSON Schemas and .github/workflows/release.yml. Writes nothing if "
                    "any of them exists.")
    parser.add_argument("--env", required=True, metavar="NAME",
                        help="the environment they run in (its name becomes ${env})")
    parser.add_argument("--ecs", action="append", default=[], metavar="CLUSTER/SERVICE",
                        help="an ECS service to adopt (repeatable)")
    parser.add_argument("--lambda", dest="functions", action="append", default=[],
                        metavar="FUNCTION", help="a Lambda function to adopt (repeatable)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION)")
    parser.add_argument("--account-id", help="default: the credentials' account")
    parser.add_argument("--role-arn", help="the role releases assume (default: "
                                           "arn:aws:iam::ACCOUNT:role/release-ENV)")
    parser.add_argument("--endpoint-url", help="an AWS endpoint on loopback (the local cloud)")
    parser.add_argument("--registry-host", help="registry host (default: the account's ECR)")
    parser.add_argument("--tool-repository", default="OWNER/REPO", metavar="OWNER/REPO",
                        help="where this tool lives, for the workflow's uses: line")
    parser.set_defaults(handler=lambda args: run(Options(
        args.root, args.env, tuple(args.ecs), tuple(args.functions), args.region,
        args.account_id, args.role_arn, args.endpoint_url, args.registry_host,
        args.tool_repository, args.environ)))
