"""A service's build settings in release.yaml: platforms (and the task definition's CPU
architecture), attestations, tags, and build secrets (never the release's own credentials,
never a file sent with the build context)."""

from __future__ import annotations

import os
from typing import Any

from release import repo_files
from release.config.loader import LoaderBase
from release.config.model import DEFAULT_PLATFORM, BuildSecret
from release.config.source import PathKey, Source, dotted
from release.planning import dockerignore, image_tags

BUILD_SECRET_SOURCES = ("env", "file", "aws_secret", "ssm")
# Variables a build secret may not name: the release's own credentials and runner settings.
_RELEASE_ENV = ("AWS_", "ACTIONS_", "AZURE_", "ARM_", "DOCKER_", "RUNNER_")
ARCH_PLATFORM = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}


class BuildSettings(LoaderBase):
    """The build settings of one service, checked."""

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
        if "azure_container_app" in raw and ARCH_PLATFORM["X86_64"] not in chosen:
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
        wanted = ARCH_PLATFORM.get(arch or "X86_64")
        if wanted is None or wanted in platforms:
            return
        said = (f"runtimePlatform.cpuArchitecture {arch}" if arch else
                "no runtimePlatform (ECS runs it on X86_64)")
        self._at(source, where, f"{template_path} has {said} but the image is built for "
                 f"{', '.join(platforms)}",
                 f"add {wanted} to platforms, or set runtimePlatform.cpuArchitecture in "
                 f"{template_path} to " + " or ".join(
                     a for a, p in ARCH_PLATFORM.items() if p in platforms))

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
