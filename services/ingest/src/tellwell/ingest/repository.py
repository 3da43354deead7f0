"""Every MongoDB query of the ingest service.

Ingest owns ``feeds``, ``articles``, ``sources``, ``apikeys`` and its ``outbox``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from tellwell.common import mongo
from tellwell.common.events import RawArticle
from tellwell.common.sources import Source
from tellwell.ingest.domain import Prepared
from tellwell.ingest.identity import signature_bytes
from tellwell.ingest.registry import unrated_source

Doc = dict[str, Any]
DB = AsyncDatabase[Doc]


async def ensure_indexes(db: DB) -> None:
    await db.articles.create_index([("stored_at", ASCENDING)], name="stored_at")
    await db.outbox.create_index([("created_at", ASCENDING)], name="created_at")
    await db.feeds.create_index([("url", ASCENDING)], unique=True, name="url_unique")
    await db.feeds.create_index([("status", ASCENDING), ("next_poll_at", ASCENDING)], name="due")


# ----------------------------------------------------------------------------- articles


def article_doc(p: Prepared, copy_of: str | None, event_id: str, trace_id: str) -> Doc:
    return {
        "_id": p.article_id,
        "url": p.url,
        "source": p.source,
        "source_name": p.source_name,
        "title": p.title,
        "text": p.text,
        "lead": p.lead,
        "language": p.language,
        "published_at": p.published_at,
        "fetched_at": p.fetched_at,
        "stored_at": p.fetched_at,
        "authors": p.authors,
        "category_hint": p.category_hint,
        "content_source": p.content_source,
        "feed_id": p.feed_id,
        "fingerprint": p.fingerprint,
        "signature": signature_bytes(p.signature) if p.signature is not None else None,
        "copy_of": copy_of,
        "event_id": event_id,
        "trace_id": trace_id,
    }


def raw_article_event(doc: Doc) -> RawArticle:
    """The ``raw.article`` event of a stored article: the same event_id on every re-emit."""
    return RawArticle(
        event_id=doc["event_id"],
        trace_id=doc["trace_id"],
        producer="ingest",
        article_id=doc["_id"],
        url=doc["url"],
        source=doc["source"],
        source_name=doc.get("source_name"),
        title=doc["title"],
        text=doc.get("text", ""),
        lead=doc.get("lead", ""),
        language=doc.get("language", "und"),
        published_at=doc["published_at"],
        fetched_at=doc["fetched_at"],
        authors=doc.get("authors", []),
        fingerprint=doc["fingerprint"],
        copy_of=doc.get("copy_of"),
        category_hint=doc.get("category_hint"),
        feed_id=doc.get("feed_id"),
        content_source=doc.get("content_source", "page"),
    )


async def insert_new(db: DB, docs: Sequence[Doc]) -> list[str]:
    """Insert the articles not stored yet; returns the ids that were new. Idempotent.

    One unordered bulk insert; the unique ``_id`` rejects what is already stored. (Bulk inserts
    are what every MongoDB-wire server does fast; per-document upserts are not, on FerretDB.)
    """
    return [docs[i]["_id"] for i in await mongo.insert_new(db.articles, docs)]


async def recent_signatures(db: DB, since: datetime) -> list[Doc]:
    """Signatures of articles stored since ``since`` (to warm and refresh the copy index)."""
    cursor = db.articles.find(
        {"stored_at": {"$gt": since}, "signature": {"$ne": None}},
        {"source": 1, "published_at": 1, "signature": 1, "copy_of": 1, "stored_at": 1},
    )
    return [d async for d in cursor]


# The outbox: one document per batch of articles whose raw.article is not yet confirmed.


async def open_outbox(db: DB, ids: Sequence[str], now: datetime) -> str:
    batch_id = uuid.uuid4().hex
    await db.outbox.insert_one({"_id": batch_id, "ids": list(ids), "created_at": now})
    return batch_id


async def close_outbox(db: DB, batch_id: str) -> None:
    await db.outbox.delete_one({"_id": batch_id})


async def stale_outbox(db: DB, older_than: datetime) -> list[Doc]:
    return [d async for d in db.outbox.find({"created_at": {"$lte": older_than}}).limit(100)]


async def articles_by_id(db: DB, ids: Sequence[str]) -> list[Doc]:
    return [d async for d in db.articles.find({"_id": {"$in": list(ids)}})]


async def get_article(db: DB, aid: str) -> Doc | None:
    return await db.articles.find_one({"_id": aid}, {"signature": 0})


# ----------------------------------------------------------------------------- sources


def source_doc(source: Source) -> Doc:
    data = source.model_dump(mode="json")
    data["_id"] = data.pop("domain")
    return data


def source_from_doc(doc: Doc) -> Source:
    data = {k: v for k, v in doc.items() if k != "_id"}
    return Source(domain=doc["_id"], **data)


async def ensure_sources(db: DB, domains: Iterable[str]) -> None:
    """An unknown domain gets an ``unrated`` source; known ones are left as they are."""
    await mongo.insert_new(db.sources, [source_doc(unrated_source(d)) for d in sorted(set(domains))])


async def all_sources(db: DB) -> list[Source]:
    return [source_from_doc(d) async for d in db.sources.find()]


async def sync_sources(db: DB, sources: Iterable[Source]) -> tuple[int, int]:
    """Write the sources that are new or differ from what is stored; returns (new, changed)."""
    stored = {s.domain: s for s in await all_sources(db)}
    new = [s for s in sources if s.domain not in stored]
    changed = [s for s in sources if s.domain in stored and stored[s.domain] != s]
    if changed:  # replace as delete + bulk insert: per-document updates are slow on FerretDB
        await db.sources.delete_many({"_id": {"$in": [s.domain for s in changed]}})
    for start in range(0, len(new) + len(changed), 1000):
        batch = (new + changed)[start : start + 1000]
        await db.sources.insert_many([source_doc(s) for s in batch], ordered=False)
    return len(new), len(changed)


async def get_source(db: DB, domain: str) -> Source | None:
    doc = await db.sources.find_one({"_id": domain})
    return source_from_doc(doc) if doc else None


async def list_sources(db: DB, *, after: str | None, limit: int) -> list[Source]:
    query = {"_id": {"$gt": after}} if after else {}
    return [source_from_doc(d) async for d in db.sources.find(query).sort("_id", 1).limit(limit)]


async def replace_source(db: DB, source: Source) -> None:
    await db.sources.replace_one({"_id": source.domain}, source_doc(source), upsert=True)


# ----------------------------------------------------------------------------- feeds


def feed_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


async def add_feeds(db: DB, feeds: Sequence[Doc]) -> int:
    """Insert feeds not registered yet (by URL); returns how many were new."""
    return len(await mongo.insert_new(db.feeds, feeds))


async def get_feed(db: DB, fid: str) -> Doc | None:
    return await db.feeds.find_one({"_id": fid})


async def list_feeds(db: DB, *, status: str | None, after: str | None, limit: int) -> list[Doc]:
    query: Doc = {}
    if status:
        query["status"] = status
    if after:
        query["_id"] = {"$gt": after}
    return [d async for d in db.feeds.find(query).sort("_id", 1).limit(limit)]


async def set_feed_status(db: DB, fid: str, status: str, reason: str | None = None) -> Doc | None:
    return await db.feeds.find_one_and_update(
        {"_id": fid},
        {"$set": {"status": status, "paused_reason": reason}},
        return_document=ReturnDocument.AFTER,
    )


async def delete_feed(db: DB, fid: str) -> bool:
    return (await db.feeds.delete_one({"_id": fid})).deleted_count == 1


async def claim_due_feed(db: DB, owner: str, now: datetime, lease: timedelta) -> Doc | None:
    """Lease one due feed to ``owner``; a lease expires so a crashed replica's feeds are picked up.

    The claim is an insert of ``<feed id>:<lease version>`` into ``feed_claims``: of replicas racing
    for one feed, the unique ``_id`` lets exactly one insert succeed. (A conditional update is not
    enough: FerretDB 1.x on SQLite checks the filter and writes in two steps, so two replicas can
    both "win" an update.) The winner then moves the feed to the next lease version.
    """
    due = {"status": "active", "next_poll_at": {"$lte": now}, "lease_until": {"$lte": now}}
    candidates = [d async for d in db.feeds.find(due, {"lease_version": 1}).sort("next_poll_at", 1).limit(8)]
    for candidate in candidates:
        version = candidate.get("lease_version", 0)
        claim_id = f"{candidate['_id']}:{version}"
        try:
            await db.feed_claims.insert_one({"_id": claim_id, "owner": owner, "created_at": now})
        except DuplicateKeyError:
            stale = await db.feed_claims.find_one({"_id": claim_id, "created_at": {"$lte": now - lease}})
            if stale is None:
                continue  # another replica holds it
            # the winner of this version died before taking the lease: free the version, try again
            await db.feed_claims.delete_one({"_id": claim_id, "created_at": stale["created_at"]})
            try:
                await db.feed_claims.insert_one({"_id": claim_id, "owner": owner, "created_at": now})
            except DuplicateKeyError:
                continue
        return await db.feeds.find_one_and_update(
            {"_id": candidate["_id"]},
            {"$set": {"lease_owner": owner, "lease_until": now + lease, "lease_version": version + 1}},
            return_document=ReturnDocument.AFTER,
        )
    return None


async def prune_claims(db: DB, older_than: datetime) -> None:
    await db.feed_claims.delete_many({"created_at": {"$lt": older_than}})


async def finish_poll(db: DB, fid: str, owner: str, update: Doc, now: datetime) -> None:
    """Record a poll's outcome and release the lease (only if still ours)."""
    await db.feeds.update_one(
        {"_id": fid, "lease_owner": owner}, {"$set": {**update, "lease_until": now, "lease_owner": None}}
    )


# ----------------------------------------------------------------------------- API keys

KEY_PREFIX = "tw_"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_api_key(db: DB, name: str, now: datetime) -> str:
    """Create a key; only its hash is stored. Returns the secret, shown once."""
    key_id = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
    await db.apikeys.insert_one(
        {"_id": key_id, "name": name, "hash": hash_key(secret), "created_at": now, "revoked": False}
    )
    return secret


async def verify_api_key(db: DB, secret: str) -> Doc | None:
    if not secret.startswith(KEY_PREFIX) or secret.count("_") < 2:
        return None
    key_id = secret[len(KEY_PREFIX) :].split("_", 1)[0]
    doc = await db.apikeys.find_one({"_id": key_id, "revoked": False})
    if doc and secrets.compare_digest(doc["hash"], hash_key(secret)):
        return doc
    return None


async def list_api_keys(db: DB) -> list[Doc]:
    return [d async for d in db.apikeys.find({}, {"hash": 0}).sort("created_at", 1)]


async def revoke_api_key(db: DB, key_id: str) -> bool:
    return (await db.apikeys.update_one({"_id": key_id}, {"$set": {"revoked": True}})).matched_count == 1
