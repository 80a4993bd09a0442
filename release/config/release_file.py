"""Load ``release.yaml``: its libraries, and each service with its paths, targets and
build settings checked (task definition templates and state machine definitions read and
checked here, once, for every environment)."""

from __future__ import annotations

import difflib
import json
from typing import Any

from release import repo_files
from release.config import iam_names, plaintext, template
from release.config.build_settings import BuildSettings
from release.config.loader import RELEASE_FILE
from release.config.model import (
    AzureAppTarget,
    BuildCache,
    DockerHostTarget,
    EcsTarget,
    LambdaTarget,
    S3File,
    Service,
    StepFunctionsTarget,
)
from release.config.schema import RELEASE_SCHEMA
from release.config.source import (
    MAX_CONFIG_BYTES,
    PathKey,
    Source,
    SourceError,
    dotted,
    read_source,
)
from release.errors import Problem

S3_KEY_PLACEHOLDERS = ("env", "service")


def _cpu_architecture(template_data: Any) -> str | None:
    """A task definition template's ``runtimePlatform.cpuArchitecture``, when it names one."""
    runtime = template_data.get("runtimePlatform") if isinstance(template_data, dict) else None
    arch = runtime.get("cpuArchitecture") if isinstance(runtime, dict) else None
    return arch if isinstance(arch, str) else None


class ReleaseLoader(BuildSettings):
    """release.yaml into services."""

    def load_release(self) -> dict[str, Service] | None:
        """The services of release.yaml; None when the file cannot be read or is not valid."""
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
        """One service of release.yaml, its paths, targets and build settings checked."""
        at: PathKey = ("services", name)
        context = raw["context"].rstrip("/") or "."
        dockerfile = raw.get("dockerfile") or (
            "Dockerfile" if context == "." else f"{context}/Dockerfile")
        uses = self._uses(source, at, raw, libraries)
        library_paths = [libraries[lib][0] for lib in uses]
        watch = tuple(dict.fromkeys([*defaults.get("watch", []), *raw.get("watch", []),
                                     *library_paths]))
        self._check_build_paths(source, at, raw, context, dockerfile)
        self._check_watch(source, at, raw, defaults, watch=watch, library_paths=library_paths)
        ecs, step_functions = self._targets(source, at, raw)
        s3_files = self._s3_files(source, at, raw)
        self._check_build_args(source, name, at)
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
            docker_host=DockerHostTarget() if "docker_host" in raw else None,
            target=raw.get("target"),
            build_secrets=self._build_secrets(source, at, raw, context, dockerfile),
            tags=self._tags(source, at, raw),
            platforms=platforms,
            attestations=self._attestations(source, at, raw),
            cache=BuildCache(**{**defaults.get("cache", {}), **raw.get("cache", {})}),
            builder=raw.get("builder") or defaults.get("builder"),
        )

    def _uses(self, source: Source, at: PathKey, raw: dict[str, Any],
              libraries: dict[str, tuple[str, tuple[str, ...]]]) -> list[str]:
        """The libraries a service uses, directly or through another library, once each."""
        uses: list[str] = []
        for index, lib in enumerate(raw.get("uses", [])):
            if lib not in libraries:
                self._unknown_library(source, (*at, "uses", index), lib, libraries)
                continue
            uses.extend([lib, *libraries[lib][1]])
        return list(dict.fromkeys(uses))

    def _check_build_paths(self, source: Source, at: PathKey, raw: dict[str, Any],
                           context: str, dockerfile: str) -> None:
        """The build context is a directory; the Dockerfile of a service that builds, a file."""
        context_ok = self._exists(source, (*at, "context"), context, want_dir=True)
        builds = (raw.get("ecs") or raw.get("lambda") is not None
                  or "azure_container_app" in raw or "docker_host" in raw)
        # The default Dockerfile lives in the context: a missing context is reported once.
        if builds and ("dockerfile" in raw or context_ok):
            self._exists(source, (*at, "dockerfile") if "dockerfile" in raw else (*at, "context"),
                         dockerfile, want_dir=False, what="Dockerfile")

    def _check_watch(self, source: Source, at: PathKey, raw: dict[str, Any],
                     defaults: dict[str, Any], *, watch: tuple[str, ...],
                     library_paths: list[str]) -> None:
        """Each watched path exists, located where it is written (a library's: once)."""
        own_watch = list(raw.get("watch", []))
        default_watch = list(defaults.get("watch", []))
        for path in watch:
            if path in library_paths and path not in own_watch:
                continue  # checked once, with the library
            where: PathKey = ((*at, "watch", own_watch.index(path)) if path in own_watch else
                              ("defaults", "watch", default_watch.index(path)))
            self._exists(source, where, path, want_dir=None)

    def _targets(self, source: Source, at: PathKey, raw: dict[str, Any],
                 ) -> tuple[EcsTarget | None, StepFunctionsTarget | None]:
        """The ECS and Step Functions targets, their files checked."""
        ecs = None
        if "ecs" in raw:
            ecs = EcsTarget(raw["ecs"]["task_definition"], raw["ecs"].get("container"))
            self._check_template(source, (*at, "ecs", "task_definition"), ecs)
        step_functions = None
        if "step_functions" in raw:
            step_functions = StepFunctionsTarget(raw["step_functions"]["definition"])
            self._check_json_file(source, (*at, "step_functions", "definition"),
                                  step_functions.definition, template.BUILT_INS)
        return ecs, step_functions

    def _s3_files(self, source: Source, at: PathKey, raw: dict[str, Any]) -> tuple[S3File, ...]:
        """The files published to S3: sources inside the repository, known key placeholders."""
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
        return s3_files

    def _check_build_args(self, source: Source, name: str, at: PathKey) -> None:
        """Build-arg values stay in the image history; the defaults are checked once."""
        if name == next(iter(source.data["services"])):
            self.problems.extend(plaintext.build_arg_problems(
                source, self.root, ("defaults", "build_args"), "<service>"))
        self.problems.extend(plaintext.build_arg_problems(
            source, self.root, (*at, "build_args"), name))

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
