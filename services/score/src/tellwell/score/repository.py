"""Every MongoDB query of the score service.

Score owns ``story_views`` (the read model, shape in ``tellwell.common.views``). It reads ingest's
``articles`` and ``sources`` by ``_id`` only: FerretDB answers ``_id`` lookups from its primary key
but scans the whole collection for ``$in``, so several lookups run concurrently instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from tellwell.common.events import StoryScored
from tellwell.common.sources import Source
from tellwell.common.views import STORY_VIEW_INDEXES, STORY_VIEWS, view_document, view_from_document
from tellwell.score.domain import Member

log = logging.getLogger(__name__)

Doc = dict[str, Any]
DB = AsyncDatabase[Doc]

_ARTICLE_FIELDS = dict.fromkeys(
    "url source source_name title text lead language published_at copy_of fingerprint".split(),
    1,
)


async def ensure_indexes(db: DB) -> None:
    for name, keys in STORY_VIEW_INDEXES:
        await db[STORY_VIEWS].create_index(keys, name=name)


# ---------------------------------------------------------------- articles and sources (ingest's)


def member_from_doc(doc: Doc) -> Member:
    return Member(
        article_id=str(doc["_id"]),
        url=doc.get("url") or "",
        source=doc.get("source") or "unknown",
        source_name=doc.get("source_name"),
        title=doc.get("title") or "",
        text=doc.get("text") or "",
        lead=doc.get("lead") or "",
        language=doc.get("language") or "und",
        published_at=doc["published_at"],
        copy_of=doc.get("copy_of"),
        fingerprint=doc.get("fingerprint") or "",
    )


def _readable(doc: Doc | None) -> bool:
    return doc is not None and isinstance(doc.get("published_at"), datetime)


class ArticleCache:
    """Member articles already read, least recently used evicted. Ingest writes an article once
    (its ``copy_of`` too), so a stored article never changes: a story re-scored at its next version
    reads only its new members. Texts are kept up to ``max_chars`` (all that scoring reads)."""

    def __init__(self, capacity: int = 10_000, max_chars: int = 4000) -> None:
        self.capacity = capacity
        self.max_chars = max_chars
        self._items: OrderedDict[str, Member] = OrderedDict()

    def get(self, article_id: str) -> Member | None:
        found = self._items.get(article_id)
        if found is not None:
            self._items.move_to_end(article_id)
        return found

    def put(self, member: Member) -> Member:
        """Keep ``member``; returns it as kept (so that a first read and later ones score alike)."""
        if len(member.text) > self.max_chars:
            member = dataclasses.replace(member, text=member.text[: self.max_chars])
        self._items[member.article_id] = member
        self._items.move_to_end(member.article_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return member


async def load_members(
    db: DB, article_ids: Sequence[str], cache: ArticleCache | None = None
) -> tuple[list[Member], list[str]]:
    """The stored member articles (in the order given), and the ids that were not found or are
    unreadable."""
    ids = list(dict.fromkeys(article_ids))
    known = {aid: m for aid in ids if cache is not None and (m := cache.get(aid)) is not None}
    unread = [aid for aid in ids if aid not in known]
    docs = await asyncio.gather(*(db.articles.find_one({"_id": aid}, _ARTICLE_FIELDS) for aid in unread))
    for doc in docs:
        if doc is not None and _readable(doc):
            member = member_from_doc(doc)
            known[member.article_id] = cache.put(member) if cache is not None else member
    return [known[aid] for aid in ids if aid in known], [aid for aid in ids if aid not in known]


def source_from_doc(doc: Doc) -> Source:
    data = {k: v for k, v in doc.items() if k != "_id"}
    return Source(domain=doc["_id"], **data)


class SourceCache:
    """Registry entries reused for ``ttl_s`` (a rating edit shows up within that time); an outlet the
    registry does not know is ``unrated``."""

    def __init__(self, ttl_s: float = 300.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Source]] = {}

    async def get_many(self, db: DB, domains: Iterable[str]) -> dict[str, Source]:
        now = time.monotonic()
        wanted = set(domains)
        fresh = {d: e[1] for d in wanted if (e := self._entries.get(d)) and now - e[0] < self.ttl_s}
        missing = sorted(wanted - fresh.keys())
        docs = await asyncio.gather(*(db.sources.find_one({"_id": d}) for d in missing))
        for domain, doc in zip(missing, docs, strict=True):
            try:
                source = source_from_doc(doc) if doc else Source(domain=domain)
            except ValueError:  # a broken registry entry must not stop scoring: treat it as unrated
                log.warning("unreadable source document %r; scoring it as unrated", domain)
                source = Source(domain=domain)
            self._entries[domain] = (now, source)
            fresh[domain] = source
        return fresh


# ---------------------------------------------------------------- story_views (ours)


async def load_views(db: DB, story_ids: Sequence[str]) -> dict[str, StoryScored]:
    """Current views by story id; a merged story maps to its survivor's view (one hop)."""
    ids = list(dict.fromkeys(story_ids))
    docs = await asyncio.gather(*(db[STORY_VIEWS].find_one({"_id": sid}) for sid in ids))
    views = {sid: v for sid, d in zip(ids, docs, strict=True) if (v := _readable_view(d)) is not None}
    merged = {sid: v.merged_into for sid, v in views.items() if v.merged_into}
    if merged:
        survivors = await asyncio.gather(*(db[STORY_VIEWS].find_one({"_id": s}) for s in merged.values()))
        for sid, doc in zip(merged, survivors, strict=True):
            survivor = _readable_view(doc)
            if survivor is not None and survivor.merged_into is None:
                views[sid] = survivor
            else:
                del views[sid]
    return views


def _readable_view(doc: Doc | None) -> StoryScored | None:
    """A stored view, or None when there is none or it cannot be read (a related story's broken
    document must not stop this story)."""
    if doc is None:
        return None
    try:
        return view_from_document(doc)
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable story view %r", doc.get("_id"))
        return None


class Outcome(enum.Enum):
    stored = "stored"  # this version is now the stored view
    same = "same"  # this very version was stored before (a redelivery)
    stale = "stale"  # a newer version is stored; this one was dropped


async def store_view(
    db: DB, view: StoryScored, *, updated_at: datetime, recheck_delay_s: float, attempts: int = 5
) -> tuple[Outcome, StoryScored]:
    """Version-checked upsert: an older version never replaces a newer one.

    Read, compare, replace guarded by the version read, then re-read after ``recheck_delay_s``.
    MongoDB applies the guarded replace atomically; FerretDB does not, so a racing replica holding an
    older version may overwrite ours between its read and its write: the re-read sees that and the
    newer writer writes again. Returns what happened and the view that is stored for this version
    (on ``same``, the one stored first: re-emitting it keeps its ``event_id``).
    """
    coll = db[STORY_VIEWS]
    doc = view_document(view, updated_at=updated_at)
    for _ in range(attempts):
        current = await coll.find_one({"_id": view.story_id}, {"version": 1, "view": 1})
        if current is not None and current["version"] >= view.version:
            if current["version"] == view.version:
                return Outcome.same, _readable_view(current) or view
            return Outcome.stale, view
        if current is None:
            try:
                await coll.insert_one(doc)
            except DuplicateKeyError:  # another replica inserted first: compare again
                continue
        else:
            await coll.replace_one({"_id": view.story_id, "version": current["version"]}, doc)
        if recheck_delay_s:
            await asyncio.sleep(recheck_delay_s)
        after = await coll.find_one({"_id": view.story_id}, {"version": 1})
        if after is not None and after["version"] >= view.version:
            return (Outcome.stored if after["version"] == view.version else Outcome.stale), view
        log.warning("view of %s was overwritten by an older version; writing again", view.story_id)
    raise RuntimeError(f"could not store version {view.version} of {view.story_id} in {attempts} attempts")
