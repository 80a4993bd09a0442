"""The registry and Docker engine the build phase talks to, scripted for adapter tests.

`RegistryStub` is a real HTTP server on 127.0.0.1 answering manifest HEADs for what the
scripted engine pushed (the registry adapter's real HTTP code runs against it); `EngineSdk`
is the slice of the Docker SDK that `DockerEngine` uses, with failures per repository.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RegistryStub:
    """Answers manifest HEADs for what the scripted engine pushed; records the requests."""

    def __init__(self) -> None:
        self.pushed: dict[str, str] = {}
        self.heads: list[tuple[str, str | None]] = []  # (repository:tag, Authorization)
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

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@dataclass
class EngineSdk:
    """The slice of the Docker SDK that ``DockerEngine`` uses, scripted per repository."""

    registry: RegistryStub
    fail_build: set[str] = field(default_factory=set)
    interrupt_push: set[str] = field(default_factory=set)
    built: list[str] = field(default_factory=list)
    auth: list[dict[str, str]] = field(default_factory=list)

    @property
    def api(self) -> EngineSdk:
        return self

    def build(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        repository = kwargs["tag"].split("/", 1)[1].rsplit(":", 1)[0]
        yield {"stream": "Step 1/2 : FROM base\n"}
        if repository in self.fail_build:
            yield {"stream": "RUN make\nmake: *** [all] Error 2\n"}
            yield {"error": "The command '/bin/sh -c make' returned a non-zero code: 2"}
            return
        self.built.append(repository)
        yield {"aux": {"ID": f"sha256:{repository}"}}

    def push(self, image: str, tag: str, **kwargs: Any) -> list[dict[str, Any]]:
        self.auth.append(kwargs.get("auth_config") or {})
        repository = image.split("/", 1)[1]
        if repository in self.interrupt_push:
            raise ConnectionError("Connection reset by peer")
        digest = "sha256:" + f"{abs(hash((repository, tag))):x}".rjust(64, "0")
        self.registry.pushed[f"{repository}:{tag}"] = digest
        return [{"status": "Pushed"}, {"aux": {"Tag": tag, "Digest": digest}}]

    def close(self) -> None:
        pass
