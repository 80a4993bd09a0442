"""Load ``release.yaml`` and ``environments/*.yaml``: parse, validate, fill defaults, cross-check.

Every problem in every file is collected and raised together as one ``ConfigError``.
The work is shared out: ``release_file`` and ``build_settings`` read release.yaml,
``environment_file`` the environments, ``cross_checks`` what one says of the other, on the
state and checks of ``loader``.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

from release.config.build_settings import BUILD_SECRET_SOURCES
from release.config.environment_file import EnvironmentLoader
from release.config.loader import ENVIRONMENTS_DIR, RELEASE_FILE
from release.config.model import Config
from release.config.release_file import S3_KEY_PLACEHOLDERS, ReleaseLoader
from release.errors import ConfigError, Problem, UsageError

__all__ = ["BUILD_SECRET_SOURCES", "ENVIRONMENTS_DIR", "RELEASE_FILE", "S3_KEY_PLACEHOLDERS",
           "environment_files", "load_config", "shadowed_environments"]


class _Loader(ReleaseLoader, EnvironmentLoader):
    """release.yaml, then each environment file, then the checks across them."""


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
