"""The feed registry's documents, and the poller that keeps feeds read.

Several ingest replicas share the work through leases in MongoDB: a replica claims a due feed
(compare-and-set), polls it, records the outcome and schedules the next poll. A lease expires,
so the feeds of a replica that crashed mid-poll are picked up by the others.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tellwell.ingest import repository as repo
from tellwell.ingest.domain import (
    MAX_TEXT,
    ArticleIn,
    Prepared,
    backoff_s,
    feed_kind,
    language_tag,
    prepare,
)
from tellwell.ingest.fetch import FetchError, Resolver, SafeFetcher, check_host, parse_url
from tellwell.ingest.identity import InvalidURL, article_id, canonical_url
from tellwell.ingest.parse import FeedEntry, FeedError, extract_article, parse_feed
from tellwell.ingest.pipeline import Ingestor
from tellwell.ingest.registry import registrable_domain
from tellwell.ingest.settings import Settings

log = logging.getLogger(__name__)

SEEN_IDS_KEPT = 1000  # per feed; feeds list their latest tens of entries

POLLS = Counter("tellwell_ingest_polls_total", "Feed polls by outcome", ["outcome"])
POLL_SECONDS = Histogram("tellwell_ingest_poll_seconds", "Time to poll one feed, pages included")


class FeedIn(BaseModel):
    """A feed to register."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(max_length=4000)
    category: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=35)
    interval_s: int | None = Field(default=None, ge=60, le=7 * 24 * 3600)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = canonical_url(value)
            parse_url(url)  # what the poller will request: refuse now what it could never fetch
        except InvalidURL as exc:
            raise ValueError(str(exc)) from exc
        except FetchError as exc:
            raise ValueError(f"cannot be fetched: {exc.message}") from exc
        return url


REGISTRATION_RESOLVE_S = 2.0  # a registration waits this long for DNS, at most


class FeedRefused(ValueError):
    """A feed the poller could never fetch: its host is, or resolves to, a non-public address."""


async def check_feed_address(
    url: str,
    *,
    allow_hosts: Iterable[str] = (),
    resolver: Resolver | None = None,
    timeout_s: float = REGISTRATION_RESOLVE_S,
) -> None:
    """Refuse at registration a feed that every poll would refuse (``blocked_address``).

    ``url`` is a ``FeedIn.url`` (canonical: any IPv4 spelling is a dotted quad by then, so hex,
    octal, integer and short forms are caught as the address they stand for). Refused, with
    ``FeedRefused``: a host that is a non-public IP address (loopback, private, link-local,
    unspecified, multicast, reserved, shared, documentation ranges), or a name with any non-public
    address, as the fetcher refuses it. ``allow_hosts`` (``INGEST_FETCH_ALLOW_HOSTS``: intranet
    feeds, the tests' loopback servers) are let through, as the fetcher lets them through.

    A name that does not resolve, or not within ``timeout_s``, is accepted: DNS fails for a while
    (a new domain, a resolver outage) and a feed should not have to be registered again after it.
    The poller then records each failed poll as the feed's ``last_error`` (``connection: cannot
    resolve ...``) and backs off. The fetcher checks the address again at every poll and connect,
    as DNS answers change after registration.
    """
    try:
        await check_host(url, allow_hosts=allow_hosts, resolver=resolver, timeout_s=timeout_s)
    except FetchError as exc:
        if exc.kind in ("blocked_address", "bad_url"):
            raise FeedRefused(exc.message) from None
        log.info("feed %s does not resolve at registration (%s): accepted", url[:200], exc.message)


def new_feed_doc(
    feed: FeedIn, now: datetime, default_interval_s: int, *, status: str | None = None
) -> dict[str, Any]:
    kind = feed_kind(feed.url)
    return {
        "_id": repo.feed_id(feed.url),
        "url": feed.url,
        "category": feed.category,
        "language": language_tag(feed.language) if feed.language else None,
        "kind": kind,
        "interval_s": feed.interval_s or default_interval_s,
        "status": status or "active",
        "paused_reason": None,
        "etag": None,
        "last_modified": None,
        "last_status": None,
        "last_error": None,
        "last_http_status": None,
        "last_fetched_at": None,
        "next_poll_at": now,
        "failures": 0,
        "entries_seen": 0,
        "articles_added": 0,
        "lease_owner": None,
        "lease_until": now,
        "lease_version": 0,
        "seen_ids": [],
        "created_at": now,
    }


def entry_article(entry: FeedEntry, feed: dict[str, Any]) -> ArticleIn:
    """The feed's own text for an entry: the fallback when its page cannot be used."""
    return ArticleIn(
        url=entry.url,
        title=entry.title or entry.url,
        text=entry.summary,
        lead=entry.summary[:500],
        lang=entry.language or feed.get("language"),
        published_at=entry.published_at,
        authors=entry.authors,
        category=feed.get("category"),
    )


def trusted_canonical(canonical: str | None, page_url: str) -> str | None:
    """A page's rel=canonical, honoured only within the page's own site.

    Otherwise any page could claim another outlet's URL and be stored under that outlet's source
    and article id (and the real article later dropped as its duplicate).
    """
    if canonical and (site := _site(canonical)) is not None and site == _site(page_url):
        return canonical
    return None


def _site(url: str) -> str | None:
    try:
        return registrable_domain(url) or urlsplit(url).hostname  # IP hosts have no registrable domain
    except ValueError:  # e.g. an unbalanced "[": no site at all
        return None


class Poller:
    """Claims due feeds and polls them, ``settings.poll_workers`` at a time."""

    def __init__(self, db: repo.DB, ingestor: Ingestor, fetcher: SafeFetcher, settings: Settings) -> None:
        self.db = db
        self.ingestor = ingestor
        self.fetcher = fetcher
        self.settings = settings
        self.owner = settings.replica_id
        self.rng = random.Random()

    async def run(self, stop: asyncio.Event) -> None:
        workers = [asyncio.create_task(self.run_worker(stop)) for _ in range(self.settings.poll_workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()

    def idle_wait_s(self, empty_looks: int) -> float:
        """The wait after ``empty_looks`` looks in a row found no due feed: ``poll_tick_s``, doubling
        up to ``poll_idle_max_s`` (an idle replica's workers stop querying the store every few
        seconds), jittered so that workers and replicas spread out."""
        doubled = self.settings.poll_tick_s * 2.0 ** min(empty_looks - 1, 16)
        return min(self.settings.poll_idle_max_s, doubled) * self.rng.uniform(0.5, 1.5)

    async def run_worker(self, stop: asyncio.Event) -> None:
        """One worker: poll due feeds one after another; wait (``idle_wait_s``) when none is due."""
        empty_looks = 0
        while not stop.is_set():
            try:
                polled = await self.poll_next()
            except Exception:  # the store is down or a bug: log, wait, keep the worker alive
                log.exception("poll loop error")
                polled = False
            if polled:
                empty_looks = 0
                continue
            empty_looks += 1
            try:
                await asyncio.wait_for(stop.wait(), self.idle_wait_s(empty_looks))
            except TimeoutError:
                pass

    async def poll_next(self) -> bool:
        """Claim and poll one due feed; False when none is due."""
        now = datetime.now(UTC)
        feed = await repo.claim_due_feed(self.db, self.owner, now, timedelta(seconds=self.settings.lease_s))
        if feed is None:
            return False
        with POLL_SECONDS.time():
            try:
                update = await self.poll(feed)
            except Exception as exc:  # never let one feed kill a worker
                log.exception("polling %s failed", feed["url"])
                update = self._failure(feed, "internal", f"{type(exc).__name__}: {exc}", None, None)
        POLLS.labels(update["last_status"]).inc()
        await repo.finish_poll(self.db, feed["_id"], self.owner, update, datetime.now(UTC))
        return True

    def _failure(
        self, feed: dict[str, Any], kind: str, message: str, status: int | None, retry_after_s: float | None
    ) -> dict[str, Any]:
        failures = feed.get("failures", 0) + 1
        delay = backoff_s(
            failures,
            base_s=feed["interval_s"],
            cap_s=self.settings.max_backoff_s,
            retry_after_s=retry_after_s,
            rng=self.rng,
        )
        now = datetime.now(UTC)
        return {
            "last_status": "error",
            "last_error": f"{kind}: {message}"[:1000],
            "last_http_status": status,
            "last_fetched_at": now,
            "failures": failures,
            "next_poll_at": now + timedelta(seconds=delay),
        }

    def _success(self, feed: dict[str, Any], status: str, http_status: int, **extra: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        jitter = self.rng.uniform(0.9, 1.1)  # spread feeds that were added together
        return {
            "last_status": status,
            "last_error": None,
            "last_http_status": http_status,
            "last_fetched_at": now,
            "failures": 0,
            "next_poll_at": now + timedelta(seconds=feed["interval_s"] * jitter),
            **extra,
        }

    async def poll(self, feed: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self.fetcher.fetch(
                feed["url"], etag=feed.get("etag"), last_modified=feed.get("last_modified"), accept="feed"
            )
        except FetchError as exc:
            return self._failure(feed, exc.kind, exc.message, exc.status, exc.retry_after_s)
        if response.not_modified:
            return self._success(feed, "not_modified", response.status)
        try:
            parsed = await asyncio.to_thread(parse_feed, response.body, response.url)
        except FeedError as exc:
            return self._failure(feed, "parse", str(exc), response.status, None)

        by_id: dict[str, FeedEntry] = {}
        for entry in parsed.entries:
            try:
                by_id.setdefault(article_id(entry.url), entry)
            except InvalidURL:
                continue
        # Entries already seen in this feed are skipped without a store query; anything that slips
        # through (a crash before seen_ids was saved) is dropped by the article's unique id.
        seen = set(feed.get("seen_ids") or ())
        fresh = [e for aid, e in by_id.items() if aid not in seen]
        prepared: list[Prepared] = []
        for i, e in enumerate(fresh):
            try:
                prepared.append(await self._article(e, feed, fetch_page=i < self.settings.pages_per_poll))
            except ValueError as exc:  # one unusable entry must not cost the feed all its others
                log.warning("skipping entry %s of %s: %s", e.url[:200], feed["url"], exc)
        result = await self.ingestor.ingest(prepared)
        seen_ids = list(by_id) + [aid for aid in feed.get("seen_ids") or () if aid not in by_id]
        return self._success(
            feed,
            "ok",
            response.status,
            seen_ids=seen_ids[:SEEN_IDS_KEPT],
            etag=response.etag,
            last_modified=response.last_modified,
            entries_seen=feed.get("entries_seen", 0) + len(parsed.entries),
            articles_added=feed.get("articles_added", 0) + len(result.created),
        )

    async def _article(self, entry: FeedEntry, feed: dict[str, Any], *, fetch_page: bool) -> Prepared:
        """The page's text when it can be fetched and extracted, else the feed's own summary."""
        base = entry_article(entry, feed)
        now = datetime.now(UTC)
        if fetch_page:
            try:
                page = await self.fetcher.fetch(entry.url, accept="html")
                # CPU-bound parsing on a thread: the other poll workers keep running meanwhile
                extracted = await asyncio.to_thread(extract_article, page.body, page.url, page.encoding)
            except FetchError as exc:
                log.info("page %s not fetched (%s): using the feed summary", entry.url, exc.kind)
                extracted = None
            except ValueError as exc:  # markup the extractor chokes on (e.g. a malformed canonical link)
                log.info("page %s not extracted (%s): using the feed summary", entry.url, exc)
                extracted = None
            if extracted is not None:
                # validated again, not model_copy'd: the page's fields get the same plain-text rules
                update = {
                    "url": trusted_canonical(extracted.canonical_url, page.url) or page.url or entry.url,
                    "title": base.title if entry.title else (extracted.title or base.title),
                    "text": extracted.text[:MAX_TEXT],
                    "lead": extracted.text.split("\n", 1)[0][:500],
                    "lang": extracted.language or base.lang,
                    "published_at": entry.published_at or extracted.published_at,
                    "authors": entry.authors or extracted.authors,
                }
                try:
                    article = ArticleIn.model_validate(base.model_dump() | update)
                    return prepare(article, now=now, content_source="page", feed_id=feed["_id"])
                except (ValidationError, InvalidURL) as exc:  # e.g. the canonical link is no usable URL
                    log.info("page %s: %s: using the feed summary", entry.url, str(exc).splitlines()[0])
        return prepare(base, now=now, content_source="feed", feed_id=feed["_id"])
