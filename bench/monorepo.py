"""Generate a synthetic monorepo for planning benchmarks.

    python bench/monorepo.py DIR [--services 1000] [--files 100000] [--commits 300]

Services under services/svc-NNNN (70% Lambda, 30% ECS with a task definition each),
shared libraries under libs/lib-NN that services (and other libraries) use, a few hundred
commits touching a few files each, written with `git fast-import` so generation is quick.
``cached()`` keeps each generated repository under a directory named by its parameters,
so a second benchmark run skips generation (a 100,000-file repository takes ~15-40 s:
the checkout writing the files is most of it).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
from pathlib import Path

import yaml

TASK = {"family": "${env}-${service}", "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "placeholder", "essential": True,
                                  "portMappings": [{"containerPort": 80}]}]}


def _blob(out: list[bytes], mark: int, data: bytes) -> None:
    out.append(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data))


def _history(tree: dict[str, bytes], rng: random.Random, commits: int) -> bytes:
    """A `git fast-import` stream: one commit with ``tree``, then ``commits`` small edits."""
    stream: list[bytes] = []
    marks: dict[str, int] = {}
    for path, data in tree.items():
        marks[path] = len(marks) + 1
        _blob(stream, marks[path], data)
    stream.append(b"commit refs/heads/main\ncommitter bench <b@example.invalid> 1700000000 +0000\n"
                  b"data 7\ninitial\n")
    stream.extend(b"M 100644 :%d %s\n" % (mark, path.encode()) for path, mark in marks.items())
    paths = [p for p in tree if p.endswith(".py")]
    next_mark = len(marks) + 1
    for n in range(commits):
        changes = []
        for path in rng.sample(paths, 3):
            _blob(stream, next_mark, f"# edited in commit {n}\n".encode())
            changes.append(b"M 100644 :%d %s\n" % (next_mark, path.encode()))
            next_mark += 1
        stream.append(b"commit refs/heads/main\ncommitter bench <b@example.invalid> %d +0000\n"
                      b"data %d\n%s\n" % (1700000000 + n + 1, len(f"c{n}"), f"c{n}".encode()))
        stream.extend(changes)
    return b"".join(stream)


def generate(root: Path, services: int, files: int, commits: int, seed: int = 7, *,
             dockerignore: bool = False) -> None:
    """Write the repository at ``root`` (which must not exist); with ``dockerignore``, each
    service's context has a ``.dockerignore`` (one of its files, so the total is unchanged)."""
    rng = random.Random(seed)
    libs = max(1, services // 20)
    lib_files = max(1, files // 10 // libs)
    svc_files = max(3, (files - libs * lib_files) // services)
    tree: dict[str, bytes] = {}
    spec: dict[str, object] = {"version": 1, "defaults": {"platform": "linux/amd64"},
                               "libraries": {}, "services": {}}
    library_specs: dict[str, dict[str, object]] = {}
    for i in range(libs):
        name = f"lib-{i:02}"
        used = sorted({f"lib-{j:02}" for j in rng.sample(range(i), min(i, rng.randint(0, 2)))})
        library_specs[name] = {"path": f"libs/{name}", **({"uses": used} if used else {})}
        for f in range(lib_files):
            tree[f"libs/{name}/src/m{f:04}.py"] = f"# {name} module {f}\n".encode()
    spec["libraries"] = library_specs
    env_services: dict[str, object] = {}
    for i in range(services):
        name = f"svc-{i:04}"
        base = f"services/{name}"
        tree[f"{base}/Dockerfile"] = b"FROM base\nCOPY . /app\n"
        if dockerignore:
            tree[f"{base}/.dockerignore"] = b"# not sent to the build\n*.md\ntask.json\n"
        body: dict[str, object] = {"context": base}
        picked = rng.sample(range(libs), rng.randint(0, min(3, libs)))
        uses = sorted({f"lib-{j:02}" for j in picked})
        if uses:
            body["uses"] = uses
        if i % 10 < 3:
            tree[f"{base}/task.json"] = json.dumps(TASK).encode()
            body["ecs"] = {"task_definition": f"{base}/task.json"}
            env_services[name] = {"ecs": {"cpu": "256"}}
        else:
            body["lambda"] = {}
            env_services[name] = {}
        spec["services"][name] = body  # type: ignore[index]
        for f in range(svc_files - 2 - int(dockerignore)):
            tree[f"{base}/src/f{f:04}.py"] = f"# {name} file {f}\n".encode()
    tree["release.yaml"] = yaml.safe_dump(spec, sort_keys=False).encode()
    env = {"name": "bench",
           "aws": {"region": "eu-west-1", "account_id": "123456789012",
                   "role_arn": "arn:aws:iam::123456789012:role/bench",
                   "endpoint_url": "http://127.0.0.1:9"},
           "registry": {"type": "ecr"}, "ecs": {"cluster": "bench"}, "services": env_services}
    tree["environments/bench.yaml"] = yaml.safe_dump(env, sort_keys=False).encode()

    stream = _history(tree, rng, commits)
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "fast-import", "--quiet"], input=stream,
                   check=True)
    subprocess.run(["git", "-C", str(root), "checkout", "-q", "-f", "main"], check=True)


GENERATOR_VERSION = 2  # bump when generate() makes a different repository


def cached(base: Path, services: int, files: int, commits: int, *,
           dockerignore: bool = False) -> Path:
    """The repository for these parameters under ``base``, generated on first use.

    Generated beside its final place and renamed into it, so an interrupted generation
    is never mistaken for a finished one.
    """
    name = f"monorepo-v{GENERATOR_VERSION}-s{services}-f{files}-c{commits}"
    root = base / (name + ("-dockerignore" if dockerignore else "")) / "repo"
    if root.is_dir():
        return root
    partial = root.parent.with_name(root.parent.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    generate(partial / "repo", services, files, commits, dockerignore=dockerignore)
    partial.rename(root.parent)
    return root


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dir", type=Path)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--commits", type=int, default=300)
    args = parser.parse_args()
    generate(args.dir, args.services, args.files, args.commits)


if __name__ == "__main__":
    main()
