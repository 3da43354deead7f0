"""What changed: each replica polls the write marks of ``story_views`` for views written since it
last looked.

One small query every ``poll_interval_s`` per replica gives both the **data version** (which keys
the response cache) and the **live stream** (SSE). The query reads ``story_view_writes``, one small
mark per story that score rewrites after each view write (``common.views.VIEW_WRITES``), then the
cards of the new writes by ``_id``: on FerretDB 1.x a range query scans and decodes every document,
and whole views made that scan grow with every story kept. Polling the store, rather than consuming
``story.scored``, is what works with any number of gateway replicas and no coordination: every
replica sees the same store, needs no consumer group or offsets, and an event is only announced
once the view it names can actually be read from any replica. Resume after a reconnect is a query
on ``updated_at``, so a client may reconnect to a different replica.

The same loop feeds the replica's in-memory read model (``memory.ReadModel``): it loads the live
cards once at start, then applies each poll's new cards *before* the data version moves, so a
response cached under the new version was computed from them. The poll backs off while nothing
changes (``interval_s`` doubling up to ``max_interval_s``) and is back at ``interval_s`` after a
change: an idle replica polls once every ``max_interval_s``, a busy one stays fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from prometheus_client import Counter, Gauge

from tellwell.gateway.domain import InvalidQuery, story_card
from tellwell.gateway.memory import ReadModel
from tellwell.gateway.repository import StoryViews

log = logging.getLogger(__name__)

STREAM_CLIENTS = Gauge("tellwell_gateway_stream_clients", "Open SSE connections")
POLL_FAILURES = Counter("tellwell_gateway_poll_failures_total", "Failed polls of story_views")
CHANGES_SEEN = Counter("tellwell_gateway_changes_total", "Story view writes seen by the poller")
POLLS = Counter("tellwell_gateway_polls_total", "Polls of the story view write marks")
MODEL_STORIES = Gauge("tellwell_gateway_model_stories", "Live stories held by the in-memory read model")
MODEL_LOADS = Counter("tellwell_gateway_model_loads_total", "Loads of the in-memory read model", ["result"])

POLL_BATCH = 1000
SUBSCRIBER_QUEUE = 1000


@dataclass(frozen=True, slots=True)
class StoryEvent:
    """One SSE event: a story view was written. ``id`` orders events and resumes a stream."""

    id: str
    data: bytes

    def encode(self) -> bytes:
        return b"id: " + self.id.encode() + b"\nevent: story\ndata: " + self.data + b"\n\n"


def event_id(doc: dict[str, Any]) -> str:
    """``<updated_at in ms>.<story id>``: sortable by time, unique per write of a story."""
    return f"{int(doc['updated_at'].timestamp() * 1000)}.{doc['_id']}"


def parse_event_id(raw: str) -> datetime:
    """The write time an event id names (``Last-Event-ID``); ``InvalidQuery`` if it is not ours."""
    millis, sep, story_id = raw.partition(".")
    if not sep or not millis.isdigit() or not story_id or len(millis) > 15:
        raise InvalidQuery("Last-Event-ID", f"{raw[:60]!r} is not an event id of this stream")
    return datetime.fromtimestamp(int(millis) / 1000, UTC)


def to_event(doc: dict[str, Any]) -> StoryEvent:
    return StoryEvent(event_id(doc), orjson.dumps(story_card(doc)))


class ChangeFeed:
    """The replica's view of change: a data ``version`` and a fan-out of new story events."""

    def __init__(
        self,
        views: StoryViews,
        *,
        interval_s: float,
        lookback_s: float,
        max_interval_s: float | None = None,
        model: ReadModel | None = None,
    ) -> None:
        self.views = views
        self.interval_s = interval_s
        self.max_interval_s = max(interval_s, max_interval_s if max_interval_s is not None else interval_s)
        self.delay_s = interval_s  # until the next poll: grows while nothing changes
        self.model = model
        self.lookback = timedelta(seconds=lookback_s)
        self.version = 0
        self.newest: datetime | None = None
        self._seen: set[tuple[str, int, datetime]] = set()  # (story, version, updated_at), recent only
        self._subscribers: set[asyncio.Queue[StoryEvent | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._listeners: list[Any] = []
        self._started = False
        self._polling = asyncio.Lock()  # one poll at a time (the loop's, or a caller's)
        self._changed_quietly = False  # a poll that changed the model but announced nothing

    def on_change(self, callback: Any) -> None:
        """Call ``callback()`` whenever the version changes (the response cache empties itself)."""
        self._listeners.append(callback)

    async def start(self) -> None:
        try:
            await self.start_position()
            # After the position above: a write the load misses is newer than it, so a poll sees it.
            await self.load_model()
        except Exception:  # the store may come later: the loop keeps trying, readiness reports it
            log.warning("story_views not reachable at start; will keep polling", exc_info=True)
        self._task = asyncio.create_task(self._run(), name="gateway-change-feed")

    async def load_model(self) -> None:
        """Fill the read model with the newest live cards (at most its cap) and bound what is left."""
        model = self.model
        if model is None:
            return
        try:
            left_out = await model.load(self.views.iter_live_cards(model.cap + 1))
            if left_out is not None:  # more live stories than the cap: bound what stays out
                model.finish_load(left_out, await self.views.hottest_until(left_out))
        except Exception:
            MODEL_LOADS.labels("failed").inc()
            raise
        MODEL_LOADS.labels("ok").inc()
        MODEL_STORIES.set(len(model))
        self._bump()  # answers may now come from the model: nothing cached before is reused

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            # PyMongo can turn a cancellation inside server selection into its own error, which the
            # loop survives: the flag ends it, the timeout bounds the wait.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 5)
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    async def _run(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.delay_s)
            try:
                if not self._started:  # the store was not there at start
                    await self.start_position()
                if self.model is not None and not self.model.loaded:
                    await self.load_model()
                changed = bool(await self.poll_once()) or self._changed_quietly
            except Exception:
                POLL_FAILURES.inc()
                log.warning("polling story_views failed", exc_info=True)
                changed = False
            self.delay_s = next_delay(self.delay_s, changed, self.interval_s, self.max_interval_s)

    async def start_position(self) -> None:
        """Where polling starts: the newest write now. What is already there is not news."""
        self.newest = await self.views.latest_update()
        if self.newest is not None:
            recent = await self.views.writes_since(self.newest - self.lookback, POLL_BATCH)
            self._seen.update(_write_of(d) for d in recent)
        self._started = True

    async def poll_once(self) -> list[StoryEvent]:
        """Look for writes since the newest one seen (minus the clock-skew look-back); announce them."""
        async with self._polling:
            return await self._poll()

    async def _poll(self) -> list[StoryEvent]:
        POLLS.inc()
        self._changed_quietly = False
        since = self.newest - self.lookback if self.newest is not None else None
        marks = {_write_of(d) for d in await self.views.writes_since(since, POLL_BATCH)} - self._seen
        if not marks:
            return []
        # The cards of the new writes only. A view rewritten since its mark is announced as it is now
        # (its own mark follows); one not yet at its mark's version waits for the next poll.
        wanted = {story: version for story, version, _ in marks}
        docs = {d["_id"]: d for d in await self.views.cards(wanted)}
        fresh = sorted(
            (
                d
                for d in docs.values()
                if d.get("version", 0) >= wanted[d["_id"]] and _write_of(d) not in self._seen
            ),
            key=lambda d: (d["updated_at"], d["_id"]),  # event ids in order: a resume takes what follows
        )
        # A mark is done with once its view is at least that new, or gone (deleted views).
        self._seen.update(m for m in marks if m[0] not in docs or docs[m[0]].get("version", 0) >= m[1])
        self.newest = max([m[2] for m in marks] + ([self.newest] if self.newest else []))
        gone = {m[0] for m in marks if m[0] not in docs}  # deleted views
        model_changed = self.model.apply(fresh, gone) if self.model is not None else False
        if self.model is not None:
            MODEL_STORIES.set(len(self.model))
        if not fresh:
            if model_changed:
                self._bump()
                self._changed_quietly = True
            return []
        self._seen.update(_write_of(d) for d in fresh)
        horizon = self.newest - self.lookback
        self._seen = {w for w in self._seen if w[2] >= horizon}
        CHANGES_SEEN.inc(len(fresh))
        self._bump()
        events = [to_event(d) for d in fresh]
        for queue in list(self._subscribers):
            for event in events:
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:  # a stalled client: end its stream, it resumes by id
                    self._subscribers.discard(queue)
                    queue.get_nowait()
                    queue.put_nowait(None)
                    break
        return events

    def _bump(self) -> None:
        self.version += 1
        for callback in self._listeners:
            callback()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[StoryEvent | None]]:
        """A queue of the events announced from now on; ``None`` means the stream must end."""
        queue: asyncio.Queue[StoryEvent | None] = asyncio.Queue(SUBSCRIBER_QUEUE)
        self._subscribers.add(queue)
        STREAM_CLIENTS.inc()
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
            STREAM_CLIENTS.dec()

    async def replay(self, after_id: str, limit: int) -> list[StoryEvent]:
        """Events after ``after_id`` read from the store (a resumed stream; any replica can answer)."""
        since = parse_event_id(after_id)
        docs = await self.views.updated_since(since, limit + 50)
        return [e for e in map(to_event, docs) if _after(e.id, after_id)][:limit]


def next_delay(delay_s: float, changed: bool, interval_s: float, max_interval_s: float) -> float:
    """The wait before the next poll: back to ``interval_s`` after a change, else twice the last
    wait, at most ``max_interval_s``."""
    return interval_s if changed else min(max_interval_s, delay_s * 2)


def _write_of(doc: dict[str, Any]) -> tuple[str, int, datetime]:
    return doc["_id"], doc.get("version", 0), doc["updated_at"]


def _after(candidate: str, last: str) -> bool:
    c_ms, _, c_id = candidate.partition(".")
    l_ms, _, l_id = last.partition(".")
    return (int(c_ms), c_id) > (int(l_ms), l_id)
