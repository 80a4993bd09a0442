"""``release plan``: which services need a release in an environment, and why.

Reconcile by default: each service's build key (and config key) at HEAD against the keys
recorded on what the environment runs. ``--since REF`` is the classic ``git diff`` mode.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release.adapters import git
from release.config import Config, Environment, load_config
from release.engine.keys import desired
from release.errors import EXIT_FAILED, EXIT_OK, UsageError
from release.names import SERVICE, printable, shown
from release.output import envelope, table
from release.planning import buildkey, ecs_strategy, lambda_shift, reconcile
from release.planning.reconcile import Deployed, Entry, Selection
from release.planning.recorded import NO_IMAGE
from release.repo_files import PathRefused, read_file_bounded

if TYPE_CHECKING:
    from release.engine.image_lookup import Found


@dataclass(frozen=True)
class Options:
    """What to plan."""

    root: Path
    environment: str
    since: str | None = None
    selection: Selection = dataclasses.field(default_factory=Selection)
    deployed_file: Path | None = None  # a recorded deployed state instead of asking the cloud
    find_images: bool = False  # look each planned image up: the build matrix skips the found
    strict: bool = False  # exit 1 when a service's ECS service or Lambda function is missing


@dataclass(frozen=True)
class Result:
    """The plan: services to release, and the rest accounted for."""

    environment: str
    commit: str
    mode: str
    entries: tuple[Entry, ...]
    unchanged: tuple[str, ...]
    note: str = ""
    removed: tuple[str, ...] = ()
    matrix_extra: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    images: Found | None = None  # with --find-images: what the registries already hold
    strict: bool = False

    @property
    def exit_code(self) -> int:
        """1 with --strict when an ECS service or Lambda function the environment names
        does not exist in the cloud; else 0."""
        missing = any(e.reason == "missing in the cloud" for e in self.entries)
        return EXIT_FAILED if self.strict and missing else EXIT_OK

    def image_status(self, service: str) -> str | None:
        """``found``, ``missing`` or ``unchecked`` with --find-images; else None."""
        return self.images.status(service) if self.images is not None else None

    def to_build(self) -> tuple[Entry, ...]:
        """The entries a build job is needed for: all of them, unless --find-images found
        their images already pushed (those are promoted) or they run no image."""
        if self.images is None:
            return self.entries
        return tuple(e for e in self.entries
                     if e.build_key != NO_IMAGE and self.images.status(e.service) != "found")

    def to_text(self) -> str:
        """A table: service, why, build key; then what was left alone."""
        lines = []
        if self.note:
            lines.append(f"note: {self.note}")
        if self.entries and self.images is None:
            lines.append(table(["SERVICE", "WHY", "BUILD KEY", "DETAIL"],
                               [(e.service, e.reason, e.build_key[:12], e.detail)
                                for e in self.entries]))
        elif self.entries:
            lines.append(table(["SERVICE", "WHY", "BUILD KEY", "IMAGE", "DETAIL"],
                               [(e.service, e.reason, e.build_key[:12],
                                 self.image_status(e.service), e.detail)
                                for e in self.entries]))
        lines.append(f"\n{len(self.entries)} to release in {self.environment} ({self.mode}), "
                     f"{len(self.unchanged)} up to date")
        if self.images is not None:
            building = len(self.to_build())
            lines.append(f"{building} image(s) to build, "
                         f"{sum(self.image_status(e.service) == 'found' for e in self.entries)} "
                         f"already in the registry (promoted, not built; looked up in "
                         f"{self.images.seconds:.2f} s)")
        if any(e.reason == "missing in the cloud" for e in self.entries):
            lines.append(f"hint: {MISSING_HINT}")
        if self.removed:
            lines.append(f"removed from the config but still running (left alone; delete them "
                         f"yourself when ready): {', '.join(self.removed)}")
        return "\n".join(lines).lstrip("\n")

    def to_json(self) -> str:
        """Versioned JSON."""
        return envelope("plan", {
            "environment": self.environment, "commit": self.commit, "mode": self.mode,
            "note": self.note, "services": [self._entry(e) for e in self.entries],
            "build": [e.service for e in self.to_build()],
            **({"image_lookup_seconds": round(self.images.seconds, 3)}
               if self.images is not None else {}),
            "unchanged": list(self.unchanged), "removed": list(self.removed)})

    def _entry(self, entry: Entry) -> dict[str, Any]:
        row = dataclasses.asdict(entry)
        if self.images is not None:
            row["image"] = self.images.status(entry.service)
            row["digest"] = self.images.digests.get(entry.service)
        return row

    def to_matrix(self) -> str:
        """GitHub Actions matrices of build jobs for ``fromJSON``: a list, one per 256 jobs."""
        return json.dumps(reconcile.matrix(self.to_build(), self.matrix_extra),
                          separators=(",", ":"))

    def github_outputs(self) -> dict[str, str]:
        """``matrix`` (build jobs, the first chunk), ``matrices`` (all), ``build-count``;
        ``services`` and ``count``: everything to deploy, promoted images included."""
        building = self.to_build()
        chunks = reconcile.matrix(building, self.matrix_extra)
        return {"matrix": json.dumps(chunks[0], separators=(",", ":")),
                "matrices": json.dumps(chunks, separators=(",", ":")),
                "services": " ".join(e.service for e in self.entries),
                "count": str(len(self.entries)),
                "build-count": str(len(building))}


MISSING_HINT = ("create what is missing in the account, or fix the environment file; for the "
                "local cloud, `release local seed` creates what environments/local.yaml names")


def _check_names(env: Environment, names: tuple[str, ...]) -> None:
    for name in names:
        if name not in env.deployments:
            close = difflib.get_close_matches(name, list(env.deployments), n=1)
            raise UsageError(f"service '{name}' is not deployed to {env.name}",
                             f"did you mean '{close[0]}'?" if close else
                             f"services in {env.path}: {', '.join(env.deployments)}")


RECORDED_LIMIT = 16 * 1024 * 1024  # thousands of services take a few MB
RECORDED_SHAPE = ('a JSON object: {"services": {"NAME": {"build_key": "...", "commit": '
                  '"...", "config_key": "...", "deployed_at": 1700000000} or null}}')
_RECORDED_TEXT = 200  # longest text a recorded field may hold (keys and SHAs are shorter)


def read_recorded(path: Path, environment: str | None = None) -> dict[str, Deployed | None]:
    """A deployed state saved by ``release status --output json`` (or a benchmark), for
    ``environment``; a UsageError naming the file and the shape it should have when it is
    anything else (not a regular file, too large, not JSON, other fields)."""
    shown_path = printable(str(path))

    def refuse(why: str) -> UsageError:
        return UsageError(f"--deployed {shown_path}: {why}",
                          "save a deployed state with `release status --env ENV --output json"
                          f" > FILE`;\nthe file holds {RECORDED_SHAPE}")

    try:
        raw = read_file_bounded(Path(os.path.realpath(path)), shown_path, RECORDED_LIMIT)
        data = json.loads(raw.decode("utf-8"))
    except PathRefused as exc:
        raise refuse(exc.message.replace(f"'{shown_path}' ", "the file ", 1)) from None
    except UnicodeDecodeError:
        raise refuse("the file is not UTF-8 text") from None
    except RecursionError:
        raise refuse("the file nests too deeply to be a deployed state") from None
    except ValueError as exc:  # json.JSONDecodeError, or a number too long to read
        where = (f" at line {exc.lineno} column {exc.colno}"
                 if isinstance(exc, json.JSONDecodeError) else "")
        raise refuse(f"the file is not JSON ({getattr(exc, 'msg', exc)}{where})") from None
    return _recorded_rows(data, environment, refuse)


def _recorded_rows(data: object, environment: str | None,
                   refuse: Callable[[str], UsageError]) -> dict[str, Deployed | None]:
    if not isinstance(data, dict):
        raise refuse(f"the file holds {_kind(data)}, not an object")
    kind = data.get("kind")
    if kind is not None and kind != "status":
        raise refuse(f"the file holds the output of `release {printable(str(kind))[:40]}`, "
                     "not of `release status`")
    rows = data.get("data", data)
    if isinstance(rows, dict) and "environments" in rows:
        rows = _recorded_environment(rows, environment, refuse)
    if isinstance(rows, dict) and "services" in rows:
        rows = rows["services"]
    if not isinstance(rows, dict):
        raise refuse(f"the services are {_kind(rows)}, not an object of services")
    out: dict[str, Deployed | None] = {}
    for name, row in rows.items():
        if not SERVICE.pattern.fullmatch(name):
            raise refuse(f"{shown(name)} is not a service name")
        if row is None:
            out[name] = None
            continue
        if not isinstance(row, dict):
            raise refuse(f"service '{name}' holds {_kind(row)}, not an object (or null)")
        if "build_key" not in row:
            raise refuse(f"service '{name}' has no build_key (null when nothing runs)")
        texts = [_recorded_text(row, key, name, refuse)
                 for key in ("build_key", "commit", "config_key", "missing")]
        when = row.get("deployed_at")
        if when is not None and (isinstance(when, bool) or not isinstance(when, (int, float))
                                 or not math.isfinite(when)):
            raise refuse(f"service '{name}': deployed_at holds {_kind(when)}, not a number "
                         "of seconds (or null)")
        out[name] = Deployed(texts[0], texts[1], when, texts[2], texts[3])
    return out


def _recorded_environment(rows: dict[str, Any], environment: str | None,
                          refuse: Callable[[str], UsageError]) -> object:
    envs, errors = rows["environments"], rows.get("errors")
    if not isinstance(envs, dict):
        raise refuse(f"'environments' holds {_kind(envs)}, not an object")
    if environment in envs:
        return envs[environment]
    if environment is not None and isinstance(errors, dict) and environment in errors:
        raise refuse(f"it records that {environment} could not be read")
    if environment is None and len(envs) == 1:
        return next(iter(envs.values()))
    held = ", ".join(shown(str(e)) for e in list(envs)[:10]) or "none"
    raise refuse(f"it holds no deployed state for {environment} (environments: {held})")


def _recorded_text(row: dict[str, Any], key: str, service: str,
                   refuse: Callable[[str], UsageError]) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise refuse(f"service '{service}': {key} holds {_kind(value)}, not text (or null)")
    if len(value) > _RECORDED_TEXT:
        raise refuse(f"service '{service}': {key} holds {len(value)} characters, more than "
                     f"{_RECORDED_TEXT}")
    if printable(value) != value:
        raise refuse(f"service '{service}': {key} holds a line break or another control "
                     "character")
    return value


def _kind(value: object) -> str:
    """What a JSON value is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, list) else "an object"


def run(options: Options, aws_factory: Any = None,
        environ: Mapping[str, str] | None = None) -> Result:
    """Plan one environment (and, with ``find_images``, look its images up); ``environ``
    is the process environment (the registry logins read GitHub's and the CA's variables)."""
    environ = environ or {}
    clients: list[Any] = []  # one AwsClients for the reads and the registry logins

    def aws(env: Environment) -> Any:
        if env.aws is None:
            raise UsageError(f"{env.path} has no aws block", "planning reads what runs in AWS")
        if not clients:
            # Only here: a recorded state (--deployed) plans without the AWS modules.
            from release.adapters.aws.clients import AwsClients

            clients.append(aws_factory(env.aws) if aws_factory else
                           AwsClients(env.aws, environ=environ))
        return clients[0]

    try:
        result, config, env = _plan(options, aws, environ)
        if options.find_images and not options.selection.redeploy and result.entries:
            began = time.perf_counter()  # what --find-images adds, its imports included
            from release.engine.image_lookup import find

            needs_aws = env.aws is not None and any(
                env.registry_of(env.deployments[e.service]).type == "ecr"
                for e in result.entries)
            found = find(config, env, result.entries, aws(env) if needs_aws else None,
                         result.commit, environ=environ)
            found = dataclasses.replace(found, seconds=time.perf_counter() - began)
            note = "; ".join(n for n in (result.note, found.note()) if n)
            result = dataclasses.replace(result, images=found, note=note)
        return dataclasses.replace(result, strict=options.strict)
    finally:
        for made in clients:
            made.close()


def _plan(options: Options, aws: Any,
          environ: Mapping[str, str]) -> tuple[Result, Config, Environment]:
    # git walks the work tree in its own process (O(files)) while Python validates the
    # config and keys every service on HEAD's tree, which is the answer whenever the work
    # tree is clean (always, in CI). Only a dirty tree is keyed again.
    with git.snapshot_in_background(options.root) as pending:
        config = load_config(options.root, (options.environment,))
        env = config.environments[options.environment]
        _check_names(env, options.selection.services)
        names = sorted(env.deployments)
        head = pending.head()
        want = desired(config, env, names, head.tree, missing_ok=True)
        snap = pending.result()
    if snap.tree != head.tree or len(want) != len(names):
        want = desired(config, env, names, snap.tree)
    extra = {n: {"repository": config.services[n].repository,
                 "context": config.services[n].context,
                 "dockerfile": config.services[n].dockerfile,
                 "platform": config.services[n].platform} for n in names}
    forced = options.selection.services or options.selection.everything
    note = ""
    if options.since and not forced and not options.selection.redeploy:
        before = git.since(config.root, options.since)
        if isinstance(before, git.Since):
            # Keys at REF against keys at HEAD: the same inputs as a build, .dockerignore
            # included, so a root build context does not match every change.
            then = desired(config, env, names, before.tree, missing_ok=True)
            watched = {n: [config.services[n].context, config.services[n].dockerfile,
                           *config.services[n].watch, *buildkey.config_paths(config.services[n])]
                       for n in names}
            entries = reconcile.since(want, then, before.paths, watched)
            return _result(env, snap.commit, entries, names, mode="since " + options.since[:12],
                           note="", extra=extra), config, env
        note = f"{before}; planning by reconcile instead"
    if forced or options.selection.redeploy:
        entries = reconcile.reconcile(want, {}, options.selection)
        return _result(env, snap.commit, entries, names, mode="selection", note=note,
                       extra=extra), config, env
    if options.deployed_file is not None:
        running = read_recorded(options.deployed_file, options.environment)
        gone = sorted(n for n in running if n not in env.deployments)
    else:
        from release.adapters import docker_host_deployed

        running, gone = docker_host_deployed.with_aws(env, names, aws, environ)
    entries = reconcile.reconcile(want, running)
    result = _result(env, snap.commit, entries, names, mode="reconcile", note=note, extra=extra)
    return dataclasses.replace(result, removed=tuple(gone)), config, env


def _result(env: Environment, commit: str, entries: list[Entry], names: list[str], *,
            mode: str, note: str, extra: dict[str, dict[str, str]]) -> Result:
    planned, entries = {e.service for e in entries}, ecs_strategy.annotate(entries, env.deployments)
    return Result(env.name, commit, mode, lambda_shift.annotated(env, entries),
                  tuple(n for n in names if n not in planned), note=note, matrix_extra=extra)


def _services_arg(text: str) -> tuple[str, ...]:
    # Each name is checked (pattern, did-you-mean) by release.names before the command runs.
    return tuple(n.strip() for n in text.replace(" ", ",").split(",") if n.strip())


def register(sub: Any) -> None:
    """Add ``plan`` to the command line."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "plan", help="which services need a release, and why",
        description="Compare each service's build key at HEAD with what the environment runs "
                    "(or, with --since, the classic git diff) and list what to release.")
    parser.add_argument("--env", required=True, metavar="NAME", help="environment name")
    parser.add_argument("--since", metavar="REF",
                        help="git diff mode: services whose paths changed since REF; falls "
                             "back to reconcile for a zero SHA or a commit not in the clone")
    parser.add_argument("--services", type=_services_arg, default=(), metavar="A,B",
                        help="release exactly these (a manual run)")
    parser.add_argument("--all", action="store_true", help="release every service")
    parser.add_argument("--redeploy", action="store_true",
                        help="no new image: fresh tasks for the chosen services")
    parser.add_argument("--deployed", type=Path, metavar="FILE",
                        help="plan against a recorded deployed state instead of the cloud")
    parser.add_argument("--find-images", action="store_true",
                        help="look each planned image up in its registry: the build matrix "
                             "leaves out the images already pushed (promoted, not rebuilt)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when an ECS service or Lambda function the environment "
                             "names is missing in the cloud")
    parser.set_defaults(handler=lambda args: run(Options(
        args.root, args.env, args.since,
        Selection(args.services, args.all, args.redeploy), args.deployed, args.find_images,
        args.strict), environ=args.environ))

