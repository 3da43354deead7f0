"""Serialised responses kept in memory, keyed by (data version, query).

Serialisation, not I/O, is the gateway's cost (DESIGN §7): a cached page is served as the bytes it
was rendered to, with a strong ETag computed once from those bytes. A new data version (a story
view was written) empties the cache; entries are also bounded in number (oldest dropped first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response

from tellwell.gateway.domain import etag_of

CACHE_LOOKUPS = Counter("tellwell_gateway_cache_total", "Response cache lookups", ["result"])
_HIT = CACHE_LOOKUPS.labels("hit")
_MISS = CACHE_LOOKUPS.labels("miss")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A response body ready to send, with its ETag."""

    body: bytes
    etag: str
    media_type: str
    status: int = 200


class ResponseCache:
    """Bounded map from a key to a ``Rendered``; concurrent misses of one key render it once."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: dict[Hashable, Rendered] = {}
        self._pending: dict[Hashable, asyncio.Future[Rendered]] = {}

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, render: Callable[[], Awaitable[Rendered]]) -> Rendered:
        entry = self._entries.get(key)
        if entry is not None:
            _HIT.inc()
            return entry
        pending = self._pending.get(key)
        if pending is not None:  # someone is rendering it right now: wait for theirs
            return await asyncio.shield(pending)
        _MISS.inc()
        future: asyncio.Future[Rendered] = asyncio.get_running_loop().create_future()
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
    """The response for a rendered entry: 304 when the client already holds these bytes."""
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
