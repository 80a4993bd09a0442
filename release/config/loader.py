"""The state a configuration load builds up, and the checks every part of it uses: read
and validate a file, locate a problem, check a path in the repository, a role, a URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from release import repo_files
from release.config import destinations, iam_names
from release.config.model import AwsAccount
from release.config.schema import validate
from release.config.source import PathKey, Source, SourceError, dotted, read_source
from release.errors import Problem

RELEASE_FILE = "release.yaml"
ENVIRONMENTS_DIR = "environments"


class LoaderBase:
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
