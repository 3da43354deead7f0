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
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from tellwell.common.events import StoryScored
from tellwell.common.history import STORY_HISTORY, History
from tellwell.common.mongo import find_by_ids
from tellwell.common.sources import Source
from tellwell.common.views import (
    STORY_VIEW_INDEXES,
    STORY_VIEWS,
    VIEW_WRITES,
    mark_written,
    view_document,
    view_from_document,
)
from tellwell.score.domain import Member
from tellwell.score.related import EntityIndex, Entry, RelatedParams, view_entities

log = logging.getLogger(__name__)

Doc = dict[str, Any]
DB = AsyncDatabase[Doc]

_ARTICLE_FIELDS = dict.fromkeys(
    "url source source_name title text lead language published_at copy_of fingerprint".split(),
    1,
)


#: One small document per story, ``{_id, version, entities, first/last_published_at, merged_into,
#: updated_at}``, written by score after each view: what ``RelatedIndex`` reads to find related
#: stories (the entities are also a field of the ``story_views`` document itself).
STORY_ENTITIES = "story_entities"

#: ``by_entity`` serves "stories naming any of these entities lately" on a MongoDB server; FerretDB
#: 1.x does not use it (it scans), which is why ``RelatedIndex`` keeps the index in memory.
STORY_ENTITY_INDEXES: list[tuple[str, list[tuple[str, int]]]] = [
    ("by_entity", [("entities", 1), ("last_published_at", -1)]),
    ("by_update", [("updated_at", -1)]),
]


async def read_history(db: DB, story_id: str) -> History | None:
    """The story's stored history (``common.history``), or None; an unreadable one is started over."""
    doc = await db[STORY_HISTORY].find_one({"_id": story_id})
    if doc is None:
        return None
    try:
        return History.from_document(doc)
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable story history %r: starting it over", story_id)
        return None


async def write_history(db: DB, history: History) -> None:
    """Store the history (by ``_id`` alone: FerretDB 1.x scans the collection for any other filter).
    One writer per story in practice (the story's partition); a racing older version is dropped by
    ``with_version`` on the next write."""
    await db[STORY_HISTORY].replace_one({"_id": history.story_id}, history.to_document(), upsert=True)


async def ensure_indexes(db: DB) -> None:
    for name, keys in STORY_VIEW_INDEXES:
        await db[STORY_VIEWS].create_index(keys, name=name)
    await db[VIEW_WRITES].create_index([("updated_at", -1)], name="by_update")
    for name, keys in STORY_ENTITY_INDEXES:
        await db[STORY_ENTITIES].create_index(keys, name=name)


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
    docs = await find_by_ids(db.articles, unread, _ARTICLE_FIELDS)
    for doc in docs:
        if doc is not None and _readable(doc):
            member = member_from_doc(doc)
            known[member.article_id] = cache.put(member) if cache is not None else member
    return [known[aid] for aid in ids if aid in known], [aid for aid in ids if aid not in known]


def source_from_doc(doc: Doc) -> Source:
    data = {k: v for k, v in doc.items() if k != "_id"}
    return Source(domain=doc["_id"], **data)


class SourceCache:
    """The whole registry, read in one query and reloaded when older than ``ttl_s`` (a rating edit
    shows up within that time); an outlet the registry does not know is ``unrated``.

    The registry is small (a few thousand outlets) and rarely changes, while a story brings new
    outlets at every version: one read of all of it every few minutes replaces a lookup per new
    outlet, each of which would add a round trip to a story's latency."""

    def __init__(self, ttl_s: float = 300.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, Source] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def _load(self, db: DB) -> None:
        entries: dict[str, Source] = {}
        async for doc in db.sources.find({}):
            try:
                entries[str(doc["_id"])] = source_from_doc(doc)
            except ValueError:  # a broken registry entry must not stop scoring: treat it as unrated
                log.warning("unreadable source document %r; scoring it as unrated", doc.get("_id"))
        self._entries, self._loaded_at = entries, time.monotonic()

    async def get_many(self, db: DB, domains: Iterable[str]) -> dict[str, Source]:
        async with self._lock:  # stories scored at once share one reload
            if self._loaded_at is None or time.monotonic() - self._loaded_at >= self.ttl_s:
                await self._load(db)
        return {d: self._entries.get(d) or Source(domain=d) for d in set(domains)}


# ---------------------------------------------------------------- story_views (ours)


class ViewCache:
    """Views this replica stored or read lately, by story id, least recently used evicted.

    Score writes every view, so the views of related stories are usually ones this process stored
    itself: their display fields (title, confidence, counts) are reused for ``ttl_s`` instead of one
    FerretDB round trip per related story and version. A view another replica stored shows up within
    ``ttl_s``. The versions kept are also a *hint* for ``store_view`` (a guarded replace with a stale
    hint matches nothing and falls back to reading), never trusted as the stored state."""

    def __init__(self, ttl_s: float = 30.0, capacity: int = 50_000) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._items: OrderedDict[str, tuple[float, StoryScored]] = OrderedDict()

    def get(self, story_id: str) -> StoryScored | None:
        entry = self._items.get(story_id)
        if entry is None or time.monotonic() - entry[0] >= self.ttl_s:
            return None
        self._items.move_to_end(story_id)
        return entry[1]

    def version(self, story_id: str) -> int | None:
        """The version last seen stored (however old the entry): a hint only."""
        entry = self._items.get(story_id)
        return entry[1].version if entry is not None else None

    def put(self, view: StoryScored) -> None:
        self._items[view.story_id] = (time.monotonic(), view)
        self._items.move_to_end(view.story_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)


async def _views_by_id(db: DB, ids: Sequence[str], cache: ViewCache | None) -> dict[str, StoryScored]:
    found = {sid: v for sid in ids if cache is not None and (v := cache.get(sid)) is not None}
    unread = [sid for sid in ids if sid not in found]
    docs = await find_by_ids(db[STORY_VIEWS], unread)
    for sid, doc in zip(unread, docs, strict=True):
        if (view := _readable_view(doc)) is not None:
            found[sid] = view
            if cache is not None:
                cache.put(view)
    return found


async def load_views(
    db: DB, story_ids: Sequence[str], cache: ViewCache | None = None
) -> dict[str, StoryScored]:
    """Current views by story id (from ``cache`` when it holds them); a merged story maps to its
    survivor's view (one hop)."""
    ids = list(dict.fromkeys(story_ids))
    views = await _views_by_id(db, ids, cache)
    merged = {sid: v.merged_into for sid, v in views.items() if v.merged_into}
    if merged:
        survivors = await _views_by_id(db, list(dict.fromkeys(merged.values())), cache)
        for sid, target in merged.items():
            survivor = survivors.get(target)
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
    unchecked = "unchecked"  # stored by a replace whose race re-check is left to ``confirm_view``


async def store_view(
    db: DB,
    view: StoryScored,
    *,
    updated_at: datetime,
    recheck_delay_s: float,
    attempts: int = 5,
    known_version: int | None = None,
    recheck: bool = True,
) -> tuple[Outcome, StoryScored]:
    """Version-checked upsert: an older version never replaces a newer one.

    Read, compare, replace guarded by the version read, then re-read after ``recheck_delay_s``.
    MongoDB applies the guarded replace atomically; FerretDB does not, so a racing replica holding an
    older version may overwrite ours between its read and its write: the re-read sees that and the
    newer writer writes again. Returns what happened and the view that is stored for this version
    (on ``same``, the one stored first: re-emitting it keeps its ``event_id``).

    ``known_version`` (the version this replica last saw stored) saves the first read: the replace is
    guarded by it, and when it matches nothing the usual read follows. An *insert* needs no re-check:
    a racing writer either read no document (and its insert fails on the duplicate key) or read an
    older document, which cannot exist when our read found none (views are never deleted).
    ``recheck=False`` leaves the re-check of a replace to the caller (``confirm_view``), so that the
    event can be published first.
    """
    coll = db[STORY_VIEWS]
    doc = view_document(view, updated_at=updated_at, entities=view_entities(view))
    if known_version is not None and known_version < view.version:
        result = await coll.replace_one({"_id": view.story_id, "version": known_version}, doc)
        if result.matched_count:
            await mark_written(db, doc)
            if not recheck:
                return Outcome.unchecked, view
            return await confirm_view(
                db, view, updated_at=updated_at, recheck_delay_s=recheck_delay_s, attempts=attempts
            )
    for attempt in range(attempts):
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
            await mark_written(db, doc)
            return Outcome.stored, view
        if (await coll.replace_one({"_id": view.story_id, "version": current["version"]}, doc)).matched_count:
            await mark_written(db, doc)
        if not recheck:
            return Outcome.unchecked, view
        # What is left of the attempts goes to the re-check's own write-again.
        return await confirm_view(
            db, view, updated_at=updated_at, recheck_delay_s=recheck_delay_s, attempts=attempts - attempt
        )
    raise RuntimeError(f"could not store version {view.version} of {view.story_id} in {attempts} attempts")


async def confirm_view(
    db: DB, view: StoryScored, *, updated_at: datetime, recheck_delay_s: float, attempts: int = 5
) -> tuple[Outcome, StoryScored]:
    """The re-check after a replace: wait ``recheck_delay_s``, re-read, and write again when an older
    version landed after ours (FerretDB's guarded replace is not atomic)."""
    if recheck_delay_s:
        await asyncio.sleep(recheck_delay_s)
    after = await db[STORY_VIEWS].find_one({"_id": view.story_id}, {"version": 1})
    if after is not None and after["version"] >= view.version:
        return (Outcome.stored if after["version"] == view.version else Outcome.stale), view
    log.warning("view of %s was overwritten by an older version; writing again", view.story_id)
    return await store_view(
        db, view, updated_at=updated_at, recheck_delay_s=recheck_delay_s, attempts=attempts - 1
    )


# ---------------------------------------------------------------- story_entities (ours)


def entry_document(entry: Entry, *, updated_at: datetime) -> Doc:
    return {
        "_id": entry.story_id,
        "version": entry.version,
        "entities": list(entry.entities),
        "first_published_at": entry.first_published_at,
        "last_published_at": entry.last_published_at,
        "merged_into": entry.merged_into,
        "updated_at": updated_at,
    }


def entry_from_document(doc: Doc) -> Entry | None:
    try:
        return Entry(
            story_id=str(doc["_id"]),
            version=int(doc["version"]),
            entities=tuple(str(e) for e in doc.get("entities") or ()),
            first_published_at=_aware(doc["first_published_at"]),
            last_published_at=_aware(doc["last_published_at"]),
            merged_into=doc.get("merged_into"),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("unreadable story_entities document %r", doc.get("_id"))
        return None


def _aware(value: datetime) -> datetime:
    """PyMongo returns naive UTC datetimes unless the client is tz-aware."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def store_entry(db: DB, entry: Entry, *, updated_at: datetime) -> None:
    """Upsert a story's entry unless a newer version of it is stored."""
    doc = entry_document(entry, updated_at=updated_at)
    try:
        await db[STORY_ENTITIES].replace_one(
            {"_id": entry.story_id, "version": {"$lte": entry.version}}, doc, upsert=True
        )
    except DuplicateKeyError:  # a newer version is stored (the filter missed it, the insert clashed)
        pass


class RelatedIndex:
    """The ``EntityIndex`` of this replica: loaded from ``story_entities`` on first use (entries
    written within ``retention``), then refreshed every ``refresh_s`` with the entries written since
    (by other replicas: this one adds its own as it stores them). A refresh runs in the background
    of the stories that find one running: they use the index as it is."""

    def __init__(
        self,
        params: RelatedParams | None = None,
        *,
        refresh_s: float = 10.0,
        retention: timedelta = timedelta(days=30),
        slack: timedelta = timedelta(minutes=1),  # clock skew between replicas' updated_at
    ) -> None:
        self.index = EntityIndex(params)
        self.refresh_s = refresh_s
        self.retention = retention
        self.slack = slack
        self._since: datetime | None = None
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def _load(self, db: DB, now: datetime) -> None:
        since = now - self.retention if self._since is None else self._since - self.slack
        async for doc in db[STORY_ENTITIES].find({"updated_at": {"$gte": since}}):
            if (entry := entry_from_document(doc)) is not None:
                self.index.add(entry)
        self._since, self._loaded_at = now, time.monotonic()

    async def fresh(self, db: DB, now: datetime) -> EntityIndex:
        if self._loaded_at is None:
            async with self._lock:  # the first stories wait for the first load
                if self._loaded_at is None:
                    await self._load(db, now)
        elif time.monotonic() - self._loaded_at >= self.refresh_s and not self._lock.locked():
            async with self._lock:
                await self._load(db, now)
        return self.index

    def add(self, entry: Entry) -> None:
        self.index.add(entry)
