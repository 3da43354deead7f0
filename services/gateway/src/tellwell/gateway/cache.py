"""Serialised responses kept in memory, keyed by (data version, query).

Serialisation, not I/O, is the gateway's cost (DESIGN §7): a cached page is served as the bytes it
was rendered to, with a strong ETag computed once from those bytes. A new data version (a story
view was written) empties the cache; entries are also bounded in number (oldest dropped first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, MutableMapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response

from tellwell.gateway.domain import etag_of

CACHE_LOOKUPS = Counter(
    "tellwell_gateway_cache_total",
    "Cache lookups by layer (front: before routing; response: rendered bytes; view: parsed views)",
    ["layer", "result"],
)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A response body ready to send, with its ETag."""

    body: bytes
    etag: str
    media_type: str
    status: int = 200


class ResponseCache(Generic[T]):
    """Bounded map from a key to a value (a ``Rendered`` response, a parsed view); concurrent misses
    of one key build it once."""

    def __init__(self, max_entries: int, layer: str = "response") -> None:
        self.max_entries = max_entries
        self._hit = CACHE_LOOKUPS.labels(layer, "hit")
        self._miss = CACHE_LOOKUPS.labels(layer, "miss")
        self._entries: dict[Hashable, T] = {}
        self._pending: dict[Hashable, asyncio.Future[T]] = {}

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, render: Callable[[], Awaitable[T]]) -> T:
        entry = self._entries.get(key)
        if entry is not None:
            self._hit.inc()
            return entry
        pending = self._pending.get(key)
        if pending is not None:  # someone is rendering it right now: wait for theirs
            return await asyncio.shield(pending)
        self._miss.inc()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            entry = await render()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(entry)
        if self.max_entries:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = entry
        return entry


def rendered(body: bytes, media_type: str, status: int = 200) -> Rendered:
    return Rendered(body, etag_of(body), media_type, status)


def send(request: Request, entry: Rendered, cache_control: str) -> Response:
    """The response for a rendered entry: 304 when the client already holds these bytes.

    The entry is also left in the request's scope, for ``FrontCache`` to answer the same request
    next time without routing it.
    """
    request.scope.setdefault("state", {})[FRONT_KEY] = (entry, cache_control)
    headers = {"etag": entry.etag, "cache-control": cache_control}
    inm = request.headers.get("if-none-match")
    if inm and entry.status == 200 and _matches(inm, entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, status_code=entry.status, media_type=entry.media_type, headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    if if_none_match.strip() == "*":
        return True
    tags = (t.strip().removeprefix("W/") for t in if_none_match.split(","))
    return etag in tags


FRONT_KEY = "tellwell.rendered"
_FRONT_HIT = CACHE_LOOKUPS.labels("front", "hit")  # a front miss falls through to the response layer
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class FrontStore:
    """The entries of ``FrontCache``, owned by the app so that a data change can empty them."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: dict[tuple[str, bytes, int, int], tuple[Rendered, list[tuple[bytes, bytes]]]] = {}

    def clear(self) -> None:
        self.entries.clear()


class FrontCache:
    """Answers a repeated GET (same path and query string, same data version, same minute) with the
    bytes its route rendered last time, without routing, dependencies or validation.

    Only responses a route sent through ``send`` (successful, cacheable reads) are remembered; the
    route-level ``ResponseCache`` stays the source of truth (it also serves equal queries spelled
    differently). Cleared with it when the data version changes.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], store: FrontStore) -> None:
        self.app = app
        self.max_entries = store.max_entries
        self._entries = store.entries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self.max_entries:
            await self.app(scope, receive, send)
            return
        changes = getattr(scope["app"].state, "changes", None)
        if changes is None:  # not started (no lifespan): nothing to key on
            await self.app(scope, receive, send)
            return
        # Pages show ages ("39m ago"), so nothing is reused across a minute.
        key = (scope["path"], scope["query_string"], changes.version, int(time.time() // 60))
        hit = self._entries.get(key)
        if hit is None:
            await self.app(scope, receive, send)
            stored = scope.get("state", {}).get(FRONT_KEY)
            if stored is not None and stored[0].status == 200:
                entry, cache_control = stored
                headers = [
                    (b"content-type", entry.media_type.encode()),
                    (b"etag", entry.etag.encode()),
                    (b"cache-control", cache_control.encode()),
                ]
                if len(self._entries) >= self.max_entries:
                    self._entries.pop(next(iter(self._entries)))
                self._entries[key] = (entry, headers)
            return
        _FRONT_HIT.inc()
        entry, headers = hit
        if _client_has(scope, entry.etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers[1:]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*headers, (b"content-length", str(len(entry.body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": entry.body})


def _client_has(scope: Scope, etag: str) -> bool:
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            return _matches(value.decode("latin-1"), etag)
    return False
