"""The registry and Docker engine the build phase talks to, scripted for adapter tests.

`RegistryStub` is a real HTTP server on 127.0.0.1 answering manifest HEADs for what the
scripted engine pushed, and GETs of those manifests and their configs (a single linux/amd64
image manifest each: the registry adapter's real HTTP code runs against it); `EngineSdk`
is the slice of the Docker SDK that `DockerEngine` uses, with failures per repository.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from release.planning.build_command import Builder


class RegistryStub:
    """Answers manifest HEADs for what the scripted CLI pushed; records the requests."""

    def __init__(self) -> None:
        self.pushed: dict[str, str] = {}
        self.heads: list[tuple[str, str | None]] = []  # (repository:tag, Authorization)
        self.blobs: dict[str, tuple[str, bytes]] = {}  # digest -> (media type, body)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                _, _, rest = self.path.partition("/v2/")
                repository, _, tag = rest.partition("/manifests/")
                stub.heads.append((f"{repository}:{tag}", self.headers.get("Authorization")))
                digest = stub.pushed.get(f"{repository}:{tag}")
                self.send_response(200 if digest else 404)
                if digest:
                    self.send_header("Docker-Content-Digest", digest)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                found = stub.blobs.get(self.path.rsplit("/", 1)[-1])
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", found[0] if found else "text/plain")
                self.send_header("Content-Length", str(len(found[1]) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(found[1])

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def record(self, repository: str, tag: str) -> str:
        """Store a linux/amd64 image manifest for ``repository:tag``; return its digest."""
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "config": {"Labels": {"tag": f"{repository}:{tag}"}}}).encode()
        config_digest = self._store("application/vnd.docker.container.image.v1+json", config)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": len(config), "digest": config_digest},
            "layers": []}).encode()
        digest = self._store("application/vnd.docker.distribution.manifest.v2+json", manifest)
        self.pushed[f"{repository}:{tag}"] = digest
        return digest

    def _store(self, media_type: str, body: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.blobs[digest] = (media_type, body)
        return digest

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


BUILDER = Builder("embedded", "docker", "20.10.24")


@dataclass
class DockerCli:
    """The docker CLI as the build session runs it (a ``docker_cli.Runner``), scripted per
    repository: ``login`` records its argv and stdin, ``build`` prints BuildKit's plain
    progress, ``push`` stores a digest in the registry stub and prints it as docker does."""

    registry: RegistryStub
    fail_build: set[str] = field(default_factory=set)
    interrupt_push: set[str] = field(default_factory=set)
    built: list[str] = field(default_factory=list)
    logins: list[tuple[list[str], str | None]] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    cached: bool = False  # every instruction step reports CACHED
    leak_secrets: bool = False  # the build prints each --secret's value (a careless RUN)

    def __call__(self, argv: Sequence[str], *, env: Mapping[str, str],
                 on_line: Callable[[str], None], stdin: str | None = None,
                 timeout: float) -> int:
        self.calls.append(list(argv))
        verb = argv[1:3]
        if verb[0] == "login":
            self.logins.append((list(argv), stdin))
            on_line("Login Succeeded")
            return 0
        if verb[0] == "build":
            if self.leak_secrets:
                self._leak(argv, env, on_line)
            return self._build(argv, on_line)
        if verb[0] == "push":
            return self._push(argv[2], on_line)
        if verb == ["image", "inspect"]:
            on_line("1985609")
            return 0
        return 1

    def _build(self, argv: Sequence[str], on_line: Callable[[str], None]) -> int:
        ref = argv[list(argv).index("-t") + 1]
        repository = ref.split("/", 1)[1].rsplit(":", 1)[0]
        for line in ("#1 [internal] load build definition from Dockerfile", "#1 DONE 0.0s",
                     "#4 [1/3] FROM docker.io/library/base", "#4 DONE 0.0s",
                     "#5 [2/3] COPY . /app", "#5 CACHED" if self.cached else "#5 DONE 0.1s",
                     "#6 [3/3] RUN make"):
            on_line(line)
        if repository in self.fail_build:
            on_line("#6 0.2 make: *** [all] Error 2")
            on_line("#6 ERROR: executor failed running [/bin/sh -c make]: exit code: 2")
            return 1
        on_line("#6 CACHED" if self.cached else "#6 DONE 0.3s")
        self.built.append(repository)
        return 0

    @staticmethod
    def _leak(argv: Sequence[str], env: Mapping[str, str],
              on_line: Callable[[str], None]) -> None:
        for i, word in enumerate(argv):
            if word == "--secret":
                fields = dict(f.partition("=")[::2] for f in argv[i + 1].split(","))
                value = (env.get(fields.get("env", ""), "") if "env" in fields
                         else Path(fields["src"]).read_text())
                on_line(f"#7 0.1 the secret is {value}")

    def _push(self, ref: str, on_line: Callable[[str], None]) -> int:
        repository, _, tag = ref.split("/", 1)[1].rpartition(":")
        on_line(f"The push refers to repository [{ref.rsplit(':', 1)[0]}]")
        if repository in self.interrupt_push:
            on_line("read tcp: connection reset by peer")
            return 1
        digest = self.registry.record(repository, tag)  # a manifest GET answers it
        on_line(f"{tag}: digest: {digest} size: 528")
        return 0
