"""The front's transparent half: read a request's body (bounded), send it to moto unchanged
and bring moto's answer back, for every protocol moto serves (JSON, query/XML, REST).

Only hop-by-hop headers (RFC 9110 7.6.1) are dropped on the way; ``Host`` travels unchanged,
so moto routes as it would have (S3 by host and path, the rest by the signature's scope or
``X-Amz-Target``) and the URLs it writes into answers name the front. A chunked request body
is de-chunked and sent with its ``Content-Length``; ``aws-chunked`` content (S3's signed
streaming) is left to moto, byte for byte.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_BODY = 64 * 1024 * 1024
_MAX_LINE = 8 * 1024
# hop-by-hop: they describe one connection, not the message (Content-Length is recomputed)
_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
    "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "expect",
    "content-length",
})


class BodyError(Exception):
    """The request's body cannot be read (too large, malformed chunking, short)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Reply:
    """An answer to send back: status, headers in order (repeats kept), body."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reason: str = ""


def read_body(stream: io.BufferedIOBase, headers: Iterable[tuple[str, str]], limit: int) -> bytes:
    """The request body: ``Content-Length`` bytes or the de-chunked body, at most ``limit``."""
    fields = {name.lower(): value for name, value in headers}
    if "chunked" in fields.get("transfer-encoding", "").lower():
        return _read_chunked(stream, limit)
    raw = fields.get("content-length", "0").strip() or "0"
    if not raw.isdigit():
        raise BodyError(400, f"bad Content-Length {raw!r}")
    length = int(raw)
    if length > limit:
        raise BodyError(413, f"request body of {length} bytes is over {limit}")
    body = stream.read(length) if length else b""
    if len(body) != length:
        raise BodyError(400, "request body ended early")
    return body


def _read_chunked(stream: io.BufferedIOBase, limit: int) -> bytes:
    """Read ``Transfer-Encoding: chunked`` to its end (trailers are read and dropped)."""
    parts: list[bytes] = []
    total = 0
    while True:
        line = stream.readline(_MAX_LINE)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BodyError(400, "malformed chunk size") from None
        if size == 0:
            break
        total += size
        if total > limit:
            raise BodyError(413, f"request body is over {limit} bytes")
        chunk = stream.read(size)
        if len(chunk) != size or stream.read(2) != b"\r\n":
            raise BodyError(400, "request body ended early")
        parts.append(chunk)
    while stream.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
        pass  # trailer fields
    return b"".join(parts)


def end_to_end(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` without the hop-by-hop ones (and Content-Length, set from the body)."""
    return [(name, value) for name, value in headers if name.lower() not in _HOP]


def forward(
    upstream: tuple[str, int],
    method: str,
    path: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    timeout: float,
    limit: int = MAX_BODY,
) -> Reply:
    """Send the request to ``upstream`` as it came; moto's answer, or a 502 if none came."""
    connection = http.client.HTTPConnection(*upstream, timeout=timeout)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in end_to_end(headers):
            connection.putheader(name, value)
        if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        data = response.read(limit + 1)
        if len(data) > limit:
            return _gateway_error(f"moto's answer is over {limit} bytes")
        return Reply(response.status, _answer_headers(method, response, data), data,
                     response.reason)
    except (OSError, http.client.HTTPException) as error:
        return _gateway_error(f"moto did not answer: {error}")
    finally:
        connection.close()


def _answer_headers(
    method: str, response: http.client.HTTPResponse, data: bytes
) -> list[tuple[str, str]]:
    """moto's headers, end to end; Content-Length from the body (HEAD keeps moto's own)."""
    kept = end_to_end(response.getheaders())
    length = response.getheader("Content-Length")
    if method == "HEAD":
        if length is not None:
            kept.append(("Content-Length", length))
    elif response.status >= 200 and response.status not in (204, 304):
        kept.append(("Content-Length", str(len(data))))
    return kept


def _gateway_error(message: str) -> Reply:
    """A 502 in plain text: moto is down, slow or answered too much."""
    body = message.encode()
    return Reply(502, [("Content-Type", "text/plain; charset=utf-8"),
                       ("Content-Length", str(len(body)))], body, "Bad Gateway")


def shut(sock: socket.socket) -> None:
    """End a client connection now (its handler thread's next read returns)."""
    with contextlib.suppress(OSError):  # already closed by the client or the handler
        sock.shutdown(socket.SHUT_RDWR)
