"""S3 uploads publish only regular files from inside the repository (issue 13, item 2).

Someone who can push a branch can commit ``model/shadow -> /etc/shadow``. The deploy walks
each s3_files source with ``repo_files.files_under`` and opens what it uploads with
``O_NOFOLLOW | O_NONBLOCK``, so a link out of the repository (a file, a directory, the source
itself), ``/proc/self/environ``, ``/dev/zero``, a FIFO or a link loop is refused as a located
config problem (``S3SourceError``: the service's failure in a deploy, exit code 2 on its
own, the release.yaml line of the s3_files entry) before anything is read or sent, and a
link inside the repository publishes its target's content with its target's checksum.

The config is loaded from a clean repository first, then the hostile change is made on disk:
the loader refuses these too, and this is the deploy's own line of defence behind it. S3 is
moto, in this process.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakecloud import FakeAws

from release.adapters.aws import s3
from release.config.load import load_config
from release.config.model import ServiceDeployment
from release.engine import plan as engine_plan
from release.engine.context import Context
from release.engine.targets import Wanted, s3_files
from release.errors import EXIT_CONFIG
from release.repo_files import PathRefused

DECOY = "DECOY-CONTENT-FROM-OUTSIDE-THE-REPOSITORY"
BUCKET = "acme-dev-artifacts"
RELEASE_YAML = """\
version: 1
services:
  models:
    context: services/models
    s3_files:
      - source: services/models/model
        key: models/${env}/
      - source: shared/config.json
        key: config/${service}.json
"""
ENV_YAML = """\
name: dev
aws:
  region: eu-west-1
  account_id: "123456789012"
  role_arn: arn:aws:iam::123456789012:role/release-dev
registry:
  type: ecr
s3:
  bucket: acme-dev-artifacts
services:
  models: {}
"""
FILES = {
    "release.yaml": RELEASE_YAML,
    "environments/dev.yaml": ENV_YAML,
    "services/models/Dockerfile": "FROM busybox\n",
    "services/models/model/weights.txt": "0.1 0.2 0.3\n",
    "services/models/model/sub/vocab.txt": "a b c\n",
    "shared/config.json": "{}\n",
    "shared/big/weights.bin": "big weights v1\n",
}


@dataclass
class World:
    """A repository with its config loaded, an S3 bucket, and the deploy's context."""

    root: Path
    outside: Path
    client: Any
    ctx: Context
    dep: ServiceDeployment

    def deploy(self) -> str:
        """What a deploy does for the s3_files target (observe, plan, apply), in words."""
        seen = engine_plan.observe(self.ctx, self.dep)
        want = Wanted(None, "k")
        decision = s3_files.KIND.decide(self.ctx, self.dep, seen, want)
        done = s3_files.KIND.apply(self.ctx, self.dep, decision, seen, want)
        step = decision.step
        return done.detail if step.action != "none" else step.reason

    def objects(self) -> dict[str, tuple[bytes, str | None]]:
        """Key -> (body, recorded checksum) of everything in the bucket."""
        listed = self.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        out = {}
        for item in listed:
            got = self.client.get_object(Bucket=BUCKET, Key=item["Key"])
            out[item["Key"]] = (got["Body"].read(), got["Metadata"].get(s3.CHECKSUM_KEY))
        return out


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    import boto3
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    root, outside = tmp_path / "repo", tmp_path / "outside"
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.txt").write_text(DECOY + "\n")
    (outside / "dir" / "secret.txt").write_text(DECOY + "\n")
    config = load_config(root, ("dev",))
    env = config.environments["dev"]
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket=BUCKET,
                             CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        ctx = Context(config, env, FakeAws(s3=client), commit="0" * 40)  # type: ignore[arg-type]
        yield World(root, outside, client, ctx, env.deployments["models"])


def link(world: World, rel: str, target: str) -> None:
    path = world.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path)
    path.symlink_to(target.format(outside=world.outside))


@contextmanager
def bounded(seconds: int = 20) -> Iterator[None]:
    """Fail instead of hanging (a FIFO opened for reading, /dev/zero read to the end)."""
    def expire(*_: object) -> None:
        pytest.fail("the deploy hung instead of refusing the file")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- accepted: regular files, and links that stay inside the repository ------------------

def test_a_deploy_uploads_each_file_with_its_checksum_then_nothing(world: World) -> None:
    assert world.deploy() == "3 files uploaded"
    objects = world.objects()
    assert objects == {
        "models/dev/weights.txt": (b"0.1 0.2 0.3\n", sha256(b"0.1 0.2 0.3\n")),
        "models/dev/sub/vocab.txt": (b"a b c\n", sha256(b"a b c\n")),
        "config/models.json": (b"{}\n", sha256(b"{}\n")),
    }
    assert world.deploy() == "3 files up to date"


def test_a_link_inside_the_repository_publishes_its_target(world: World) -> None:
    link(world, "services/models/model/big.bin", "../../../shared/big/weights.bin")
    link(world, "services/models/model/more", "../../../shared/big")
    with bounded():
        world.deploy()
    objects = world.objects()
    target = b"big weights v1\n"
    assert objects["models/dev/big.bin"] == (target, sha256(target))
    assert objects["models/dev/more/weights.bin"] == (target, sha256(target))
    # A change to the target (not to the link) is seen and published.
    (world.root / "shared" / "big" / "weights.bin").write_bytes(b"big weights v2\n")
    assert world.deploy() == "2 files uploaded"
    assert world.objects()["models/dev/big.bin"] == (b"big weights v2\n",
                                                     sha256(b"big weights v2\n"))


def test_a_source_that_is_a_link_inside_the_repository_is_published(world: World) -> None:
    link(world, "services/models/model", "../../shared/big")
    world.deploy()
    assert set(world.objects()) == {"models/dev/weights.bin", "config/models.json"}


# --- refused: outside the repository, special files, loops ---------------------------------

REFUSED = {
    "file-link-outside": ({"services/models/model/shadow": "{outside}/secret.txt"},
                          "leads outside the repository"),
    "etc-shadow": ({"services/models/model/shadow": "/etc/shadow"},
                   "leads outside the repository"),
    "proc-environ": ({"services/models/model/environ": "/proc/self/environ"},
                     "leads outside the repository"),
    "dev-zero": ({"services/models/model/zero": "/dev/zero"}, "leads outside the repository"),
    "relative-link-outside": ({"services/models/model/up": "../../../../outside/secret.txt"},
                              "leads outside the repository"),
    "dir-link-outside": ({"services/models/model/ext": "{outside}/dir"},
                         "leads outside the repository"),
    "source-is-link-outside": ({"services/models/model": "{outside}/dir"},
                               "leads outside the repository"),
    "link-loop": ({"services/models/model/loop": "."}, "symbolic link loop"),
    "link-loop-up": ({"services/models/model/sub/up": ".."}, "symbolic link loop"),
    "file-link-cycle": ({"services/models/model/a": "b", "services/models/model/b": "a"},
                        "symbolic link loop"),
    "dangling": ({"services/models/model/gone": "nothing-here"}, "symbolic link to nothing"),
}


@pytest.mark.parametrize("name", [*REFUSED, "fifo"])
def test_what_leaves_the_repository_or_is_not_a_file_is_refused(world: World,
                                                                 name: str) -> None:
    if name == "fifo":
        os.mkfifo(world.root / "services/models/model/pipe")
        words = "a named pipe (FIFO), not a regular file"
    else:
        links, words = REFUSED[name]
        for rel, target in links.items():
            link(world, rel, target)
    with bounded(), pytest.raises(s3_files.S3SourceError) as caught:
        world.deploy()
    error = caught.value
    assert error.exit_code == EXIT_CONFIG
    problem = error.problem
    assert problem.file == "release.yaml"
    assert problem.field == "services.models.s3_files[0].source"
    lines = RELEASE_YAML.splitlines()
    assert problem.line is not None
    assert "source: services/models/model" in lines[problem.line - 1]
    assert words in problem.message
    # What a deploy prints for the failed service: service, target, location, path, fix.
    assert error.message.startswith(
        f"models: s3_files: release.yaml:{problem.line}: services.models.s3_files[0].source: ")
    assert "'services/models/model" in error.message
    assert error.hint
    assert DECOY not in error.message + error.hint
    assert world.objects() == {}  # nothing at all was uploaded


def test_a_problem_without_its_line_still_names_service_path_and_fix(world: World) -> None:
    link(world, "services/models/model/shadow", "/etc/shadow")
    (world.root / "release.yaml").unlink()  # the line cannot be found: still a located field
    with pytest.raises(s3_files.S3SourceError) as caught:
        s3_files.local_files(world.ctx, world.dep)
    problem = caught.value.problem
    assert problem.line is None
    assert problem.field == "services.models.s3_files[0].source"
    assert "'services/models/model/shadow'" in problem.message
    assert problem.hint


# --- the open itself: what was swapped in after the walk ------------------------------------

def test_a_file_swapped_for_a_fifo_after_the_walk_is_refused_without_blocking(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    files = s3_files.local_files(world.ctx, world.dep)
    path = files["models/dev/weights.txt"]
    path.unlink()
    os.mkfifo(path)
    monkeypatch.setattr(s3_files, "local_files", lambda _ctx, _dep: files)  # walked before
    with bounded(), pytest.raises(s3_files.S3SourceError) as caught:
        world.deploy()
    problem = caught.value.problem
    assert "a named pipe (FIFO), not a regular file" in problem.message
    assert problem.field == "services.models.s3_files"
    with bounded(), pytest.raises(PathRefused):
        s3.publish(world.client, BUCKET, "k", path, None)
    assert world.objects() == {}


def test_a_file_swapped_for_a_link_after_the_walk_is_not_followed(world: World) -> None:
    files = s3_files.local_files(world.ctx, world.dep)
    path = files["models/dev/weights.txt"]
    path.unlink()
    path.symlink_to(world.outside / "secret.txt")
    with pytest.raises(PathRefused) as caught:
        s3.sha256_of(path)
    assert "cannot be read" in caught.value.message
    with pytest.raises(PathRefused):
        s3.publish(world.client, BUCKET, "k", path, None)
    assert world.objects() == {}


class RecordingS3:
    """Records what ``put_object`` was given; reads the body the way botocore does."""

    def __init__(self) -> None:
        self.bodies: list[tuple[type, bytes, dict[str, str]]] = []

    def put_object(self, **call: Any) -> None:
        body = call["Body"]
        chunks = iter(lambda: body.read(1 << 16), b"")
        self.bodies.append((type(body), b"".join(chunks), call["Metadata"]))


def test_a_large_file_is_streamed_and_its_checksum_is_of_the_bytes_sent(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    fake = RecordingS3()
    assert s3.publish(fake, BUCKET, "k", path, None) is True
    [(kind, sent, metadata)] = fake.bodies
    assert not issubclass(kind, (bytes, bytearray, io.BytesIO))  # a file handle, streamed
    assert sent == data
    assert metadata == {s3.CHECKSUM_KEY: sha256(data)}
    assert s3.sha256_of(path) == sha256(data)
    # Already there with this content: nothing is sent.
    assert s3.publish(fake, BUCKET, "k", path, sha256(data)) is False
    assert len(fake.bodies) == 1
