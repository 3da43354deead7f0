"""From accepted input to a stored article and its ``raw.article`` event (with an outbox).

Every path in — push API, JSONL import, feed polling — goes through ``Ingestor.ingest``:

1. find near-identical texts among recent articles (MinHash + LSH, ``CopyIndex``) and mark
   copies ``copy_of`` their origin;
2. make sure every source domain has a registry entry (unknown ones become ``unrated``);
3. open an outbox record naming the batch, insert the articles (the unique id drops what is
   already stored: the same article seen twice is stored once), publish ``raw.article`` for the
   new ones and close the outbox record once Kafka has acknowledged them. A crash in between
   leaves the outbox record, and ``republish_pending`` (at start-up and periodically) emits those
   articles again with the same ``event_id``, so consumers can drop the duplicate.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.kafka import KafkaBroker
from prometheus_client import Counter

from tellwell.common.events import RawArticle
from tellwell.common.kafka import publish_keyed
from tellwell.common.topics import Topic
from tellwell.ingest import repository as repo
from tellwell.ingest.domain import CopyCandidate, Prepared, pick_origin
from tellwell.ingest.identity import lsh_bands, signature_from_bytes

log = logging.getLogger(__name__)

ARTICLES = Counter("tellwell_ingest_articles_total", "Articles seen by ingest", ["outcome", "via"])

Publish = Callable[[Sequence[RawArticle]], Awaitable[None]]


def kafka_publisher(broker: KafkaBroker) -> Publish:
    """``raw.article`` keyed by article id."""

    async def publish(events: Sequence[RawArticle]) -> None:
        await publish_keyed(broker, Topic.raw_article, events, key=lambda e: e.article_id)

    return publish


def utcnow() -> datetime:
    return datetime.now(UTC)


class CopyIndex:
    """In-memory LSH index of recent articles' signatures, for copy detection.

    Kept in memory because band lookups in the store would cost a query per band per article.
    It is warmed from the articles stored in the last ``window`` at start-up and refreshed from
    the store (``refresh``) so that replicas see each other's articles; copies are looked for
    within that window (reprints follow their origin within hours, rarely days).
    """

    def __init__(self, window: timedelta = timedelta(days=7)) -> None:
        self.window = window
        self.by_band: dict[str, list[CopyCandidate]] = defaultdict(list)
        self.ids: set[str] = set()
        self.loaded_until = datetime.min.replace(tzinfo=UTC)

    def add(self, candidate: CopyCandidate) -> None:
        if candidate.article_id in self.ids:
            return
        self.ids.add(candidate.article_id)
        for band in lsh_bands(candidate.signature):
            self.by_band[band].append(candidate)

    def candidates(self, bands: Sequence[str]) -> list[CopyCandidate]:
        return list({c.article_id: c for b in bands for c in self.by_band.get(b, ())}.values())

    async def refresh(self, db: repo.DB) -> int:
        since = max(self.loaded_until, utcnow() - self.window)
        docs = await repo.recent_signatures(db, since)
        for d in docs:
            self.add(
                CopyCandidate(
                    d["_id"],
                    d["source"],
                    d["published_at"],
                    signature_from_bytes(d["signature"]),
                    d.get("copy_of"),
                )
            )
            self.loaded_until = max(self.loaded_until, d["stored_at"])
        self.prune()
        return len(docs)

    def prune(self) -> None:
        horizon = utcnow() - self.window
        for band, items in list(self.by_band.items()):
            kept = [c for c in items if c.published_at >= horizon]
            if kept:
                self.by_band[band] = kept
            else:
                del self.by_band[band]
        self.ids = {c.article_id for items in self.by_band.values() for c in items}


@dataclass
class IngestResult:
    created: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    copies: dict[str, str] = field(default_factory=dict)

    def merge(self, other: IngestResult) -> None:
        self.created += other.created
        self.duplicates += other.duplicates
        self.copies |= other.copies


class Ingestor:
    def __init__(self, db: repo.DB, publish: Publish, copies: CopyIndex | None = None) -> None:
        self.db = db
        self.publish = publish
        self.copies = copies or CopyIndex()
        self.known_sources: set[str] = set()

    async def ingest(self, items: Sequence[Prepared]) -> IngestResult:
        result = IngestResult()
        unique: dict[str, Prepared] = {}
        for p in items:
            if p.article_id in unique:
                result.duplicates.append(p.article_id)
            else:
                unique[p.article_id] = p
        if not unique:
            return result
        docs = [self._doc(p) for p in unique.values()]
        await self._ensure_sources({p.source for p in unique.values()})

        batch = await repo.open_outbox(self.db, list(unique), utcnow())
        new_ids = set(await repo.insert_new(self.db, docs))
        new_docs = [d for d in docs if d["_id"] in new_ids]
        await self.publish([repo.raw_article_event(d) for d in new_docs])
        await repo.close_outbox(self.db, batch)

        result.created = [d["_id"] for d in new_docs]
        result.duplicates += [d["_id"] for d in docs if d["_id"] not in new_ids]
        result.copies = {d["_id"]: d["copy_of"] for d in new_docs if d["copy_of"]}
        via = items[0].content_source
        ARTICLES.labels("created", via).inc(len(result.created) - len(result.copies))
        ARTICLES.labels("copy", via).inc(len(result.copies))
        ARTICLES.labels("duplicate", via).inc(len(result.duplicates))
        return result

    def _doc(self, p: Prepared) -> dict[str, Any]:
        """The stored document; ``copy_of`` is set when it copies a recent article or one of this batch."""
        origin = pick_origin(p.signature, self.copies.candidates(p.bands))
        doc = repo.article_doc(p, origin, str(uuid.uuid4()), uuid.uuid4().hex)
        if p.signature is not None:  # later articles, of this batch too, may copy this one
            self.copies.add(CopyCandidate(p.article_id, p.source, p.published_at, p.signature, origin))
        return doc

    async def _ensure_sources(self, domains: set[str]) -> None:
        unknown = domains - self.known_sources
        if unknown:
            await repo.ensure_sources(self.db, unknown)
            self.known_sources |= unknown

    async def republish_pending(self, older_than: timedelta = timedelta(seconds=30)) -> int:
        """Emit the articles of outbox records never closed (a crash between store and publish)."""
        total = 0
        for record in await repo.stale_outbox(self.db, utcnow() - older_than):
            docs = await repo.articles_by_id(self.db, record["ids"])
            await self.publish([repo.raw_article_event(d) for d in docs])
            await repo.close_outbox(self.db, record["_id"])
            total += len(docs)
        if total:
            log.warning("re-emitted %d stored article(s) whose raw.article was not confirmed", total)
        return total
