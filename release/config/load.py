"""Load ``release.yaml`` and ``environments/*.yaml``: parse, validate, fill defaults, cross-check.

Every problem in every file is collected and raised together as one ``ConfigError``.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from release import repo_files
from release.config import destinations, iam_names, plaintext, template
from release.config.credentials import find_secret, secrets_hint
from release.config.model import (
    DEFAULT_ALIAS,
    DEFAULT_DEADLINE_SECONDS,
    DEFAULT_PLATFORM,
    AwsAccount,
    AzureAccount,
    AzureAppDeployment,
    AzureAppTarget,
    BuildCache,
    BuildSecret,
    Config,
    EcsDeployment,
    EcsTarget,
    Environment,
    LambdaDeployment,
    LambdaTarget,
    Registry,
    S3Deployment,
    S3File,
    Service,
    ServiceDeployment,
    StepFunctionsDeployment,
    StepFunctionsTarget,
)
from release.config.schema import ENVIRONMENT_SCHEMA, RELEASE_SCHEMA, validate
from release.config.source import (
    MAX_CONFIG_BYTES,
    PathKey,
    Source,
    SourceError,
    dotted,
    read_source,
)
from release.errors import ConfigError, Problem, UsageError
from release.planning import dockerignore, image_tags

RELEASE_FILE = "release.yaml"
S3_KEY_PLACEHOLDERS = ("env", "service")
BUILD_SECRET_SOURCES = ("env", "file", "aws_secret", "ssm")
# Variables a build secret may not name: the release's own credentials and runner settings.
_RELEASE_ENV = ("AWS_", "ACTIONS_", "AZURE_", "ARM_", "DOCKER_", "RUNNER_")
_ARCH_PLATFORM = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}
_SNAKE = {"executionRoleArn": "execution_role_arn", "taskRoleArn": "task_role_arn"}
ENVIRONMENTS_DIR = "environments"


def environment_files(root: Path) -> dict[str, Path]:
    """Environment name -> file, for every ``environments/*.yaml`` (or ``.yml``; where both
    exist, ``shadowed_environments`` reports it and the ``.yaml`` is named here)."""
    folder = root / ENVIRONMENTS_DIR
    if not folder.is_dir():
        return {}
    found = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")], key=lambda p: p.suffix)
    return dict(sorted({path.stem: path for path in reversed(found)}.items()))


def shadowed_environments(root: Path) -> list[Problem]:
    """A problem for each environment written twice (``X.yaml`` and ``X.yml``): a reviewer
    would read one while release used the other."""
    folder = root / ENVIRONMENTS_DIR
    if not folder.is_dir():
        return []
    both = sorted({p.stem for p in folder.glob("*.yml")} & {p.stem for p in folder.glob("*.yaml")})
    return [Problem(f"{ENVIRONMENTS_DIR}/{name}.yml", None, "",
                    f"both {ENVIRONMENTS_DIR}/{name}.yaml and {ENVIRONMENTS_DIR}/{name}.yml "
                    "exist; which one is the environment would be a guess",
                    f"keep one: merge the two and delete {ENVIRONMENTS_DIR}/{name}.yml")
            for name in both]


def load_config(root: Path, only: Sequence[str] = ()) -> Config:
    """Load and validate the configuration under ``root``; environments limited to ``only``."""
    files = environment_files(root)
    if only and not (root / RELEASE_FILE).is_file():
        # Outside a repository "unknown environment" would mislead: say what is missing.
        loader = _Loader(root)
        loader.load_release()
        raise ConfigError(loader.problems)
    for name in only:
        if name not in files:
            close = difflib.get_close_matches(name, list(files), n=1)
            hint = (f"did you mean '{close[0]}'?" if close else
                    f"known environments: {', '.join(files) or 'none'}; "
                    f"add {ENVIRONMENTS_DIR}/{name}.yaml to create it")
            raise UsageError(f"unknown environment '{name}'", hint)
    chosen = {name: files[name] for name in (only or files)}
    loader = _Loader(root)
    loader.problems.extend(shadowed_environments(root))
    services = loader.load_release()
    environments = {name: loader.load_environment(name, path, services)
                    for name, path in chosen.items()}
    loader.report_missing_vars()
    if loader.problems:
        raise ConfigError(loader.problems)
    return Config(
        root=root,
        services=services or {},
        environments={k: v for k, v in environments.items() if v is not None},
        notices=tuple(loader.notices),
    )


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cpu_architecture(template_data: Any) -> str | None:
    """A task definition template's ``runtimePlatform.cpuArchitecture``, when it names one."""
    runtime = template_data.get("runtimePlatform") if isinstance(template_data, dict) else None
    arch = runtime.get("cpuArchitecture") if isinstance(runtime, dict) else None
    return arch if isinstance(arch, str) else None


class _Loader:
    """Collects problems while building the model; never stops at the first one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tree = repo_files.Tree(root)
        self.problems: list[Problem] = []
        # task definition template -> the role ARNs it names, checked per environment
        self.template_roles: dict[str, list[tuple[tuple[str, ...], Any]]] = {}
        self.template_arch: dict[str, str | None] = {}  # template -> its cpuArchitecture
        self.template_vars: dict[str, dict[str, PathKey]] = {}  # file -> vars it uses
        self.defined_vars: dict[str, set[str]] = {}  # file -> its vars some environment sets
        self.missing_vars: list[tuple[str, str, Problem]] = []  # (file, var, where missing)
        self.nulls_noticed: set[str] = set()  # templates whose dropped nulls were named
        self.notices: list[str] = []
        self.release_source: Source | None = None

    def _read(self, path: Path, schema: str) -> Source | None:
        display = self._display(path)
        try:
            source = read_source(self.root, display)
        except SourceError as exc:
            hint = exc.problem.hint
            if exc.problem.message == "file not found" and path.name == RELEASE_FILE:
                hint = "create release.yaml at the repository root (see README.md)"
            self.problems.append(Problem(exc.problem.file, exc.problem.line, exc.problem.field,
                                         exc.problem.message, hint))
            return None
        found = validate(source, schema)
        self.problems.extend(found)
        return None if found else source

    def _display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def _at(self, source: Source, path: PathKey, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(source.path, source.line(path), dotted(path), message, hint))

    # release.yaml ---------------------------------------------------------------------------

    def load_release(self) -> dict[str, Service] | None:
        source = self._read(self.root / RELEASE_FILE, RELEASE_SCHEMA)
        if source is None:
            return None
        self.release_source = source
        defaults = source.data.get("defaults", {})
        libraries = self._libraries(source)
        services = {}
        for name, raw in source.data["services"].items():
            services[name] = self._service(source, name, raw, defaults, libraries)
        return services

    def _libraries(self, source: Source) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Library name -> (its path, every library it uses, transitively)."""
        raw = source.data.get("libraries", {})
        for name, lib in raw.items():
            self._exists(source, ("libraries", name, "path"), lib["path"], want_dir=None)
            for index, used in enumerate(lib.get("uses", [])):
                if used not in raw:
                    self._unknown_library(source, ("libraries", name, "uses", index), used, raw)
        resolved = {}
        for name in raw:
            seen: list[str] = []
            stack = [name]
            while stack:
                current = stack.pop()
                if current in seen or current not in raw:
                    continue
                seen.append(current)
                stack.extend(raw[current].get("uses", []))
            if name in {u for other in seen for u in raw[other].get("uses", [])}:
                self._at(source, ("libraries", name, "uses"),
                         f"library '{name}' depends on itself through {' -> '.join(seen)}",
                         "remove one of the uses entries to break the cycle")
            resolved[name] = (raw[name]["path"], tuple(seen[1:]))
        return resolved

    def _unknown_library(self, source: Source, at: PathKey, name: str,
                         known: dict[str, Any]) -> None:
        close = difflib.get_close_matches(name, list(known), n=1)
        self._at(source, at, f"unknown library '{name}'",
                 f"did you mean '{close[0]}'?" if close else
                 f"libraries in release.yaml: {', '.join(known) or 'none'}")

    def _service(self, source: Source, name: str, raw: dict[str, Any],
                 defaults: dict[str, Any],
                 libraries: dict[str, tuple[str, tuple[str, ...]]]) -> Service:
        at: PathKey = ("services", name)
        context = raw["context"].rstrip("/") or "."
        dockerfile = raw.get("dockerfile") or (
            "Dockerfile" if context == "." else f"{context}/Dockerfile")
        uses: list[str] = []
        for index, lib in enumerate(raw.get("uses", [])):
            if lib not in libraries:
                self._unknown_library(source, (*at, "uses", index), lib, libraries)
                continue
            uses.extend([lib, *libraries[lib][1]])
        uses = list(dict.fromkeys(uses))
        library_paths = [libraries[lib][0] for lib in uses]
        watch = tuple(dict.fromkeys([*defaults.get("watch", []), *raw.get("watch", []),
                                     *library_paths]))
        context_ok = self._exists(source, (*at, "context"), context, want_dir=True)
        builds = raw.get("ecs") or raw.get("lambda") is not None or "azure_container_app" in raw
        # The default Dockerfile lives in the context: a missing context is reported once.
        if builds and ("dockerfile" in raw or context_ok):
            self._exists(source, (*at, "dockerfile") if "dockerfile" in raw else (*at, "context"),
                         dockerfile, want_dir=False, what="Dockerfile")
        own_watch = list(raw.get("watch", []))
        default_watch = list(defaults.get("watch", []))
        for path in watch:
            if path in library_paths and path not in own_watch:
                continue  # checked once, with the library
            where: PathKey = ((*at, "watch", own_watch.index(path)) if path in own_watch else
                              ("defaults", "watch", default_watch.index(path)))
            self._exists(source, where, path, want_dir=None)
        ecs = None
        if "ecs" in raw:
            ecs = EcsTarget(raw["ecs"]["task_definition"], raw["ecs"].get("container"))
            self._check_template(source, (*at, "ecs", "task_definition"), ecs)
        step_functions = None
        if "step_functions" in raw:
            step_functions = StepFunctionsTarget(raw["step_functions"]["definition"])
            self._check_json_file(source, (*at, "step_functions", "definition"),
                                  step_functions.definition, template.BUILT_INS)
        s3_files = tuple(S3File(item["source"], item["key"]) for item in raw.get("s3_files", []))
        for index, item in enumerate(s3_files):
            self._exists(source, (*at, "s3_files", index, "source"), item.source, want_dir=None,
                         walk=True)
            for match in template.PLACEHOLDER.finditer(item.key):
                if match.group(1) not in S3_KEY_PLACEHOLDERS:
                    self._at(source, (*at, "s3_files", index, "key"),
                             f"unknown placeholder {match.group(0)!a} in the S3 key",
                             "known placeholders: " +
                             ", ".join(f"${{{k}}}" for k in S3_KEY_PLACEHOLDERS))
        # Build-arg values stay in the image history; the defaults are checked once.
        if name == next(iter(source.data["services"])):
            self.problems.extend(plaintext.build_arg_problems(
                source, self.root, ("defaults", "build_args"), "<service>"))
        self.problems.extend(plaintext.build_arg_problems(
            source, self.root, (*at, "build_args"), name))
        azure = raw.get("azure_container_app")
        platform, platforms = self._platforms(source, at, raw, defaults)
        return Service(
            name=name,
            context=context,
            dockerfile=dockerfile,
            repository=raw.get("repository", name),
            platform=platform,
            watch=watch,
            build_args=dict(sorted({**defaults.get("build_args", {}),
                                    **raw.get("build_args", {})}.items())),
            uses=tuple(uses),
            ecs=ecs,
            lambda_=LambdaTarget() if "lambda" in raw else None,
            step_functions=step_functions,
            s3_files=s3_files,
            azure_container_app=None if azure is None else AzureAppTarget(
                azure.get("container") or None),
            target=raw.get("target"),
            build_secrets=self._build_secrets(source, at, raw, context, dockerfile),
            tags=self._tags(source, at, raw),
            platforms=platforms,
            attestations=self._attestations(source, at, raw),
            cache=BuildCache(**{**defaults.get("cache", {}), **raw.get("cache", {})}),
            builder=raw.get("builder") or defaults.get("builder"),
        )

    # build settings -------------------------------------------------------------------------

    def _platforms(self, source: Source, at: PathKey, raw: dict[str, Any],
                   defaults: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        """The image's main platform and, when there are several, all of them. A service's
        own ``platforms`` or ``platform`` wins over the defaults' (in that order)."""
        for where, block in ((at, raw), (("defaults",), defaults)):
            if "platforms" in block and "platform" in block:
                self._at(source, (*where, "platforms"), "set platform or platforms, not both",
                         "keep platforms: [...]; its first entry is the main platform")
        own = "platforms" in raw or "platform" in raw
        block = raw if own else defaults
        chosen = list(block.get("platforms") or [block.get("platform") or DEFAULT_PLATFORM])
        field = "platforms" if "platforms" in block else "platform"
        where = (*at, field) if own else ("defaults", field) if field in defaults else at
        if "lambda" in raw and len(chosen) > 1:
            self._at(source, where if own else at,
                     f"a lambda target takes one platform; {dotted(where)} names "
                     f"{len(chosen)} ({', '.join(chosen)})",
                     "set platform: to the function's architecture on this service (Lambda "
                     "refuses an image index)")
        if "azure_container_app" in raw and _ARCH_PLATFORM["X86_64"] not in chosen:
            self._at(source, where, "an azure_container_app target runs linux/amd64 images "
                     f"only; {dotted(where)} names {', '.join(chosen)}",
                     "add linux/amd64 to the service's platforms")
        if "ecs" in raw:
            self._runtime_platform(source, where, raw["ecs"]["task_definition"], chosen)
        return chosen[0], tuple(chosen) if len(chosen) > 1 else ()

    def _runtime_platform(self, source: Source, where: PathKey, template_path: str,
                          platforms: list[str]) -> None:
        """The task definition's ``runtimePlatform.cpuArchitecture`` (X86_64 when absent, as
        ECS runs it) must be one the image is built for."""
        if template_path not in self.template_arch:
            return  # the template could not be read: that is reported with it
        arch = self.template_arch[template_path]
        wanted = _ARCH_PLATFORM.get(arch or "X86_64")
        if wanted is None or wanted in platforms:
            return
        said = (f"runtimePlatform.cpuArchitecture {arch}" if arch else
                "no runtimePlatform (ECS runs it on X86_64)")
        self._at(source, where, f"{template_path} has {said} but the image is built for "
                 f"{', '.join(platforms)}",
                 f"add {wanted} to platforms, or set runtimePlatform.cpuArchitecture in "
                 f"{template_path} to " + " or ".join(
                     a for a, p in _ARCH_PLATFORM.items() if p in platforms))

    def _attestations(self, source: Source, at: PathKey, raw: dict[str, Any]) -> bool:
        wanted = bool(raw.get("attestations", False))
        if wanted and "lambda" in raw:
            self._at(source, (*at, "attestations"),
                     "a lambda target cannot take attestations: they make the image an "
                     "index, which Lambda refuses",
                     "remove attestations: true, or build the attested image as its own "
                     "service without the lambda target")
        return wanted

    def _tags(self, source: Source, at: PathKey, raw: dict[str, Any]) -> tuple[str, ...]:
        for index, tag in enumerate(raw.get("tags", [])):
            why = image_tags.template_problem(tag)
            if why is not None:
                self._at(source, (*at, "tags", index), *why)
        return tuple(raw.get("tags", ()))

    def _build_secrets(self, source: Source, at: PathKey, raw: dict[str, Any], context: str,
                       dockerfile: str) -> tuple[BuildSecret, ...]:
        found = []
        for secret_id, spec in raw.get("build_secrets", {}).items():
            where: PathKey = (*at, "build_secrets", secret_id)
            given = [kind for kind in BUILD_SECRET_SOURCES if kind in spec]
            if len(given) != 1:
                self._at(source, where, f"build secret '{secret_id}' names {len(given)} "
                         f"sources ({', '.join(given)}); it takes its value from one",
                         "keep one of env, file, aws_secret, ssm")
                continue
            secret = BuildSecret(secret_id, **{given[0]: spec[given[0]]})
            if secret.env is not None and secret.env.upper().startswith(_RELEASE_ENV):
                self._at(source, (*where, "env"),
                         f"{secret.env} holds the release's own credentials or runner "
                         "settings; a build must not receive them",
                         "pass the token the build needs in a variable of its own (for "
                         "example env: PIP_INDEX_TOKEN set from secrets.PIP_INDEX_TOKEN)")
            if secret.file is not None:
                self._secret_file(source, (*where, "file"), secret.file, context, dockerfile)
            found.append(secret)
        return tuple(found)

    def _secret_file(self, source: Source, at: PathKey, rel: str, context: str,
                     dockerfile: str) -> None:
        """A secret file must be a regular file inside the repository and never be sent
        with the build context (a COPY could put it in a layer). A missing one is left to
        the build: a job's earlier step usually writes it."""
        try:
            real = self.tree.check_kind(rel, want_dir=False)
        except FileNotFoundError:
            return
        except (OSError, repo_files.PathRefused):
            self._exists(source, at, rel, want_dir=False, what="build secret file")
            return
        try:
            real_context = self.tree.resolve(context)
        except repo_files.PathRefused:
            return  # reported with the context
        inside = os.path.relpath(real, real_context)
        if inside == os.pardir or inside.startswith(os.pardir + os.sep):
            return
        ignore = f"{dockerfile}.dockerignore"
        if not (self.root / ignore).is_file():
            ignore = ("" if context == "." else f"{context}/") + ".dockerignore"
        try:
            text = repo_files.read_bounded(self.root, ignore, 1 << 20).decode("utf-8",
                                                                              "replace")
        except (OSError, repo_files.PathRefused):
            text = ""
        if dockerignore.Matcher(dockerignore.patterns_of(text)).excludes(
                inside.replace(os.sep, "/")):
            return
        linked = os.path.relpath(real, self.tree.real_root).replace(os.sep, "/")
        shown = f"{rel}'" if linked == rel else f"{rel}' (a link to '{linked}')"
        self._at(source, at, f"build secret file '{shown} is inside the build context "
                 f"'{context}': it would be sent to the builder, and a COPY would put it "
                 "in a layer", f"move it out of '{context}', or add '{inside}' to {ignore}")

    def _exists(self, source: Source, at: PathKey, rel: str, *, want_dir: bool | None,
                what: str = "path", walk: bool = False) -> bool:
        """True when ``rel`` is inside the repository and of the wanted kind; with ``walk``,
        every file under a directory must be too (S3 sources: a deploy reads and uploads
        them). Watched paths are not walked here: only git reads them, and the build key
        refuses a link in them that leaves the repository."""
        try:
            self.tree.check_kind(rel, want_dir=want_dir)
            if walk:
                for _ in repo_files.files_under(self.root, rel):
                    pass
        except FileNotFoundError:
            self._at(source, at, f"{what} '{rel}' does not exist",
                     "paths are relative to the repository root")
            return False
        except NotADirectoryError:
            self._at(source, at, f"'{rel}' is a file; a build context must be a directory",
                     "use the directory that holds the Dockerfile and what it copies")
            return False
        except IsADirectoryError:
            self._at(source, at, f"{what} '{rel}' is a directory, not a file",
                     "name the file itself, relative to the repository root")
            return False
        except repo_files.PathRefused as exc:
            self._at(source, at, exc.message, exc.hint)
            return False
        return True

    def _check_template(self, source: Source, at: PathKey, ecs: EcsTarget) -> None:
        if not self._exists(source, at, ecs.task_definition, want_dir=False,
                            what="task definition"):
            return
        # Most templates are valid JSON with nothing wrong: check them from json.loads, and
        # read them again with line numbers (and name them for people) only to say where a
        # problem is. Plain strings and open(): pathlib costs more than the check here.
        try:
            real = self.tree.check_kind(ecs.task_definition, want_dir=False)
            raw = repo_files.read_file_bounded(real, ecs.task_definition, MAX_CONFIG_BYTES)
            quick: Source | None = Source(ecs.task_definition,
                                          self._without_nulls(ecs.task_definition,
                                                              json.loads(raw)))
        except (OSError, ValueError, repo_files.PathRefused):
            quick = None
        if quick is not None:
            self.template_roles[ecs.task_definition] = iam_names.template_roles(quick.data)
            self.template_arch[ecs.task_definition] = _cpu_architecture(quick.data)
            self.template_vars[ecs.task_definition] = template.var_uses(quick.data)
            if not self._template_problems(quick, ecs):
                return
        try:
            located = read_source(self.root, ecs.task_definition)
        except SourceError as exc:
            self.problems.append(exc.problem)
            return
        located = Source.located(located.path,
                                 self._without_nulls(ecs.task_definition, located.data),
                                 located.key_lines, located.value_lines)
        self.template_roles[ecs.task_definition] = iam_names.template_roles(located.data)
        self.template_arch[ecs.task_definition] = _cpu_architecture(located.data)
        self.template_vars[ecs.task_definition] = template.var_uses(located.data)
        self.problems.extend(self._template_problems(located, ecs))

    def _without_nulls(self, path: str, data: Any) -> Any:
        """The template without its null fields; a notice, once per template, names them."""
        cleaned, dropped = template.drop_nulls(data)
        if dropped and path not in self.nulls_noticed:
            self.nulls_noticed.add(path)
            self.notices.append(template.null_notice(path, dropped))
        return cleaned

    @staticmethod
    def _template_problems(tpl: Source, ecs: EcsTarget) -> list[Problem]:
        roles = [Problem(tpl.path, tpl.line(at), dotted(at), *why)
                 for at, value in iam_names.template_roles(tpl.data)
                 if (why := iam_names.template_role_shape(value)) is not None]
        return [*template.check_task_template(tpl, ecs.container),
                *template.check_placeholders(tpl, template.TEMPLATE_PLACEHOLDERS,
                                             variables=True), *roles]

    def _check_json_file(self, source: Source, at: PathKey, rel: str,
                         known: tuple[str, ...]) -> None:
        if not self._exists(source, at, rel, want_dir=False, what="definition"):
            return
        try:
            parsed = read_source(self.root, rel)
        except SourceError as exc:
            self.problems.append(exc.problem)
            return
        if not isinstance(parsed.data, dict):
            self._at(parsed, (), "must be a JSON object")
            return
        self.template_vars[rel] = template.var_uses(parsed.data)
        self.problems.extend(template.check_placeholders(parsed, known, variables=True))

    # environments/<name>.yaml ---------------------------------------------------------------

    def load_environment(self, name: str, path: Path,
                         services: dict[str, Service] | None) -> Environment | None:
        source = self._read(path, ENVIRONMENT_SCHEMA)
        if source is None:
            return None
        data = source.data
        if data["name"] != name:
            self._at(source, ("name",), f"name '{data['name']}' does not match the file name",
                     f"rename the file to {ENVIRONMENTS_DIR}/{data['name']}.yaml "
                     f"or set name: {name}")
        aws = self._aws(source, data["aws"]) if "aws" in data else None
        azure = self._azure(source, data["azure"]) if "azure" in data else None
        registry = self._registry(source, source.data["registry"], ("registry",), aws)
        env_vars = self._vars(source, data.get("vars", {}), aws)
        if services is None:  # release.yaml is broken: its problems are already reported
            return None
        deployments = {}
        for service_name, raw in data["services"].items():
            if service_name not in services:
                close = difflib.get_close_matches(service_name, list(services), n=1)
                self._at(source, ("services", service_name),
                         f"service '{service_name}' is not in release.yaml",
                         f"did you mean '{close[0]}'?" if close else
                         f"services in release.yaml: {', '.join(services)}")
                continue
            deployments[service_name] = self._deployment(
                source, services[service_name], raw, aws, azure)
            self._vars_defined(source, services[service_name], env_vars)
        return Environment(name=name, path=source.path, registry=registry,
                           deployments=deployments, aws=aws, azure=azure, vars=env_vars)

    def _vars(self, source: Source, raw: dict[str, str], aws: AwsAccount | None) -> dict[str, str]:
        """The environment's vars; plaintext credentials among them are problems."""
        for key, value in raw.items():
            why = find_secret(key, value)
            if why:
                hint = ("vars end up in the task definition or state machine, readable by "
                        "anyone who can describe them: give the value to the container through "
                        "the service's ecs.secrets instead:\n" + secrets_hint(
                            "<service>", key, aws.region if aws else "eu-west-1",
                            aws.account_id if aws else "123456789012", source.data["name"]))
                found = plaintext.problem(source, self.root, ("vars", key), value=value,
                                          why=why, hint=hint)
                if found is not None:
                    self.problems.append(found)
        return dict(raw)

    def _vars_defined(self, source: Source, service: Service, env_vars: dict[str, str]) -> None:
        """Each var a service's template or definition uses must be defined here (reported by
        ``report_missing_vars``, once every environment is read)."""
        files = [f for f in (service.ecs.task_definition if service.ecs else None,
                             service.step_functions.definition if service.step_functions
                             else None) if f is not None]
        for rel in files:
            for var, used_at in self.template_vars.get(rel, {}).items():
                if var in env_vars:
                    self.defined_vars.setdefault(rel, set()).add(var)
                    continue
                where: PathKey = ("vars",) if "vars" in source.data else \
                    ("services", service.name)
                known = [*template.BUILT_INS, *env_vars]
                self.missing_vars.append((rel, var, Problem(
                    source.path, source.line(where), dotted(where),
                    f"{rel} uses ${{{var}}} (at {dotted(used_at) or 'its top'}), which "
                    f"{source.data['name']} does not define",
                    f"add it to {source.path}:\nvars:\n  {var}: \"...\"\n"
                    "known placeholders here: " + ", ".join(f"${{{k}}}" for k in known))))

    def report_missing_vars(self) -> None:
        """A var some environment defines is missing from the others: located there. One no
        environment defines is most likely a typo: located in the template, once."""
        reported: set[tuple[str, str]] = set()
        for rel, var, problem in self.missing_vars:
            if var in self.defined_vars.get(rel, set()):
                self.problems.append(problem)
                continue
            if (rel, var) in reported:
                continue
            reported.add((rel, var))
            try:
                tpl = read_source(self.root, rel)
            except SourceError:  # reported when the file was checked
                continue
            used_at = template.var_uses(tpl.data).get(var, ())
            everywhere = sorted({v for names in self.defined_vars.values() for v in names})
            close = difflib.get_close_matches(var, [*template.BUILT_INS, *everywhere], n=1)
            self._at(tpl, used_at, f"unknown placeholder '${{{var}}}'",
                     (f"did you mean '${{{close[0]}}}'? " if close else "")
                     + "known placeholders: " + ", ".join(
                         f"${{{k}}}" for k in (*template.BUILT_INS, *everywhere))
                     + "\nor define it in each environment file that deploys the service:"
                     f'\nvars:\n  {var}: "..."')

    def _aws(self, source: Source, raw: dict[str, Any]) -> AwsAccount:
        """The aws block; credentials go only to AWS or the local cloud, as the account
        named here."""
        aws = AwsAccount(**{**raw, "role_accounts": tuple(raw.get("role_accounts", ()))})
        if aws.endpoint_url is not None:
            self._refused(source, ("aws", "endpoint_url"),
                          destinations.aws_endpoint(aws.endpoint_url))
        self._role(source, ("aws", "role_arn"), aws.role_arn, aws, cross_account=False)
        return aws

    def _azure(self, source: Source, raw: dict[str, Any]) -> AzureAccount:
        azure = AzureAccount(**raw)
        at: PathKey = ("azure",)
        if "authority_url" in raw:
            self._refused(source, (*at, "authority_url"), destinations.azure_endpoint(
                azure.authority_url, destinations.AUTHORITY_HOSTS, "authority_url"))
        if "management_url" in raw:
            self._refused(source, (*at, "management_url"), destinations.azure_endpoint(
                azure.management_url, destinations.MANAGEMENT_HOSTS, "management_url"))
        if azure.acr_exchange_url is not None:
            self._refused(source, (*at, "acr_exchange_url"),
                          destinations.acr_exchange(azure.acr_exchange_url))
        return azure

    def _refused(self, source: Source, at: PathKey,
                 refusal: destinations.Refusal | None) -> None:
        if refusal is not None:
            self._at(source, at, refusal.message, refusal.hint)

    def _role(self, source: Source, at: PathKey, arn: str, aws: AwsAccount | None, *,
              cross_account: bool = True) -> None:
        """A role ARN must be in the environment's account (or one listed in role_accounts)."""
        if aws is None:
            return
        problem = iam_names.role_problem(arn, aws.account_id,
                                         aws.role_accounts if cross_account else ())
        if problem is not None:
            self._at(source, at, *problem)

    def _registry(self, source: Source, raw: dict[str, Any], at: PathKey,
                  aws: AwsAccount | None) -> Registry:
        """The top-level registry, or a service's own (``at`` says which)."""
        kind = raw["type"]
        host = raw.get("host")
        if kind == "ecr" and aws is None:
            self._at(source, (*at, "type"), "an ecr registry needs the aws block",
                     "add aws: {region, account_id, role_arn}")
        if kind == "acr" and "azure" not in source.data:
            self._at(source, (*at, "type"), "an acr registry needs the azure block",
                     "add azure: {tenant_id, client_id, subscription_id}")
        if host is None and aws is not None:
            host = f"{aws.account_id}.dkr.ecr.{aws.region}.amazonaws.com"
        elif host is not None and not (kind == "ecr" and aws is None):
            self._refused(source, (*at, "host"), destinations.registry_host(
                kind, host, account_id=aws.account_id if aws else None,
                region=aws.region if aws else None))
        return Registry(kind, host or "")

    def _deployment(self, source: Source, service: Service, raw: dict[str, Any],
                    aws: AwsAccount | None, azure: AzureAccount | None) -> ServiceDeployment:
        env = source.data["name"]
        at: PathKey = ("services", service.name)
        for kind in raw:
            if kind != "registry" and kind not in service.targets:
                self._at(source, (*at, kind),
                         f"'{service.name}' has no {kind} target in release.yaml",
                         f"its targets: {', '.join(service.targets)}; remove this block "
                         f"or add the target to release.yaml")
        needs_aws = any(k in service.targets for k in ("ecs", "lambda", "step_functions",
                                                       "s3_files"))
        if needs_aws and aws is None:
            self._at(source, at, f"'{service.name}' deploys to AWS but the environment has "
                     "no aws block", "add aws: {region, account_id, role_arn}")
        if service.azure_container_app is not None and azure is None:
            self._at(source, at, f"'{service.name}' deploys to Azure but the environment has "
                     "no azure block", "add azure: {tenant_id, client_id, subscription_id}")
        self._secrets_readable(source, service, aws)
        default_name = f"{env}-{service.name}"
        registry = (self._registry(source, raw["registry"], (*at, "registry"), aws)
                    if "registry" in raw else None)
        return ServiceDeployment(
            service=service,
            ecs=self._ecs(source, service, raw.get("ecs", {}), aws, default_name),
            lambda_=LambdaDeployment(
                function=raw.get("lambda", {}).get("function", default_name),
                alias=raw.get("lambda", {}).get("alias", DEFAULT_ALIAS),
                environment=self._plain_env(source, (*at, "lambda", "environment"),
                                            raw.get("lambda", {}).get("environment", {}),
                                            service=service.name, aws=aws, target="lambda"),
            ) if service.lambda_ is not None else None,
            step_functions=StepFunctionsDeployment(
                state_machine=raw.get("step_functions", {}).get("state_machine", default_name),
                definition=service.step_functions.definition,
            ) if service.step_functions is not None else None,
            s3=self._s3(source, service, raw.get("s3_files", {})),
            azure_container_app=AzureAppDeployment(
                name=raw["azure_container_app"]["name"],
                resource_group=raw["azure_container_app"]["resource_group"],
                container=(service.azure_container_app.container
                           if service.azure_container_app is not None else None),
            ) if "azure_container_app" in raw else self._missing_azure(source, service),
            registry=registry,
        )

    def _secrets_readable(self, source: Source, service: Service,
                          aws: AwsAccount | None) -> None:
        """A build secret read from AWS is read with this environment's credentials when it
        builds the image: it must be in the environment's own account and region."""
        release = self.release_source
        if release is None:
            return
        for secret in service.build_secrets:
            kind = "aws_secret" if secret.aws_secret else "ssm" if secret.ssm else None
            if kind is None:
                continue
            at: PathKey = ("services", service.name, "build_secrets", secret.id, kind)
            if aws is None:
                self._at(release, at, f"build secret '{secret.id}' is read from AWS, but "
                         f"{source.path} (which may build '{service.name}') has no aws block",
                         "add aws: {region, account_id, role_arn} to the environment, or "
                         "take the secret from env: or file:")
                continue
            if secret.aws_secret is None:
                continue
            parts = secret.aws_secret.split(":")
            if (parts[3], parts[4]) != (aws.region, aws.account_id):
                self._at(release, at, f"build secret '{secret.id}' is in account {parts[4]}, "
                         f"region {parts[3]}; {source.path} builds with account "
                         f"{aws.account_id}, region {aws.region}",
                         "keep build secrets in the account and region of every environment "
                         "that builds the service (or use ssm: with a parameter of the same "
                         "name in each)")

    def _missing_azure(self, source: Source, service: Service) -> AzureAppDeployment | None:
        """None; reports the problem when the service needs an app named here."""
        if service.azure_container_app is not None:
            self._at(source, ("services", service.name),
                     f"'{service.name}' has an azure_container_app target; this environment "
                     "must name the app", "add azure_container_app: {name, resource_group}")
        return None

    def _s3(self, source: Source, service: Service, raw: dict[str, Any]) -> S3Deployment | None:
        if not service.s3_files:
            return None
        bucket = raw.get("bucket") or source.data.get("s3", {}).get("bucket")
        if bucket is None:
            self._at(source, ("services", service.name),
                     f"no bucket for the s3_files of '{service.name}'",
                     "set s3.bucket for the environment or "
                     f"services.{service.name}.s3_files.bucket")
            return None
        return S3Deployment(bucket=bucket, files=service.s3_files)

    def _ecs(self, source: Source, service: Service, raw: dict[str, Any],
             aws: AwsAccount | None, default_name: str) -> EcsDeployment | None:
        if service.ecs is None:
            return None
        at: PathKey = ("services", service.name, "ecs")
        cluster = raw.get("cluster") or source.data.get("ecs", {}).get("cluster")
        if cluster is None:
            self._at(source, ("services", service.name),
                     f"no ECS cluster for '{service.name}'",
                     f"set ecs.cluster for the environment or services.{service.name}.ecs.cluster")
            cluster = ""
        environment = self._plain_env(source, (*at, "environment"), raw.get("environment", {}),
                                      service=service.name, aws=aws, target="ecs")
        self._ecs_roles(source, service, raw, aws)
        return EcsDeployment(
            cluster=cluster,
            service=raw.get("service", service.name),
            family=raw.get("family", default_name),
            container=service.ecs.container,
            cpu=raw.get("cpu"),
            memory=raw.get("memory"),
            execution_role_arn=raw.get("execution_role_arn"),
            task_role_arn=raw.get("task_role_arn"),
            environment=environment,
            secrets=dict(raw.get("secrets", {})),
            log_group=raw.get("log_group"),
            desired_count=raw.get("desired_count"),
            deadline_seconds=raw.get("deadline_seconds", DEFAULT_DEADLINE_SECONDS),
        )

    def _ecs_roles(self, source: Source, service: Service, raw: dict[str, Any],
                   aws: AwsAccount | None) -> None:
        """Roles set here, and the template's roles this environment does not replace."""
        at: PathKey = ("services", service.name, "ecs")
        for name in ("execution_role_arn", "task_role_arn"):
            if name in raw:
                self._role(source, (*at, name), raw[name], aws)
        if aws is None or service.ecs is None:
            return
        replaced = {"executionRoleArn": "execution_role_arn" in raw,
                    "taskRoleArn": "task_role_arn" in raw}
        for path, value in self.template_roles.get(service.ecs.task_definition, []):
            if replaced.get(path[-1]) or not isinstance(value, str):
                continue
            why = iam_names.template_role_account(value, aws.account_id, aws.role_accounts)
            if why is not None:
                self._at(source, ("services", service.name),
                         f"{service.ecs.task_definition}: {path[-1]}: {why[0]}",
                         f"{why[1]}; or set ecs.{_SNAKE[path[-1]]} for this environment")

    def _plain_env(self, source: Source, at: PathKey, raw: dict[str, Any], *, service: str,
                   aws: AwsAccount | None, target: str) -> dict[str, str]:
        values = {key: _text(value) for key, value in raw.items()}
        for key, value in values.items():
            why = find_secret(key, value)
            if why:
                region = aws.region if aws else "eu-west-1"
                account = aws.account_id if aws else "123456789012"
                hint = secrets_hint(service, key, region, account, source.data["name"])
                if target != "ecs":
                    hint = ("read it at run time from SSM Parameter Store or Secrets Manager "
                            "(the function's role needs ssm:GetParameter); never put it in "
                            "the function's environment")
                found = plaintext.problem(source, self.root, (*at, key), value=value,
                                          why=why, hint=hint)
                if found is not None:  # None: a reviewed allow-plaintext comment keeps it
                    self.problems.append(found)
        return values
