"""From ``raw.article`` batches to story changes: decide (engine), store (repository), emit.

Per batch: the engine assigns every article in published order (an article assigned before keeps
its story), takes the merges it decided, then every touched story gets one new version — so a
burst of articles joining one story yields one ``story.cluster`` event with all the added ids.
Story versions and memberships (with the why of each assignment) are stored before the events are
published, and offsets are committed after that: a crash anywhere replays the batch, the engine
returns the same assignments, and the stories are re-emitted with the versions already stored,
which consumers ignore as already applied. A batch that fails in this process (a store or the
broker down) leaves the engine ahead of the store, so the engine is rebuilt from the store before
the next batch: the redelivered batch is then decided again, not taken as already done.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import Counter

from tellwell.cluster import repository as repo
from tellwell.cluster.engine import ArticleIn, Assignment, Clusterer
from tellwell.common.events import ChangeKind, RawArticle, RelatedStory, StoryCluster

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[StoryCluster]], Awaitable[None]]
# The running word statistics (IDF): each batch stores what it added (a small document), and the
# whole table, up to 200,000 terms, is stored this often, after which the additions before it are
# dropped. A restart restores the table and the additions since: the statistics the stored stories
# were decided with (statistics even 30 s stale made a restarted service decide differently).
STATS_EVERY = timedelta(seconds=60)
DECISIONS = Counter("tellwell_cluster_assignments_total", "Article assignments", ["kind"])


def article_in(event: RawArticle) -> ArticleIn:
    return ArticleIn(
        article_id=event.article_id,
        title=event.title,
        text=event.text,
        lead=event.lead,
        language=event.language,
        published_at=event.published_at,
        source=event.source,
        copy_of=event.copy_of,
    )


def stored_event(doc: dict[str, Any]) -> StoryCluster:
    """The ``story.cluster`` event a ``story_versions`` document keeps: JSON text (older documents
    hold it as a nested document)."""
    event = doc["event"]
    return (
        StoryCluster.model_validate_json(event)
        if isinstance(event, str)
        else StoryCluster.model_validate(event)
    )


@dataclass
class Change:
    kind: ChangeKind
    added: list[str] = field(default_factory=list)
    merged_from: list[str] = field(default_factory=list)
    merged_into: str | None = None


class ClusterPipeline:
    def __init__(self, db: repo.DB, clusterer: Clusterer, publish: Publish) -> None:
        self.db = db
        self.clusterer = clusterer
        self.publish = publish
        self.versions: dict[str, int] = {}
        self.stream_time = datetime.min.replace(tzinfo=UTC)
        self.stats_saved_at = datetime.min.replace(tzinfo=UTC)
        self.stats_seq = 0  # the last stored addition to the word statistics
        self.stale = False  # the engine holds decisions the store may not (a batch failed)

    async def restore(self, window: timedelta) -> int:
        """Rebuild the engine from the stored stories active in the window before the newest one,
        and the running word statistics; whatever the engine held before is dropped."""
        self.clusterer.reset()
        self.versions, self.stale = {}, False
        newest = await repo.newest_story_time(self.db)
        if newest is None:
            return 0
        self.stream_time = newest
        docs = await repo.latest_versions(self.db, newest - window)
        self.versions = {d["story_id"]: d["version"] for d in docs}
        live = [json.loads(d["state"]) for d in docs if not d.get("merged_into")]
        stats, self.stats_seq, changes = await repo.load_stats(self.db)
        if stats is not None:
            live.append(json.loads(stats))
        self.clusterer.restore(live, [json.loads(change) for _, change in changes])
        self.stats_seq = max([self.stats_seq, *(seq for seq, _ in changes)])
        self.stats_saved_at = datetime.now(UTC)  # the next whole table when a period has passed
        return len(docs)

    async def process(self, events: Sequence[RawArticle]) -> list[StoryCluster]:
        if self.stale:
            restored = await self.restore(self.clusterer.params.window)
            log.warning("engine rebuilt from the store after a failed batch (%d stories)", restored)
        try:
            return await self._process(events)
        except BaseException:
            self.stale = True  # the batch comes again (not committed); decide it again from the store
            raise

    async def _process(self, events: Sequence[RawArticle]) -> list[StoryCluster]:
        started = time.perf_counter()
        # Published order: a backlog arrives a few records per partition at a time (see
        # handlers.BATCH_MAX); within a batch the order is the one a live stream has.
        articles = sorted((article_in(e) for e in events), key=lambda a: a.published_at)
        known = {a.article_id for a in articles if self.clusterer.story_of(a.article_id) is not None}
        # Articles older than the active window may belong to a story the engine has evicted:
        # the store knows, and a replay of one must not start a second story for it.
        window = self.clusterer.params.window
        old = [
            a.article_id
            for a in articles
            if a.article_id not in known and a.published_at + window < self.stream_time
        ]
        evicted = await repo.memberships_of(self.db, old) if old else {}
        replayed: set[str] = set(evicted.values())
        articles = [a for a in articles if a.article_id not in evicted]
        decide_at = time.perf_counter()
        assignments = await self.clusterer.assign(articles) if articles else []
        merges = self.clusterer.take_merges()
        decided_at = time.perf_counter()

        changes: dict[str, Change] = {}
        for a in assignments:
            if a.article_id in known:
                replayed.add(self.clusterer.story_of(a.article_id) or a.story_id)
                DECISIONS.labels("replayed").inc()
                continue
            kind = ChangeKind.created if a.created else ChangeKind.grew
            changes.setdefault(a.story_id, Change(kind)).added.append(a.article_id)
            DECISIONS.labels(kind.value).inc()
        for m in merges:
            changes.setdefault(m.survivor, Change(ChangeKind.merged)).merged_from.append(m.absorbed)
            changes[m.survivor].kind = ChangeKind.merged
            changes[m.absorbed] = Change(ChangeKind.merged, merged_into=m.survivor)
            DECISIONS.labels("merged").inc()

        now = datetime.now(UTC)
        versions: list[dict[str, Any]] = []
        out: list[StoryCluster] = []
        for story_id, change in changes.items():
            self.versions[story_id] = self.versions.get(story_id, 0) + 1
            event = self._event(story_id, change, now)
            out.append(event)
            versions.append(self._version_doc(event, change))
        # Known articles too: a membership the store lost (a crash between the two writes) comes back
        # on the replay; one it has is kept (insert only).
        memberships = [self._membership(a, now) for a in assignments]
        store_at = time.perf_counter()
        await repo.save(self.db, memberships, versions)
        await self._save_stats(now)

        for story_id in replayed - set(changes):  # a redelivered batch: re-emit what is stored
            if (stored := await repo.story_version(self.db, story_id)) is not None:
                out.append(stored_event(stored))
        publish_at = time.perf_counter()
        await self.publish(out)
        done = time.perf_counter()
        log.info(
            "batch: %d articles, %d story changes in %.3f s (decide %.3f s, store %.3f s, publish %.3f s)",
            len(events), len(out), done - started, decided_at - decide_at, publish_at - store_at,
            done - publish_at,
        )  # fmt: skip

        self.stream_time = max([self.stream_time, *(e.published_at for e in events)])
        for story_id in self.clusterer.evict(self.stream_time):
            log.debug("story %s left the active window", story_id)
        return out

    async def _save_stats(self, now: datetime) -> None:
        changes = self.clusterer.take_stats_changes()
        if not changes["n_docs"]:
            return
        self.stats_seq += 1
        if now - self.stats_saved_at >= STATS_EVERY:
            await repo.save_stats(self.db, json.dumps(self.clusterer.snapshot_stats()), self.stats_seq)
            self.stats_saved_at = now
        else:
            await repo.save_stats_change(self.db, self.stats_seq, json.dumps(changes))

    def _event(self, story_id: str, change: Change, now: datetime) -> StoryCluster:
        if change.merged_into:  # the absorbed story's last word: follow the survivor
            state = self.clusterer.story(change.merged_into)
        else:
            state = self.clusterer.story(story_id)
        return StoryCluster(
            producer="cluster",
            occurred_at=now,
            story_id=story_id,
            version=self.versions[story_id],
            change=change.kind,
            member_ids=list(state.member_ids),
            added_ids=change.added,
            merged_from=change.merged_from,
            merged_into=change.merged_into,
            language=state.language,
            first_published_at=state.first_published_at,
            last_published_at=state.last_published_at,
            related=[RelatedStory(story_id=s, score=round(float(v), 4)) for s, v in state.related.items()],
        )

    def _version_doc(self, event: StoryCluster, change: Change) -> dict[str, Any]:
        # The engine's state as JSON text: it holds nested arrays, which not every MongoDB-wire
        # server stores (FerretDB 1.x does not), and nothing queries inside it.
        state = None if change.merged_into else json.dumps(self.clusterer.snapshot(event.story_id))
        return {
            "_id": f"{event.story_id}:{event.version}",
            "story_id": event.story_id,
            "version": event.version,
            "merged_into": change.merged_into,
            "last_published_at": event.last_published_at,
            "state": state,
            # JSON text too: nothing queries inside it, and a nested document of every member costs a
            # MongoDB-wire server on SQLite (FerretDB) a conversion per field on every insert.
            "event": event.model_dump_json(),
        }

    @staticmethod
    def _membership(a: Assignment, now: datetime) -> dict[str, Any]:
        return {
            "_id": a.article_id,
            "story_id": a.story_id,
            "created_story": a.created,
            "score": a.score,
            "threshold": a.threshold,
            "features": a.features,
            "related": [{"story_id": s, "score": v} for s, v in a.related],
            "assigned_at": now,
        }
