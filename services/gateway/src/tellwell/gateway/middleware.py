"""Plain ASGI middleware (no per-request task or body copy, unlike ``BaseHTTPMiddleware``):
security headers on every response, a per-client rate limit, request metrics."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from prometheus_client import Counter, Histogram

from tellwell.common.http import PROBLEM_JSON

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The page loads its own script and stylesheet only; nothing inline, nothing from elsewhere.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's interactive docs (Swagger UI) hold no story text but need an inline script and its
# CDN assets; they alone get a looser policy.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
_COMMON_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
SECURITY_HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), *_COMMON_HEADERS]
DOCS_HEADERS = [(b"content-security-policy", DOCS_CONTENT_SECURITY_POLICY.encode()), *_COMMON_HEADERS]

REQUESTS = Counter("tellwell_gateway_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram(
    "tellwell_gateway_request_seconds",
    "Time to the response head",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
_ROUTE_GROUPS = (
    "/v1/stories",
    "/v1/sources",
    "/v1/categories",
    "/v1/stream",
    "/stories",
    "/static",
    "/feed.",
)


def _route_group(path: str) -> str:
    if path == "/":
        return "/"
    for prefix in _ROUTE_GROUPS:
        if path.startswith(prefix):
            return prefix
    return "other"


class SecurityHeaders:
    """Adds the Content-Security-Policy and friends to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        extra = DOCS_HEADERS if scope["path"] in DOCS_PATHS else SECURITY_HEADERS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


_CHILDREN: dict[Any, Any] = {}  # labelled metric children: ``labels()`` takes a lock per call


def _latency(route: str) -> Any:
    child = _CHILDREN.get(route)
    if child is None:
        child = _CHILDREN[route] = LATENCY.labels(route)
    return child


def _requests(route: str, status: int) -> Any:
    key = (route, status)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = REQUESTS.labels(route, str(status))
    return child


class Metrics:
    """Counts requests by route group and status, and times them to the response head."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = _route_group(scope["path"])
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                _latency(route).observe(time.perf_counter() - started)
                _requests(route, message["status"]).inc()
            await send(message)

        await self.app(scope, receive, timed_send)


class TokenBucketLimiter:
    """Per-client token buckets: ``rate`` tokens a second, up to ``burst``. In memory, per replica."""

    MAX_CLIENTS = 100_000

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def take(self, client: str) -> float:
        """0.0 when the request may go; else the seconds until a token is free."""
        now = self.clock()
        tokens, at = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= self.MAX_CLIENTS and client not in self._buckets:
            self._forget_idle(now)
        self._buckets[client] = (tokens - 1.0, now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        # A bucket idle long enough to be full again holds no information.
        refill = self.burst / self.rate
        self._buckets = {c: (t, at) for c, (t, at) in self._buckets.items() if now - at < refill}


class RateLimit:
    """429 with ``Retry-After`` (problem+json) once a client has spent its bucket.

    Health, readiness, metrics and static files are exempt: probes and page assets must not
    starve the API budget.
    """

    EXEMPT = ("/healthz", "/readyz", "/metrics", "/static/")

    def __init__(self, app: ASGIApp, limiter: TokenBucketLimiter, trust_forwarded_for: bool = False) -> None:
        self.app = app
        self.limiter = limiter
        self.trust_forwarded_for = trust_forwarded_for

    def client_of(self, scope: Scope) -> str:
        if self.trust_forwarded_for:
            for name, value in scope.get("headers", ()):
                if name == b"x-forwarded-for":
                    return str(value.decode("latin-1").split(",")[0].strip())
        client = scope.get("client")
        return str(client[0]) if client else "unknown"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.EXEMPT):
            await self.app(scope, receive, send)
            return
        wait = self.limiter.take(self.client_of(scope))
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        body = orjson.dumps(
            {
                "type": "about:blank",
                "title": "Too Many Requests",
                "status": 429,
                "detail": f"Rate limit of {self.limiter.rate:g} requests/s (burst {self.limiter.burst:g}) "
                f"exceeded; retry in {retry_after} s.",
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
