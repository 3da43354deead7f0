"""One batch of ``story.summary`` events in, the ``story.scored`` events to publish out.

For each story: read its members and their sources, score it (``domain.score_story``), store the
view version-checked, and only then hand the view to ``publish``, so that a subscriber never sees a
view the read model does not hold. A redelivered summary re-emits the stored view unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tellwell.common.events import StoryScored, StorySummary, utcnow
from tellwell.common.history import changes_for, snapshot_of, with_version
from tellwell.common.kafka import TRANSIENT_ERRORS
from tellwell.score import repository as repo
from tellwell.score.corroboration import Checker, PassageCache
from tellwell.score.domain import MAX_RELATED, ScoreParams, score_story
from tellwell.score.related import Entry, RelatedParams, entry_of, related_stories, story_entities

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[StoryScored]], Awaitable[None]]


@dataclass
class Batch:
    """What became of a batch: the views published, and the stories that failed with their error."""

    published: list[StoryScored] = field(default_factory=list)
    failed: dict[str, Exception] = field(default_factory=dict)


@dataclass
class Timings:
    """Where a batch's time went, summed over its stories (they overlap: sums exceed the wall time)."""

    read_s: float = 0.0  # members, related views, sources (and the related stories' choice)
    score_s: float = 0.0  # domain.score_story (CPU, blocks the loop)
    store_s: float = 0.0  # the version-checked write


def latest_per_story(summaries: Sequence[StorySummary]) -> list[StorySummary]:
    """Within a batch only the newest version of each story matters."""
    latest: dict[str, StorySummary] = {}
    for s in summaries:
        if s.story_id not in latest or s.version > latest[s.story_id].version:
            latest[s.story_id] = s
    return list(latest.values())


class ScorePipeline:
    """Scores summaries against the stores and publishes the views it stored."""

    def __init__(
        self,
        db: repo.DB,
        publish: Publish,
        params: ScoreParams | None = None,
        *,
        concurrency: int = 32,
        source_cache_s: float = 300.0,
        recheck_delay_s: float = 0.025,
        max_members: int = 1000,
        article_cache: int = 10_000,
        view_cache_s: float = 30.0,
        related: RelatedParams | None = None,
        related_refresh_s: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
        checker: Checker | None = None,
    ) -> None:
        self.db = db
        self.publish = publish
        self.params = params or ScoreParams()
        self.sources = repo.SourceCache(source_cache_s)
        self.passages = PassageCache()
        # claims are checked with sentence vectors when the service has an encoder, else on words
        self.checker = checker or Checker(self.params.corroboration, encoder=False)
        self.articles = repo.ArticleCache(article_cache, self.params.corroboration.max_chars)
        self.views = repo.ViewCache(view_cache_s)
        self.related = repo.RelatedIndex(related, refresh_s=related_refresh_s)
        self.recheck_delay_s = recheck_delay_s
        self.clock = clock
        self.max_members = max_members
        self._limit = asyncio.Semaphore(concurrency)
        self.timings = Timings()

    async def process_batch(self, summaries: Sequence[StorySummary]) -> Batch:
        """Score, store and publish each story of the batch. A story that fails is reported in
        ``failed`` (its records go to the DLQ) and does not hold back the others; a store that is
        unreachable fails the whole batch, so that it is redelivered."""
        stories = latest_per_story(summaries)
        started, self.timings = time.perf_counter(), Timings()
        results = await asyncio.gather(*(self._one(s) for s in stories), return_exceptions=True)
        batch = Batch()
        replaced: list[StoryScored] = []
        for summary, result in zip(stories, results, strict=True):
            if isinstance(result, TRANSIENT_ERRORS) or not isinstance(result, tuple | Exception | None):
                raise result  # an outage, or a cancellation: nothing is the message's fault
            if isinstance(result, Exception):
                log.error("%s v%s: %s: %s", summary.story_id, summary.version, type(result).__name__, result)
                batch.failed[summary.story_id] = result
            elif result is not None:
                view, needs_recheck = result
                batch.published.append(view)
                if needs_recheck:
                    replaced.append(view)
        if batch.published:
            await self.publish(batch.published)
        # The race re-check of replaced views runs after publishing (off the story's latency), but
        # before the batch is acknowledged: an older view that landed after ours is undone here.
        await asyncio.gather(*(self._confirm(view) for view in replaced))
        t = self.timings
        log.info(
            "batch: %d records, %d stories, %d published in %.3f s (sums: read %.3f s, score %.3f s, "
            "store %.3f s)",
            len(summaries),
            len(stories),
            len(batch.published),
            time.perf_counter() - started,
            t.read_s,
            t.score_s,
            t.store_s,
        )
        return batch

    async def _index(self, entry: Entry) -> None:
        """Make a stored view findable as a related story: here at once, on other replicas through
        ``story_entities``."""
        self.related.add(entry)
        await repo.store_entry(self.db, entry, updated_at=self.clock())

    async def _confirm(self, view: StoryScored) -> None:
        outcome, _ = await repo.confirm_view(
            self.db, view, updated_at=self.clock(), recheck_delay_s=self.recheck_delay_s
        )
        if outcome is repo.Outcome.stale:
            log.info("%s: a newer view landed meanwhile", view.story_id)

    async def process(self, summaries: Sequence[StorySummary]) -> list[StoryScored]:
        """``process_batch``, raising the first failure; returns the views published."""
        batch = await self.process_batch(summaries)
        for error in batch.failed.values():
            raise error
        return batch.published

    async def score(self, summary: StorySummary) -> StoryScored:
        """The view of one summary, from the current stores (nothing written)."""
        ids = list(dict.fromkeys(summary.member_ids))
        if len(ids) > self.max_members:  # a hostile or runaway story must not flood the store
            log.warning("%s: %d members, scoring the newest %d", summary.story_id, len(ids), self.max_members)
            ids = ids[-self.max_members :]  # member_ids are oldest first
        # related views (cached: score stored most of them itself) are read while the members are
        started = time.perf_counter()
        (members, missing), proposed, index = await asyncio.gather(
            repo.load_members(self.db, ids, self.articles),
            repo.load_views(self.db, [r.story_id for r in summary.related[:MAX_RELATED]], self.views),
            self.related.fresh(self.db, self.clock()),
        )
        if missing:
            log.warning(
                "%s v%s: %d member article(s) not found", summary.story_id, summary.version, len(missing)
            )
        # Related: the stories sharing a specific entity (related.py); cluster's near-threshold
        # candidates are checked the same way, never shown for their similarity alone.
        entities = story_entities(
            summary.title, [s.text for s in summary.summary], [m.title for m in members]
        )
        dates = [m.published_at for m in members]
        first = summary.first_published_at or (min(dates) if dates else summary.occurred_at)
        last = summary.last_published_at or (max(dates) if dates else summary.occurred_at)
        related = {v.story_id: v for v in proposed.values()}  # merged candidates: their survivors
        neighbours = index.neighbours(
            summary.story_id,
            entities,
            first,
            last,
            proposed=list(related),
            extra={sid: entry_of(v) for sid, v in related.items()},
        )
        unread = [n.story_id for n in neighbours if n.story_id not in related]
        more, sources = await asyncio.gather(
            repo.load_views(self.db, unread, self.views),
            self.sources.get_many(self.db, {m.source for m in members}),
        )
        related.update({v.story_id: v for v in more.values()})
        summary = summary.model_copy(update={"related": related_stories(neighbours, related)})
        read = time.perf_counter()
        view = score_story(
            summary,
            members,
            sources,
            now=self.clock(),
            params=self.params,
            related=related,
            cache=self.passages,
            checker=self.checker,
        )
        self.timings.read_s += read - started
        self.timings.score_s += time.perf_counter() - read
        return view

    async def _one(self, summary: StorySummary) -> tuple[StoryScored, bool] | None:
        """The view stored for this summary, and whether its race re-check is still due."""
        async with self._limit:
            view, history = await asyncio.gather(
                self.score(summary), repo.read_history(self.db, summary.story_id)
            )
            snapshot = snapshot_of(view)  # once: the changes and the history both need it
            view = view.model_copy(update={"changes": changes_for(history, snapshot)})
            started = time.perf_counter()
            known = self.views.version(view.story_id)
            outcome, stored = await repo.store_view(
                self.db,
                view,
                updated_at=self.clock(),
                recheck_delay_s=self.recheck_delay_s,
                known_version=known,
                recheck=False,
            )
            self.timings.store_s += time.perf_counter() - started
        if outcome is repo.Outcome.stale:
            log.info("%s v%s: a newer view is stored; ignored", summary.story_id, summary.version)
            return None
        # a redelivery gets the stored view back, whose version the history holds: nothing appended
        appended = with_version(history, stored, self.clock(), snapshot if stored is view else None)
        if appended is not None:  # before the event: a subscriber may follow its history link
            await repo.write_history(self.db, appended)
        self.views.put(stored)
        await self._index(entry_of(stored))
        # only a replace can be overwritten by a racing older write (see repository.store_view)
        return stored, outcome is repo.Outcome.unchecked
