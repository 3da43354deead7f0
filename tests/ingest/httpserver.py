"""Real HTTP servers on loopback for the fetcher and poller tests.

The site under test listens on 127.0.0.2, which the tests' fetchers allow-list. A sentinel server on
127.0.0.1 (not allow-listed) counts accepted connections, so "refused before any connection" is
checked from the server side, not inferred. Every request is recorded (`Site.hits`) with its headers.

The fixtures are defined under a ``*_fixture`` name and registered as ``serve``, ``site`` and
``sentinel`` by ``tests/ingest/conftest.py``: a test module asks for the short names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

__all__ = [
    "CHUNK",
    "SITE_HOST",
    "TWENTY_MB",
    "Hit",
    "Route",
    "Site",
    "hung_up",
    "redirect",
    "respond",
    "sentinel_fixture",
    "serve_fixture",
    "site_fixture",
    "stream_bytes",
]

SITE_HOST = "127.0.0.2"
CHUNK = b"x" * 65536
TWENTY_MB = 20 * 1024 * 1024

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    started: float
    finished: float | None = None


@dataclass
class Site:
    host: str
    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    connections: int = 0
    bytes_sent: int = 0

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a handler still sleeping for a timeout test must not hold up teardown
    site: Site

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.site.connections += 1
        return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stall

    def do_GET(self) -> None:
        site = self.server.site
        hit = Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
        site.hits.append(hit)
        route = site.routes.get(urlsplit(self.path).path)
        try:
            if route is None:
                respond(404, b"not found")(self)
            else:
                route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the fetcher hung up on purpose (too large, timeout)
        finally:
            hit.finished = time.monotonic()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def hung_up(site: Site, path: str) -> bool:
    """Whether every request for ``path`` has finished on the server side (the client hung up)."""
    served = [hit for hit in site.hits if urlsplit(hit.path).path == path]
    return bool(served) and all(hit.finished is not None for hit in served)


def respond(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return route


def redirect(location: str, status: int = 302) -> Route:
    return respond(status, headers={"Location": location})


def stream_bytes(
    total: int, *, declare_length: bool, content_type: str = "text/html", head: bytes = b""
) -> Route:
    """Send `head`, then filler up to `total` bytes in 64 KiB chunks without ever holding them."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        if declare_length:
            handler.send_header("Content-Length", str(total))
        handler.end_headers()
        site = handler.server.site  # type: ignore[attr-defined]
        handler.wfile.write(head)
        sent = len(head)
        while sent < total:
            handler.wfile.write(CHUNK)
            sent += len(CHUNK)
            site.bytes_sent = sent

    return route


@pytest.fixture(name="serve")
def serve_fixture() -> Iterator[Callable[[str], Site]]:
    servers: list[_Server] = []

    def start(host: str) -> Site:
        server = _Server((host, 0), _Handler)
        server.site = Site(host, server.server_address[1])
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
        return server.site

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(name="site")
def site_fixture(serve: Callable[[str], Site]) -> Site:
    return serve(SITE_HOST)


@pytest.fixture(name="sentinel")
def sentinel_fixture(serve: Callable[[str], Site]) -> Site:
    """A server on 127.0.0.1, which is NOT allow-listed: it must never see a connection."""
    return serve("127.0.0.1")
