"""From ``raw.article`` batches to story changes: decide, store, commit, emit.

Per batch the clusterer decides every article in published order (``batch.decide_batch``: an
article assigned before keeps its story, and every story that changed gets one new version, so a
burst of articles joining one story is one ``story.cluster`` event with all the added ids). The
repository stores the decision; only then the clusterer commits it to its book and the vector
index, and the events are published; offsets are committed after that.

A store that fails leaves the book and the index as they were: the redelivered batch is decided
again from the same state, to the same stories and versions, and nothing needs rebuilding. A crash
after the store replays the batch into a book rebuilt from the store (``restore``), which holds its
articles: the batch decides nothing new, and the stories are re-emitted with the versions already
stored, which consumers ignore as already applied.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter

from tellwell.cluster import repository as repo
from tellwell.cluster.batch import ArticleIn, BatchDecision
from tellwell.cluster.engine import Clusterer
from tellwell.cluster.repository import StatsRecord, stored_event
from tellwell.common.events import ChangeKind, RawArticle, StoryCluster

__all__ = ["STATS_EVERY", "ClusterPipeline", "Publish", "article_in", "stored_event"]

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[StoryCluster]], Awaitable[None]]
# The running word statistics (IDF): each batch stores what it added (a small document), and the
# whole table, up to 200,000 terms, is stored this often, after which the additions before it are
# dropped. A restart restores the table and the additions since: the statistics the stored stories
# were decided with (statistics even 30 s stale made a restarted service decide differently).
STATS_EVERY = timedelta(seconds=60)
DECISIONS = Counter("tellwell_cluster_assignments_total", "Article assignments", ["kind"])


ARTICLE_IN_FIELDS = {f.name for f in dataclasses.fields(ArticleIn)}


def article_in(event: RawArticle) -> ArticleIn:
    """The fields of ``event`` the decision uses (``ArticleIn`` names them as ``raw.article`` does)."""
    return ArticleIn(**event.model_dump(include=ARTICLE_IN_FIELDS))


class ClusterPipeline:
    def __init__(self, db: repo.DB, clusterer: Clusterer, publish: Publish) -> None:
        self.db = db
        self.clusterer = clusterer
        self.publish = publish
        self.stream_time = datetime.min.replace(tzinfo=UTC)
        self.stats_saved_at = datetime.min.replace(tzinfo=UTC)
        self.stats_seq = 0  # the last stored record of the word statistics

    async def restore(self, window: timedelta) -> int:
        """Rebuild the book from the stored stories active in the window before the newest one, and
        the running word statistics; whatever the clusterer held before is dropped."""
        newest = await repo.newest_story_time(self.db)
        stats = await repo.load_stats(self.db)
        docs = await repo.latest_versions(self.db, newest - window) if newest is not None else []
        if newest is not None:
            self.stream_time = newest
        self.clusterer.restore(repo.live_states(docs), stats.changes, stats=stats.table)
        self.stats_seq = stats.seq
        self.stats_saved_at = datetime.now(UTC)  # the next whole table when a period has passed
        return len(docs)

    async def process(self, events: Sequence[RawArticle]) -> list[StoryCluster]:
        started = time.perf_counter()
        # Published order: a backlog arrives a few records per partition at a time (see
        # handlers.BATCH_MAX); within a batch the order is the one a live stream has.
        articles = sorted((article_in(e) for e in events), key=lambda a: a.published_at)
        book = self.clusterer.book
        # Articles older than the active window may belong to a story the book has evicted: the
        # store knows, and a replay of one must not start a second story for it.
        window = self.clusterer.params.window
        old = [
            a.article_id
            for a in articles
            if book.story_of(a.article_id) is None and a.published_at + window < self.stream_time
        ]
        evicted = await repo.memberships_of(self.db, old) if old else {}
        articles = [a for a in articles if a.article_id not in evicted]
        now = datetime.now(UTC)
        decide_at = time.perf_counter()
        decision = await self.clusterer.decide(articles, now=now)
        decided_at = time.perf_counter()

        stats = self._stats_record(decision, now)
        await repo.save(self.db, decision, stats)  # may raise: nothing in memory or the index moved
        stored_at = time.perf_counter()
        if stats is not None:  # stored: the next record gets the next number whatever follows
            self.stats_seq = stats.seq
            if stats.table is not None:
                self.stats_saved_at = now
        await self.clusterer.commit(decision)
        self._count(decision)

        out = decision.events
        replayed = set(evicted.values()) | {a.story_id for a in decision.known}
        for story_id in sorted(replayed - {c.story_id for c in decision.changes}):
            # A redelivered batch: re-emit what is stored.
            if (event := await repo.latest_event(self.db, story_id)) is not None:
                out.append(event)
        publish_at = time.perf_counter()
        await self.publish(out)
        done = time.perf_counter()
        log.info(
            "batch: %d articles, %d story changes in %.3f s (decide %.3f s, store %.3f s, publish %.3f s)",
            len(events), len(out), done - started, decided_at - decide_at, stored_at - decided_at,
            done - publish_at,
        )  # fmt: skip

        self.stream_time = max([self.stream_time, *(e.published_at for e in events)])
        for story_id in self.clusterer.evict(self.stream_time):
            log.debug("story %s left the active window", story_id)
        return out

    def _stats_record(self, decision: BatchDecision, now: datetime) -> StatsRecord | None:
        """The batch's additions to the word statistics, or the whole table when one is due."""
        if not decision.stats["n_docs"]:
            return None
        seq = self.stats_seq + 1
        if now - self.stats_saved_at >= STATS_EVERY:
            return StatsRecord(seq, table=self.clusterer.book.stats_after(decision).snapshot())
        return StatsRecord(seq, change=decision.stats)

    @staticmethod
    def _count(decision: BatchDecision) -> None:
        for a in decision.assignments:
            DECISIONS.labels(ChangeKind.created.value if a.created else ChangeKind.grew.value).inc()
        if decision.known:
            DECISIONS.labels("replayed").inc(len(decision.known))
        if decision.merges:
            DECISIONS.labels("merged").inc(len(decision.merges))
