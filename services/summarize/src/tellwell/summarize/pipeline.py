"""The summarize pipeline: accept ``story.cluster`` events, debounce per story, summarise, store,
emit ``story.summary``.

Delivery is at-least-once end to end. ``accept`` makes each event durable as a pending document
(``summary_pending``, one immutable document per story and version, see ``repository``) before the
handler returns and Kafka commits the offset. A background flusher summarises due stories:
summary stored, published, then the story's pending versions cleared. A crash anywhere leaves the
pending documents, so the work is redone; a summary already stored for that version is re-emitted
unchanged (same ``event_id``).

What the replica knows of each story is one record (``StoryWork``): its queued work (due time,
version, merge redirect, the accepted event, its pending versions), failures and back-off, when it
was last summarised, whether it is being summarised or rewritten. The durable part is the store's.

Debounce: a story is summarised at most once per ``debounce_s`` and always after its last change
(queued work keeps its due time while newer versions replace its content, so a story that keeps
changing is still summarised every interval rather than starved).

Two replicas: each flushes only the stories whose pending documents it wrote (its partitions),
and takes over another replica's story only when it is ``takeover_s`` overdue (that replica is
gone). Both writing the same version is harmless: summaries are version-checked and deterministic.

The language-model rewrite runs in the background after its version is out. Its write is
version-guarded (it replaces the extractive summary of its own version only), and a story's writes
and their publishing are one at a time in a replica, so a rewrite of v3 finishing after v4 was
stored neither stores nor publishes anything older than v4.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from prometheus_client import Counter, Histogram
from pymongo.errors import PyMongoError

from tellwell.common.events import StoryCluster, StorySummary, utcnow
from tellwell.common.kafka import TRANSIENT_ERRORS
from tellwell.common.sources import Source
from tellwell.summarize import domain
from tellwell.summarize import repository as repo
from tellwell.summarize.category import CategoryModel, bundled_model
from tellwell.summarize.domain import Article, Params
from tellwell.summarize.embedding import SentenceVectors
from tellwell.summarize.settings import Settings

log = logging.getLogger(__name__)

# Infrastructure failures: the pending story is retried next tick without counting an attempt.
RETRYABLE: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, PyMongoError)

Publish = Callable[[Sequence[StorySummary]], Awaitable[None]]

SUMMARIES = Counter("tellwell_summaries_total", "Story summaries emitted", ["method"])
SKIPPED = Counter("tellwell_summary_events_skipped_total", "story.cluster events skipped", ["reason"])
FAILURES = Counter("tellwell_summary_failures_total", "Stories whose summarising failed", ["final"])
LATENCY = Histogram("tellwell_summarize_seconds", "Time to summarise, store and emit one story")
EMBED_LATENCY = Histogram(
    "tellwell_summarize_embed_seconds", "Time to embed one story's candidate sentences (cache misses only)"
)


class Improver(Protocol):
    """A better writer of a summary's prose (the language-model backend)."""

    async def improve(self, summary: StorySummary, articles: Sequence[Article]) -> StorySummary | None: ...


# Records kept in memory before the idle ones are forgotten (a forgotten story is read again).
MAX_RECORDS = 200_000


@dataclass(eq=False, slots=True)
class StoryWork:
    """What this replica knows of one story; the durable part is in the store (its pending
    documents and its summary). Queued while ``due`` is set."""

    story_id: str
    # The newest version this replica made durable (pending or stored): an event at or below it
    # is skipped without a read. 0: not known (``accept`` reads the stored summary).
    known: int = 0
    # The newest version processed (so a stale scan does not redo it).
    done: int = 0
    # Queued work: when it falls due, the version, whether it is a merge redirect, the accepted
    # event (None when adopted by a scan: the pending document is read instead).
    due: datetime | None = None
    version: int = 0
    merged: bool = False
    event: StoryCluster | None = None
    # The pending versions this replica knows (deleted once the queued version is summarised).
    pending: set[int] = field(default_factory=set)
    attempts: int = 0  # failures of the queued version
    retry_at: datetime | None = None
    last_done: datetime | None = None  # when this replica last summarised it
    in_flight: bool = False
    rewrites: int = 0  # language-model rewrites running
    # The story's summary writes, each with its publishing, one at a time: the store and the
    # topic see its versions in the same order.
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)

    def queue(self, due: datetime, version: int, merged: bool, event: StoryCluster | None) -> None:
        if version != self.version:
            self.attempts = 0  # a new version starts with none
        self.due, self.version, self.merged, self.event = due, version, merged, event

    def unqueue(self) -> None:
        self.due, self.event = None, None

    @property
    def idle(self) -> bool:
        return (
            self.due is None
            and not self.in_flight
            and not self.rewrites
            and not self.pending
            and not self.writing.locked()
        )


class Summarizer:
    """The service's core, independent of Kafka: tests drive it directly."""

    def __init__(
        self,
        db: repo.DB,
        publish: Publish,
        config: Settings,
        *,
        improver: Improver | None = None,
        model: CategoryModel | None = None,
        vectors: SentenceVectors | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.publish = publish
        self.config = config
        self.replica = config.replica_id or f"{socket.gethostname()}:{config.port}"
        self.improver = improver
        self.model = model or bundled_model()
        # Sentence vectors for the redundancy rule; None: it reads words only.
        self.vectors = vectors
        self.params = Params(max_articles=config.max_articles)
        self.clock = clock
        self.debounce = timedelta(seconds=config.debounce_s)
        self._wake = asyncio.Event()
        # Seconds to the next pending scan: flush_interval_s while there is work, doubling up to
        # idle_scan_max_s while scans find nothing this replica does not hold (an idle service).
        self._scan_interval = config.flush_interval_s
        self._stopping = False
        # One record per story this replica knows; ``_queued`` indexes those with work queued
        # (the flusher looks at these only).
        self._stories: dict[str, StoryWork] = {}
        self._queued: dict[str, StoryWork] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._articles: OrderedDict[str, repo.Doc] = OrderedDict()
        self._sources: dict[str, tuple[datetime, Source | None]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._semaphore = asyncio.Semaphore(config.concurrency)

    def _story(self, story_id: str) -> StoryWork:
        story = self._stories.get(story_id)
        if story is None:
            story = self._stories[story_id] = StoryWork(story_id)
        return story

    def _queue(
        self, story: StoryWork, due: datetime, version: int, merged: bool, event: StoryCluster | None
    ) -> None:
        story.queue(due, version, merged, event)
        self._queued[story.story_id] = story

    def _unqueue(self, story: StoryWork) -> None:
        story.unqueue()
        self._queued.pop(story.story_id, None)

    def _forget_idle(self) -> None:
        """Bounded memory: drop the records of stories with nothing queued or running."""
        for story_id in [s for s, story in self._stories.items() if story.idle]:
            del self._stories[story_id]

    # ------------------------------------------------------------ accepting events

    async def accept(self, events: Sequence[StoryCluster]) -> None:
        """Make the newest version of each story durable as pending work (before the offset commits).

        One write per batch (``insert_many`` of immutable per-version documents: FerretDB
        serialises writes, so one per story made a batch of 60 stories take a second or more), and
        reads only for stories this replica does not know yet (their stored summary version)."""
        newest: dict[str, StoryCluster] = {}
        for e in events:
            if e.story_id not in newest or e.version > newest[e.story_id].version:
                newest[e.story_id] = e
        SKIPPED.labels("superseded_in_batch").inc(len(events) - len(newest))
        if len(self._stories) > MAX_RECORDS:  # bounded memory; a forgotten story is simply read again
            self._forget_idle()
        unknown = [s for s in newest if s not in self._stories or not self._stories[s].known]
        stored = dict(
            zip(unknown, await asyncio.gather(*(repo.get_summary(self.db, s) for s in unknown)), strict=True)
        )
        now = self.clock()
        accepted: list[tuple[StoryCluster, datetime]] = []
        for story_id, event in newest.items():
            story = self._stories.get(story_id)
            if story is not None and event.version <= story.known:
                SKIPPED.labels("stale").inc()  # this replica already has it pending or stored
                continue
            summary = stored.get(story_id)
            if summary is not None and summary[0].version >= event.version:
                SKIPPED.labels("stale").inc()
                continue
            if event.merged_into is not None:
                due = now  # the survivor's readers need the redirect now
            elif story is not None and story.due is not None:
                due = story.due
            elif summary is not None:
                due = max(now, summary[1] + self.debounce)
            else:
                due = now  # ``_when`` adds the debounce after this replica's last summary
            accepted.append((event, due))
        await repo.put_pending(
            self.db, [repo.pending_doc(e, owner=self.replica, due_at=d, now=now) for e, d in accepted]
        )
        for event, due in accepted:
            story = self._story(event.story_id)
            story.known = event.version
            self._queue(story, due, event.version, event.merged_into is not None, event)
            story.pending.add(event.version)
        self._scan_interval = self.config.flush_interval_s  # busy again: scan at the short interval
        self._wake.set()

    async def _clear(self, story: StoryWork, version: int) -> None:
        """Delete the pending documents of ``version`` and of the older versions this replica knows."""
        done = {v for v in story.pending if v <= version} | {version}
        await repo.clear_pending(self.db, [repo.pending_id(story.story_id, v) for v in sorted(done)])
        story.pending -= done

    # ------------------------------------------------------------ the flusher

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Summarise stories as they fall due until ``stop``; errors are logged, never fatal.

        The flusher does not wait for the stories it started: each runs as its own task (bounded by
        ``concurrency``), so a story accepted meanwhile starts at once instead of after the slowest
        story of a round. It sleeps until the next due time or until woken by new work, and scans the
        pending collection every ``flush_interval_s`` (another replica's abandoned stories, or this
        replica's own after a restart); while scans find nothing new and nothing arrives, the interval
        doubles up to ``idle_scan_max_s``, and new work brings it back at once."""
        next_scan = self.clock()
        while not self._stopping:
            try:
                if self.clock() >= next_scan:
                    adopted = await self._scan()
                    if adopted or self._queued:
                        self._scan_interval = self.config.flush_interval_s
                    else:
                        self._scan_interval = min(2 * self._scan_interval, self.config.idle_scan_max_s)
                    next_scan = self.clock() + timedelta(seconds=self._scan_interval)
                self._start_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store may be down: try again at the next scan
                log.exception("flush failed")
            wait = (min([next_scan, *self._upcoming()]) - self.clock()).total_seconds()
            if wait > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
            self._wake.clear()

    async def stop(self) -> None:
        """Stop starting stories; wait for the ones in hand (the app bounds this), then the rest."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    async def flush_once(self) -> list[StorySummary]:
        """Scan, then summarise every story that is due and this replica's to do, and wait for them;
        returns what was emitted (tests and the bench drive the pipeline with it)."""
        await self._scan()
        results = await asyncio.gather(*self._start_due())
        return [r for r in results if r is not None]

    async def _scan(self) -> int:
        """Adopt pending stories this replica does not hold in memory: its own (after a restart) and
        another replica's that are ``takeover_s`` overdue (that replica is gone). Returns how many."""
        now = self.clock()
        takeover = timedelta(seconds=self.config.takeover_s)
        adopted = 0
        for pending in await repo.pending_stories(self.db):
            story = self._stories.get(pending.story_id)
            if story is not None and (
                story.due is not None or story.in_flight or story.done >= pending.version
            ):
                continue  # held already, or a stale read of work just finished
            if pending.owner == self.replica or pending.due_at + takeover < now:
                story = self._story(pending.story_id)
                self._queue(story, pending.due_at, pending.version, pending.merged, None)
                story.pending.update(pending.versions)
                adopted += 1
        return adopted

    def _when(self, story: StoryWork) -> datetime:
        """When a queued story may run: its due time, after its retry back-off, and (unless it is a
        merge redirect) at least ``debounce_s`` after its last summary."""
        assert story.due is not None
        due = story.due
        if story.retry_at is not None and story.retry_at > due:
            due = story.retry_at
        last = story.last_done
        if last is not None and not story.merged and last + self.debounce > due:
            due = last + self.debounce
        return due

    def _upcoming(self) -> list[datetime]:
        return [self._when(s) for s in self._queued.values() if not s.in_flight]

    def _start_due(self) -> list[asyncio.Task[StorySummary | None]]:
        now = self.clock()
        started = []
        for story in [s for s in self._queued.values() if not s.in_flight and self._when(s) <= now]:
            story.in_flight = True
            task = asyncio.create_task(self._guarded(story))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started.append(task)
        return started

    async def _guarded(self, story: StoryWork) -> StorySummary | None:
        queued_version = story.version
        try:
            async with self._semaphore:
                result = await self.process(story.story_id)
            self._finished(story, queued_version)
            return result
        except RETRYABLE as exc:
            log.warning("story %s: store or broker unavailable (%s), will retry", story.story_id, exc)
            # Not an attempt, but no hot loop either.
            story.retry_at = self.clock() + timedelta(seconds=self.config.flush_interval_s)
            return None
        except Exception as exc:
            await self._failed(story, exc)
            return None
        finally:
            story.in_flight = False
            self._wake.set()  # a newer version may have queued up meanwhile

    def _finished(self, story: StoryWork, version: int) -> None:
        """Forget the queued work unless a newer version was accepted while it ran."""
        if story.due is not None and story.version <= max(version, story.done):
            self._unqueue(story)

    async def _failed(self, story: StoryWork, exc: Exception) -> None:
        version = story.version if story.due is not None else 0
        story.attempts += 1
        attempts = story.attempts
        final = attempts >= self.config.max_attempts
        FAILURES.labels(str(final).lower()).inc()
        story.retry_at = None
        if final:
            log.error("story %s v%s dropped after %d attempts: %r", story.story_id, version, attempts, exc)
            await self._clear(story, version)
            story.attempts = 0
            self._finished(story, version)
        else:
            # Back off: a member article may not be readable yet, and a hot loop helps nobody.
            delay = min(self.config.retry_backoff_s * 2 ** (attempts - 1), 300.0)
            story.retry_at = self.clock() + timedelta(seconds=delay)
            log.warning("story %s v%s failed (attempt %d): %r", story.story_id, version, attempts, exc)

    async def process(self, story_id: str) -> StorySummary | None:
        """Summarise the story's queued version, store it, emit it, clear its pending documents."""
        started = self.clock()
        story = self._stories[story_id]
        # The accepted event is in memory: its members are read while the pending document and the
        # stored summary are (one round trip instead of two before the summarising starts).
        version = story.version
        hint = story.event if story.event is not None and story.event.version == version else None
        cluster, stored, prefetched = await asyncio.gather(
            repo.load_pending(self.db, story_id, version),
            repo.get_summary(self.db, story_id),
            self.articles(hint) if hint is not None else asyncio.sleep(0, None),
        )
        if cluster is None:  # done meanwhile (by another replica that took it over)
            story.done = max(story.done, version)
            return None
        previous = stored[0] if stored else None
        story.done = cluster.version
        if previous is not None and previous.version > cluster.version:
            await self._clear(story, cluster.version)
            return None
        if previous is not None and previous.version == cluster.version:
            # Stored before a crash, perhaps never published: emit it again, unchanged.
            await self.publish([previous])
            await self._clear(story, cluster.version)
            return previous
        if prefetched is not None:
            articles = prefetched
        else:
            articles = await self.articles(cluster)
        if cluster.merged_into is not None and previous is not None:
            summary = domain.merged_summary(cluster, previous, articles, params=self.params, model=self.model)
        else:
            summary = await asyncio.to_thread(self.summarize, cluster, articles)
        current = (previous.version, previous.method) if previous is not None else None
        # Stored and published at once (the hop waits for the slower of the two, not for both in
        # turn). The pending version stays until both are done: a summary stored but not published
        # is re-emitted unchanged by the retry; one published but not stored is summarised again
        # (same version; subscribers keep the first of a version). The previous version was read
        # just now, so the store only loses to another replica's newer summary (then the older
        # one published here is ignored downstream as stale). This replica's other writer of the
        # story, the rewrite of an older version, stores under the same lock; what it may have
        # stored since the read is older than this summary, which outranks it.
        async with story.writing:
            outcomes = await asyncio.gather(
                repo.store_summary(self.db, summary, now=self.clock(), current=current),
                self.publish([summary]),
                return_exceptions=True,  # both finish before a failure propagates: no store left running
            )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        SUMMARIES.labels(summary.method).inc()
        await self._clear(story, cluster.version)
        story.last_done = self.clock()
        story.retry_at = None
        story.attempts = 0
        LATENCY.observe((self.clock() - started).total_seconds())
        if self.improver is not None and summary.merged_into is None:
            story.rewrites += 1
            task = asyncio.create_task(self._improve(story, summary, articles))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return summary

    def summarize(self, cluster: StoryCluster, articles: Sequence[Article]) -> StorySummary:
        """The extractive summary of one version, its candidate sentences embedded first when the
        service has an encoder. CPU only, encoding included: ``process`` runs it in a worker thread,
        so the event loop keeps accepting batches meanwhile."""
        if not articles:
            raise ValueError(f"story {cluster.story_id} v{cluster.version}: no member article available")
        draft = domain.prepare(articles, self.params)
        vectors = None
        if self.vectors is not None:
            started = time.perf_counter()
            vectors = self.vectors(draft.to_embed())
            EMBED_LATENCY.observe(time.perf_counter() - started)
        return domain.summarize(cluster, articles, model=self.model, vectors=vectors, prepared=draft)

    async def _improve(self, story: StoryWork, summary: StorySummary, articles: Sequence[Article]) -> None:
        """The language-model rewrite, after the extractive summary is out; any failure keeps it.

        Stored only over the extractive summary of its own version (``repo.outranks``: the stored
        version is read again here, under the story's write lock, so the flusher cannot store a
        newer version between that read and this write) and published only if stored, before the
        lock is released: a newer version stays, and nothing older is published after it."""
        assert self.improver is not None
        try:
            better = await self.improver.improve(summary, articles)
            if better is None:
                return
            async with story.writing:
                if await repo.store_summary(self.db, better, now=self.clock()):
                    await self.publish([better])
                    SUMMARIES.labels("llm").inc()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "story %s: language-model rewrite failed; extractive summary stands", summary.story_id
            )
        finally:
            story.rewrites -= 1

    # ------------------------------------------------------------ reading members

    def members_to_read(self, cluster: StoryCluster) -> list[str]:
        """The origin article plus the newest members, at most ``fetch_max``."""
        ids = list(dict.fromkeys(cluster.member_ids))
        if len(ids) <= self.config.fetch_max:
            return ids
        return [ids[0], *ids[-(self.config.fetch_max - 1) :]]

    async def articles(self, cluster: StoryCluster) -> list[Article]:
        """Member articles with their sources' names and leans (both cached: articles do not
        change, and the registry changes rarely)."""
        ids = self.members_to_read(cluster)
        missing = [i for i in ids if i not in self._articles]
        for doc in await repo.get_articles(self.db, missing):
            self._articles[str(doc["_id"])] = doc
        while len(self._articles) > 20000:
            self._articles.popitem(last=False)
        docs = [self._articles[i] for i in ids if i in self._articles]
        sources = await self.sources({str(d.get("source") or "") for d in docs})
        out: list[Article] = []
        for doc in docs:
            try:
                out.append(repo.article_of(doc, sources.get(str(doc.get("source") or ""))))
            except (KeyError, TypeError, ValueError) as exc:  # one broken document must not sink the story
                log.warning("article %s unreadable, skipped: %r", doc.get("_id"), exc)
        return out

    async def sources(self, domains: set[str]) -> dict[str, Source]:
        now = self.clock()
        stale = [
            d for d in domains if d not in self._sources or self._sources[d][0] < now - timedelta(minutes=5)
        ]
        if stale:
            found = await repo.get_sources(self.db, stale)
            for d in stale:
                self._sources[d] = (now, found.get(d))
        return {d: s for d in domains if (s := self._sources.get(d, (now, None))[1]) is not None}
