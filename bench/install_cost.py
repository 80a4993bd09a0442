"""Item 6: what the `setup` action costs: this package into a fresh virtual environment.

    python bench/install_cost.py [--runs 3] [--pip-runs N] [--no-write]

For each installer, with a cache of its own under a temporary directory: one untimed
install warms the cache, then --runs timed installs (--pip-runs for pip, default the same),
each into a new virtual environment:

- uv:  `uv venv ENV` + `uv pip install --python ENV/bin/python SRC`
- pip: `python -m venv ENV` + `ENV/bin/python -m pip install SRC`

SRC is a new copy of this repository's package sources (pyproject.toml, README.md, release/)
for each run, installed non-editable with its runtime dependencies only: what
actions/setup/install.sh does. The copy keeps the build's egg-info and build/ out of the
work tree, and its new file times make uv build the package again rather than reuse the
wheel it built on the run before. Wheels come from PyPI on
the warming run and from the cache after that (pip still asks the index for each name).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from results import Headline, record, replace_section, stop_on_sigterm  # noqa: E402

ITEM = 6
SOURCES = ("pyproject.toml", "README.md", "release")


@dataclass(frozen=True)
class Installs:
    """Wall times of one installer: creating the environment, and installing into it."""

    name: str
    version: str
    venv: tuple[float, ...]
    install: tuple[float, ...]

    @property
    def total(self) -> tuple[float, ...]:
        """Environment and install, run by run."""
        return tuple(a + b for a, b in zip(self.venv, self.install, strict=True))


def run(argv: list[str], env: dict[str, str], timeout: float = 600) -> float:
    """Run ``argv``; return its wall time; fail loudly on a non-zero exit."""
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False,
                          timeout=timeout)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n"
                         f"{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    return seconds


def copy_sources(target: Path) -> Path:
    """The package's sources, without caches, in ``target``, with new modification times
    (as the action's `cp -R`): uv builds the copy afresh rather than reuse a cached wheel."""
    target.mkdir(parents=True)
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, copy_function=shutil.copy,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(source, target / name)
    return target


def uv_binary() -> str:
    """The uv beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if found is None:
        raise SystemExit("uv not found (pip install uv)")
    return found


def check_installed(python: Path, env: dict[str, str]) -> None:
    """The environment runs `release --version` from the copy, not the work tree."""
    done = subprocess.run([str(python.parent / "release"), "--version"], env=env,
                          capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0 or not done.stdout.startswith("release "):
        raise SystemExit(f"the installed release does not run: {done.stderr[-1000:]}")


def measure(name: str, work: Path, runs: int) -> Installs:
    """One warming install, then ``runs`` timed ones, each into a fresh environment."""
    cache = work / f"cache-{name}"
    env = {k: v for k, v in os.environ.items()
           if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PIP_REQUIRE_VIRTUALENV"}}
    env |= {"UV_CACHE_DIR": str(cache), "PIP_CACHE_DIR": str(cache),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_NO_PROGRESS": "1"}
    uv = uv_binary()
    venvs, installs = [], []
    version = ""
    for i in range(runs + 1):
        target = work / f"env-{name}-{i}"
        src = copy_sources(work / f"src-{name}-{i}")
        python = target / "bin" / "python"
        if name == "uv":
            made = run([uv, "venv", "--quiet", "--python", sys.executable, str(target)], env)
            took = run([uv, "pip", "install", "--quiet", "--python", str(python), str(src)],
                       env)
        else:
            made = run([sys.executable, "-m", "venv", str(target)], env)
            took = run([str(python), "-m", "pip", "install", "--quiet", str(src)], env)
        check_installed(python, env)
        if i == 0:
            version = installer_version(name, uv, python, env)
        shutil.rmtree(target)
        if i > 0:  # the first run only warms the cache
            venvs.append(made)
            installs.append(took)
        print(f"  {name} {'warming' if i == 0 else f'run {i}'}: venv {made:.2f} s, "
              f"install {took:.2f} s", flush=True)
    return Installs(name, version, tuple(venvs), tuple(installs))


def installer_version(name: str, uv: str, python: Path, env: dict[str, str]) -> str:
    """``uv 0.x.y`` or the fresh environment's ``pip X.Y``."""
    argv = [uv, "--version"] if name == "uv" else [str(python), "-m", "pip", "--version"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return " ".join(out.split()[:2])  # "uv 0.13.9", "pip 23.2.1"


def section(results: list[Installs], runs: int, packages: int, pip_runs: int) -> str:
    """The Markdown section for bench/RESULTS.md."""
    uv, pip = results

    def med(values: tuple[float, ...]) -> float:
        return statistics.median(values)

    pip_flag = f" --pip-runs {pip_runs}" if pip_runs != runs else ""
    pip_what = f"median of {pip_runs} runs" if pip_runs > 1 else "one run"
    rows = "\n".join(
        f"| {r.version} | {med(r.venv):.2f} s | {med(r.install):.2f} s | "
        f"{med(r.total):.2f} s | {min(r.total):.2f}-{max(r.total):.2f} s |" for r in results)
    return f"""## {ITEM}. Install cost (the `setup` action): uv {med(uv.total):.1f} s, pip {
med(pip.total):.1f} s

Reproduce: `python bench/install_cost.py --runs {runs}{pip_flag}`. Measured
{dt.date.today().isoformat()}; CPython {sys.version.split()[0]}. The package (non-editable,
runtime dependencies only: {packages} distributions in the environment) into a new virtual
environment per run, after one untimed run that warmed the installer's own cache; uv:
median of {runs} runs, pip: {pip_what} (the suite runs pip once: each takes about 30 s):

| installer | create the environment | install | together | fastest-slowest |
|---|---|---|---|---|
{rows}

pip takes {med(pip.total) / med(uv.total):.1f}x uv's time. The `setup` action uses uv when
the runner has it, else pip. Each install builds this package's wheel from its sources
(setuptools), as the action does from its checkout; the dependencies come from the cache.
With pip, creating the environment is `python -m venv` installing pip itself into it (`uv
venv` installs nothing); its install builds the package's wheel in an isolated build
environment and unpacks the dependencies one after the other (uv does both in parallel and
leaves compiling to bytecode to the first import).
"""


def main() -> None:
    """Measure both installers; write the section and the figures."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pip-runs", type=int, default=None,
                        help="timed pip installs (default: --runs; pip's take ~30 s each)")
    parser.add_argument("--no-write", action="store_true",
                        help="print the section, do not write bench/RESULTS.md")
    args = parser.parse_args()
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="release-bench-install-") as tmp:
        work = Path(tmp)
        pip_runs = args.runs if args.pip_runs is None else args.pip_runs
        results = [measure("uv", work, args.runs), measure("pip", work, pip_runs)]
        packages = count_packages(work, copy_sources(work / "src-count"))
    text = section(results, args.runs, packages, pip_runs)
    print(text)
    if args.no_write:
        return
    replace_section(ITEM, text)
    uv, pip = (statistics.median(r.total) for r in results)
    record(ITEM, {"runs": args.runs, "pip_runs": pip_runs, "uv_s": uv, "pip_s": pip,
                  "packages": packages,
                  "uv_venv_s": statistics.median(results[0].venv),
                  "pip_venv_s": statistics.median(results[1].venv)},
           [Headline("install into a fresh venv, warm cache (uv / pip)",
                     f"{uv:.1f} s / {pip:.1f} s")])


def count_packages(work: Path, src: Path) -> int:
    """How many distributions an environment with the package holds (uv, from the cache)."""
    target = work / "env-count"
    env = {**os.environ, "UV_CACHE_DIR": str(work / "cache-uv")}
    env.pop("VIRTUAL_ENV", None)
    uv = uv_binary()
    run([uv, "venv", "--quiet", "--python", sys.executable, str(target)], env)
    run([uv, "pip", "install", "--quiet", "--python", str(target / "bin" / "python"),
         str(src)], env)
    listed = subprocess.run([uv, "pip", "list", "--python", str(target / "bin" / "python"),
                             "--format", "freeze"], env=env, capture_output=True, text=True,
                            check=True, timeout=60).stdout
    return len([line for line in listed.splitlines() if "==" in line])


if __name__ == "__main__":
    main()
