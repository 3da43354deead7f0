"""The feed poller end to end: a real site on loopback, the real fetcher, parser, store and ingestor.

Feeds and article pages are served by a threaded HTTP server on 127.0.0.2 (allow-listed); articles,
feeds and their per-feed status are read back from a fresh FerretDB database. Kafka is replaced by
a ``publish`` that records the ``raw.article`` events. Polling is driven with ``poll_next()`` (one
due feed per call), except for the replica test, which runs two pollers' worker loops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from xml.sax.saxutils import escape

import pytest

from tellwell.common.events import RawArticle
from tellwell.ingest import repository as repo
from tellwell.ingest.feeds import FeedIn, Poller, new_feed_doc
from tellwell.ingest.fetch import FetchPolicy, SafeFetcher
from tellwell.ingest.identity import article_id, canonical_url
from tellwell.ingest.pipeline import Ingestor
from tellwell.ingest.settings import Settings
from tests.fixtures.waiting import eventually
from tests.ingest.httpserver import SITE_HOST, TWENTY_MB, Site, hung_up, redirect, respond, stream_bytes
from tests.ingest.test_text import assert_plain

pytestmark = pytest.mark.mongo

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
INTERVAL_S = 900  # the feeds' poll interval unless a test needs another


# ----------------------------------------------------------------------------- content


@dataclass(frozen=True)
class Story:
    path: str
    title: str
    summary: str
    paragraphs: tuple[str, ...]
    published: datetime

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)

    def page(self, *, canonical: str | None = None, lang: str = "en", charset: str = "utf-8") -> str:
        link = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
        body = "".join(f"<p>{escape(p)}</p>" for p in self.paragraphs)
        return (
            f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="{charset}">'
            f"<title>{escape(self.title)} | Harbour Gazette</title>{link}</head><body>"
            '<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>'
            f"<main><article><h1>{escape(self.title)}</h1>"
            f'<time datetime="{self.published.isoformat()}">{self.published:%d %B %Y}</time>{body}'
            "</article></main><footer>© Harbour Gazette · Terms · Privacy</footer></body></html>"
        )


FLOOD = Story(
    "/news/2026/03/02/flood-barrier-approved",
    "Council approves £48m flood barrier for the estuary",
    "Councillors voted seven to two to fund a movable barrier after a decade of debate.",
    (
        "The harbour council voted seven to two on Tuesday night to fund a movable flood barrier at "
        "the mouth of the estuary, ending a decade of debate over how to protect the old town.",
        "Engineers expect construction to start next spring and to take three years; the barrier will "
        "close during storm surges and stay open for shipping the rest of the time.",
        "Residents of the low-lying Quay district, flooded twice in recent winters, packed the public "
        "gallery and applauded when the result was read out.",
    ),
    datetime(2026, 3, 2, 8, 15, tzinfo=UTC),
)
FERRY = Story(
    "/news/2026/03/02/ferry-crews-strike",
    "Ferry crews to strike over new rota",
    "Island services face a 48-hour walkout from Friday morning.",
    (
        "Crews on the island ferry routes will walk out for 48 hours from Friday morning after talks "
        "over a new shift rota broke down, their union said on Monday.",
        "The operator said it would run a reduced timetable on the busiest crossing and urged "
        "passengers to check sailings before travelling to the terminal.",
        "Island businesses warned that a long dispute would hit deliveries of fresh food and fuel in "
        "the middle of the lambing season.",
    ),
    datetime(2026, 3, 2, 9, 40, tzinfo=UTC),
)
MARKET = Story(
    "/news/2026/03/02/fish-market-reopens",
    "Fish market reopens after two-year refit",
    "Traders return to the restored quayside hall on Saturday.",
    (
        "The Victorian fish market on the quayside reopens on Saturday after a two-year refit that "
        "replaced its leaking roof and added a cold store for the day boats.",
        "Twelve traders have signed leases, and the council says a further six stalls will be let to "
        "food businesses once the upper gallery is finished in the summer.",
        "The first auction is due to start at five in the morning, as it did before the hall closed.",
    ),
    datetime(2026, 3, 2, 11, 5, tzinfo=UTC),
)
LIFEBOAT = Story(
    "/later/lifeboat-rescues-kayakers",
    "Lifeboat crew rescues two kayakers off the point",
    "Both were brought ashore cold but unhurt.",
    (
        "The inshore lifeboat was launched shortly after noon on Sunday when a walker saw two kayakers "
        "in difficulty in the strong tide off the point.",
        "Both were brought ashore cold but unhurt and were checked by paramedics at the station, the "
        "crew said, before being driven home by relatives.",
        "The coastguard reminded paddlers to check the tide tables and to carry a way of calling for "
        "help before setting out on the open water.",
    ),
    datetime(2026, 3, 1, 12, 30, tzinfo=UTC),
)


def rss(site: Site, stories: Sequence[Story], *, channel: str = "Harbour Gazette") -> bytes:
    items = "".join(
        f"<item><title>{escape(s.title)}</title><link>{site.url(s.path)}</link>"
        f'<guid isPermaLink="true">{site.url(s.path)}</guid>'
        f"<pubDate>{format_datetime(s.published)}</pubDate>"
        f"<description>{escape(s.summary)}</description></item>\n"
        for s in stories
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(channel)}</title><link>{site.url('/')}</link><language>en-gb</language>\n"
        f"{items}</channel></rss>\n"
    ).encode()


def serve_feed(site: Site, path: str, stories: Sequence[Story]) -> None:
    """The feed, and a page for each of its stories."""
    site.routes[path] = respond(200, rss(site, stories), {"Content-Type": RSS_TYPE})
    for story in stories:
        site.routes[story.path] = respond(200, story.page().encode(), {"Content-Type": HTML_TYPE})


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def published() -> list[RawArticle]:
    return []


@pytest.fixture
async def make_poller(mongo_db: repo.DB, published: list[RawArticle]) -> AsyncIterator[Callable[..., Poller]]:
    """Pollers on the test database, each with its own real fetcher and ingestor (as a replica has)."""
    await repo.ensure_indexes(mongo_db)
    fetchers: list[SafeFetcher] = []

    async def publish(events: Sequence[RawArticle]) -> None:
        published.extend(events)

    def make(replica_id: str = "replica-a", **settings: Any) -> Poller:
        policy = FetchPolicy(
            allow_hosts=frozenset({SITE_HOST}),
            per_host_min_interval_s=0,
            respect_robots=True,
            timeout_s=5.0,
            connect_timeout_s=2.0,
            user_agent=f"TellWellBot/0.1 ({replica_id})",  # tells the site which replica asked
        )
        fetcher = SafeFetcher(policy)
        fetchers.append(fetcher)
        values: dict[str, Any] = {
            "poll_workers": 2,
            "poll_tick_s": 0.05,
            "pages_per_poll": 10,
            "lease_s": 60,
            "max_backoff_s": 3600,
            "default_interval_s": INTERVAL_S,
        }
        values.update(settings)
        return Poller(
            mongo_db, Ingestor(mongo_db, publish), fetcher, Settings(replica_id=replica_id, **values)
        )

    yield make
    for fetcher in fetchers:
        await fetcher.aclose()


@pytest.fixture
def poller(make_poller: Callable[..., Poller]) -> Poller:
    return make_poller()


# ----------------------------------------------------------------------------- helpers


def now_ms() -> datetime:
    """Now, truncated to the millisecond the store keeps (so stored times compare as >=)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


async def add_feed(db: repo.DB, url: str, *, interval_s: int = INTERVAL_S) -> str:
    doc = new_feed_doc(FeedIn(url=url), datetime.now(UTC), interval_s)
    assert await repo.add_feeds(db, [doc]) == 1
    return str(doc["_id"])


async def feed_state(db: repo.DB, fid: str) -> dict[str, Any]:
    feed = await repo.get_feed(db, fid)
    assert feed is not None
    return feed


async def make_due(db: repo.DB, fid: str) -> None:
    await db.feeds.update_one({"_id": fid}, {"$set": {"next_poll_at": datetime.now(UTC)}})


async def articles(db: repo.DB) -> dict[str, dict[str, Any]]:
    return {doc["_id"]: doc async for doc in db.articles.find()}


def hits(site: Site, path: str) -> int:
    return sum(1 for p in site.paths() if p.split("?")[0] == path)


def assert_ok(
    feed: dict[str, Any],
    before: datetime,
    *,
    status: str = "ok",
    http: int = 200,
    interval_s: int = INTERVAL_S,
) -> None:
    after = datetime.now(UTC)
    assert feed["last_status"] == status
    assert feed["last_error"] is None
    assert feed["last_http_status"] == http
    assert feed["failures"] == 0
    assert before <= feed["last_fetched_at"] <= after
    # the next poll is one interval away, jittered by ±10% so that feeds added together spread out
    assert before + timedelta(seconds=0.9 * interval_s) <= feed["next_poll_at"]
    assert feed["next_poll_at"] <= after + timedelta(seconds=1.1 * interval_s)
    assert feed["lease_owner"] is None
    assert feed["lease_until"] <= after


def assert_error(
    feed: dict[str, Any], before: datetime, *, kind: str, http: int | None, failures: int = 1
) -> None:
    after = datetime.now(UTC)
    assert feed["last_status"] == "error"
    assert feed["last_error"].startswith(f"{kind}: "), feed["last_error"]
    assert feed["last_http_status"] == http
    assert feed["failures"] == failures
    assert before <= feed["last_fetched_at"] <= after
    assert feed["next_poll_at"] > after  # backed off, not retried at once
    assert feed["lease_owner"] is None


async def assert_still_polls(poller: Poller, site: Site, db: repo.DB) -> None:
    """Nothing else is due, and a good feed added now is polled and stored normally."""
    assert await poller.poll_next() is False
    serve_feed(site, "/later/feed.xml", [LIFEBOAT])
    fid = await add_feed(db, site.url("/later/feed.xml"))
    before = now_ms()

    assert await poller.poll_next() is True
    assert await poller.poll_next() is False

    assert_ok(await feed_state(db, fid), before)
    stored = await db.articles.find_one({"_id": article_id(site.url(LIFEBOAT.path))})
    assert stored is not None
    assert (stored["content_source"], stored["text"], stored["feed_id"]) == ("page", LIFEBOAT.text, fid)


# ----------------------------------------------------------------------------- tests


class TestNewArticles:
    async def test_rss_items_are_stored_with_page_text_and_emitted_once(
        self, site: Site, poller: Poller, mongo_db: repo.DB, published: list[RawArticle]
    ):
        stories = [FLOOD, FERRY, MARKET]
        serve_feed(site, "/rss/news.xml", stories)
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"))
        ids = [article_id(site.url(s.path)) for s in stories]
        before = now_ms()

        assert await poller.poll_next() is True

        stored = await articles(mongo_db)
        assert sorted(stored) == sorted(ids)
        for story, aid in zip(stories, ids, strict=True):
            doc = stored[aid]
            assert doc["content_source"] == "page"
            assert doc["text"] == story.text
            assert doc["lead"] == story.paragraphs[0]
            assert doc["title"] == story.title
            assert doc["url"] == canonical_url(site.url(story.path))
            assert doc["published_at"] == story.published
            assert doc["language"] == "en"
            assert doc["feed_id"] == fid
            assert doc["copy_of"] is None
            assert hits(site, story.path) == 1
        assert sorted(e.article_id for e in published) == sorted(ids)
        for event in published:
            doc = stored[event.article_id]
            assert (event.text, event.title, event.content_source) == (doc["text"], doc["title"], "page")
            assert (str(event.event_id), event.feed_id) == (doc["event_id"], fid)
        feed = await feed_state(mongo_db, fid)
        assert_ok(feed, before)
        assert feed["seen_ids"] == ids
        assert (feed["entries_seen"], feed["articles_added"]) == (3, 3)
        assert await mongo_db.outbox.count_documents({}) == 0

        # Polled again: the feed is fetched, its entries are known, nothing is fetched or stored.
        await make_due(mongo_db, fid)
        again = now_ms()
        assert await poller.poll_next() is True

        assert hits(site, "/rss/news.xml") == 2
        assert all(hits(site, s.path) == 1 for s in stories)
        assert sorted(await articles(mongo_db)) == sorted(ids)
        assert len(published) == 3
        feed = await feed_state(mongo_db, fid)
        assert_ok(feed, again)
        assert feed["seen_ids"] == ids
        assert (feed["entries_seen"], feed["articles_added"]) == (6, 3)
        await assert_still_polls(poller, site, mongo_db)


class TestPageFallback:
    async def test_unusable_pages_fall_back_to_the_feed_summary(
        self, site: Site, poller: Poller, mongo_db: repo.DB, published: list[RawArticle]
    ):
        paywalled = Story(
            "/news/2026/03/02/harbour-master-interview",
            "Harbour master: ‘We were lucky this winter’",
            "Captain Ines Duarte on storms, silt and the new barrier.",
            ("Subscribe to read the full interview.",),
            datetime(2026, 3, 2, 7, 0, tzinfo=UTC),
        )
        gone = Story(
            "/news/2026/03/02/pier-closure",
            "Pier closed after storm damage",
            "Engineers will inspect the Victorian pier on Wednesday.",
            (),
            datetime(2026, 3, 2, 6, 30, tzinfo=UTC),
        )
        private = Story(
            "/private/embargoed-budget",
            "Port budget: first look",
            "Harbour dues to rise by 4% from April.",
            (),
            datetime(2026, 3, 2, 6, 0, tzinfo=UTC),
        )
        site.routes["/robots.txt"] = respond(
            200, b"User-agent: *\nDisallow: /private/\n", {"Content-Type": "text/plain"}
        )
        site.routes["/rss/news.xml"] = respond(
            200, rss(site, [paywalled, gone, private, FLOOD]), {"Content-Type": RSS_TYPE}
        )
        site.routes[paywalled.path] = respond(200, paywalled.page().encode(), {"Content-Type": HTML_TYPE})
        site.routes[private.path] = respond(200, FERRY.page().encode(), {"Content-Type": HTML_TYPE})
        site.routes[FLOOD.path] = respond(200, FLOOD.page().encode(), {"Content-Type": HTML_TYPE})
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        stored = await articles(mongo_db)
        assert len(stored) == 4
        for story in (paywalled, gone, private):  # teaser page, 404, disallowed by robots.txt
            doc = stored[article_id(site.url(story.path))]
            assert doc["content_source"] == "feed"
            assert (doc["title"], doc["text"], doc["lead"]) == (story.title, story.summary, story.summary)
            assert doc["published_at"] == story.published
        assert hits(site, paywalled.path) == hits(site, gone.path) == 1
        assert hits(site, private.path) == 0
        assert stored[article_id(site.url(FLOOD.path))]["content_source"] == "page"
        assert sorted(e.content_source for e in published) == ["feed", "feed", "feed", "page"]
        feed = await feed_state(mongo_db, fid)
        assert_ok(feed, before)
        assert feed["articles_added"] == 4
        await assert_still_polls(poller, site, mongo_db)

    async def test_pages_per_poll_caps_page_fetches(
        self, site: Site, make_poller: Callable[..., Poller], mongo_db: repo.DB
    ):
        poller = make_poller(pages_per_poll=1)
        serve_feed(site, "/rss/news.xml", [FLOOD, FERRY, MARKET])
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        stored = await articles(mongo_db)
        sources = [stored[article_id(site.url(s.path))]["content_source"] for s in (FLOOD, FERRY, MARKET)]
        assert sources == ["page", "feed", "feed"]
        assert [hits(site, s.path) for s in (FLOOD, FERRY, MARKET)] == [1, 0, 0]
        assert_ok(await feed_state(mongo_db, fid), before)
        await assert_still_polls(make_poller(pages_per_poll=5), site, mongo_db)


class TestFeedFormats:
    async def test_atom_feed(self, site: Site, poller: Poller, mongo_db: repo.DB):
        dyke = Story(
            "/artikel/2026/03/deich-haelt",
            "Stürme & Fluten: Der Deich hält",
            "Der neue Deich bei Nordhafen hat die erste Sturmflut des Jahres überstanden.",
            (
                "Der im Herbst fertiggestellte Deich bei Nordhafen hat in der Nacht zum Montag die erste "
                "schwere Sturmflut des Jahres ohne Schäden überstanden, teilte der Landkreis mit.",
                "Das Wasser stieg bis knapp zwei Meter über das mittlere Hochwasser; die Sperrwerke an der "
                "Flussmündung wurden am Sonntagabend geschlossen und am Morgen wieder geöffnet.",
                "Anwohner der Hafenstraße, die vor zwei Jahren noch evakuiert werden mussten, konnten "
                "diesmal in ihren Häusern bleiben.",
            ),
            datetime(2026, 3, 2, 8, 30, tzinfo=UTC),
        )
        atom = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">
  <title>Nordküste Rundschau</title>
  <id>urn:uuid:6f1c9a52-0d8e-4f59-9a0e-1f6d0c2b7e11</id>
  <updated>2026-03-02T10:00:00Z</updated>
  <link rel="self" href="/atom.xml"/>
  <entry>
    <title type="html">Stürme &amp;amp; Fluten: Der Deich hält</title>
    <link rel="alternate" type="text/html" href="{dyke.path}"/>
    <id>urn:uuid:0b0e3d56-3a2f-4c38-9c55-5f3f4b1d2a01</id>
    <published>2026-03-02T09:30:00+01:00</published>
    <updated>2026-03-02T10:00:00Z</updated>
    <author><name>Jana Krüger</name></author>
    <summary>{dyke.summary}</summary>
  </entry>
  <entry>
    <title>Fähre fällt aus</title>
    <link href="/artikel/2026/03/faehre"/>
    <id>urn:uuid:0b0e3d56-3a2f-4c38-9c55-5f3f4b1d2a02</id>
    <updated>2026-03-02T07:45:00Z</updated>
    <author><name>Ole Hansen</name></author>
    <content type="html">
      &lt;p&gt;Die Fähre nach &lt;b&gt;Süderoog&lt;/b&gt; fällt heute aus.&lt;/p&gt;
    </content>
  </entry>
</feed>
""".encode()
        site.routes["/atom.xml"] = respond(200, atom, {"Content-Type": ATOM_TYPE})
        site.routes[dyke.path] = respond(200, dyke.page(lang="de").encode(), {"Content-Type": HTML_TYPE})
        fid = await add_feed(mongo_db, site.url("/atom.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        stored = await articles(mongo_db)
        page = stored[article_id(site.url(dyke.path))]
        assert (page["content_source"], page["title"], page["text"]) == ("page", dyke.title, dyke.text)
        assert (page["published_at"], page["authors"], page["language"]) == (
            dyke.published,
            ["Jana Krüger"],
            "de",
        )
        ferry = stored[article_id(site.url("/artikel/2026/03/faehre"))]  # no page: the feed's content
        assert (ferry["content_source"], ferry["title"]) == ("feed", "Fähre fällt aus")
        assert ferry["text"] == "Die Fähre nach Süderoog fällt heute aus."
        assert ferry["published_at"] == datetime(
            2026, 3, 2, 7, 45, tzinfo=UTC
        )  # <updated> without <published>
        assert (ferry["authors"], ferry["language"]) == (["Ole Hansen"], "de")
        assert len(stored) == 2
        assert_ok(await feed_state(mongo_db, fid), before)
        await assert_still_polls(poller, site, mongo_db)

    async def test_rss_entities_and_cdata_are_decoded(
        self, site: Site, poller: Poller, mongo_db: repo.DB, published: list[RawArticle]
    ):
        base = site.url("")
        feed = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Harbour Gazette &#8211; Business</title>
  <link>{base}/business</link>
  <language>en-gb</language>
  <item>
    <title>Caf&#233; owners &amp; the council: rents to &#8220;double&#8221;</title>
    <link>{base}/business/cafe-rents</link>
    <pubDate>Mon, 02 Mar 2026 10:00:00 +0000</pubDate>
    <description>Landlords &amp;amp; tenants meet on Thursday.</description>
  </item>
  <item>
    <title><![CDATA[Mayor's "bold" plan & the <em>harbour</em> budget]]></title>
    <link>{base}/business/mayor-budget</link>
    <pubDate>Mon, 02 Mar 2026 09:00:00 GMT</pubDate>
    <dc:creator><![CDATA[Priya Natarajan]]></dc:creator>
    <description><![CDATA[<p>The mayor&rsquo;s plan <b>cuts</b> harbour dues by 5% &amp; more.</p>
      <img src="/img/mayor.jpg" alt="">]]></description>
  </item>
</channel>
</rss>
""".encode()
        site.routes["/business.xml"] = respond(200, feed, {"Content-Type": RSS_TYPE})
        fid = await add_feed(mongo_db, site.url("/business.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        stored = await articles(mongo_db)
        cafe = stored[article_id(site.url("/business/cafe-rents"))]
        assert cafe["title"] == "Café owners & the council: rents to “double”"
        assert cafe["text"] == "Landlords & tenants meet on Thursday."
        mayor = stored[article_id(site.url("/business/mayor-budget"))]
        assert mayor["title"] == 'Mayor\'s "bold" plan & the harbour budget'
        assert mayor["text"] == "The mayor’s plan cuts harbour dues by 5% & more."
        assert mayor["authors"] == ["Priya Natarajan"]
        assert mayor["published_at"] == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        assert {e.title for e in published} == {cafe["title"], mayor["title"]}
        assert {d["content_source"] for d in stored.values()} == {"feed"}  # their pages are 404s
        assert_ok(await feed_state(mongo_db, fid), before)
        await assert_still_polls(poller, site, mongo_db)


class TestPlainText:
    async def test_markup_in_feeds_and_pages_is_neither_stored_nor_published(
        self, site: Site, poller: Poller, mongo_db: repo.DB, published: list[RawArticle]
    ):
        # the page's paragraphs hold escaped markup: trafilatura hands it back as literal tags
        hostile_page = Story(
            "/news/2026/03/02/hostile-page",
            "Harbour dues cut",
            "unused",
            (
                *FLOOD.paragraphs,
                "Readers wrote in <img src=x onerror=alert(3)> and <script>alert(4)</script>.",
            ),
            datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        )
        site.routes[hostile_page.path] = respond(
            200, hostile_page.page().encode(), {"Content-Type": HTML_TYPE}
        )
        base = site.url("")
        feed = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Harbour Gazette</title><link>{base}/</link>
  <item>
    <title>&lt;b&gt;Harbour&lt;/b&gt; dues cut &lt;script&gt;alert(1)&lt;/script&gt;</title>
    <link>{site.url(hostile_page.path)}</link>
    <pubDate>Mon, 02 Mar 2026 10:00:00 +0000</pubDate>
  </item>
  <item>
    <title><![CDATA[Ferry <a href="javascript:alert(2)">strike</a> &amp;amp;lt;i&amp;amp;gt;looms]]></title>
    <link>{base}/news/missing-page</link>
    <pubDate>Mon, 02 Mar 2026 09:00:00 +0000</pubDate>
    <description>&amp;lt;img src=x onerror=alert(5)&amp;gt;Crews walk out
      &amp;amp;lt;b&amp;amp;gt;Friday.</description>
  </item>
</channel></rss>
""".encode()
        site.routes["/hostile.xml"] = respond(200, feed, {"Content-Type": RSS_TYPE})
        await add_feed(mongo_db, site.url("/hostile.xml"))

        assert await poller.poll_next() is True

        stored = await articles(mongo_db)
        page = stored[article_id(site.url(hostile_page.path))]
        assert (page["content_source"], page["title"]) == ("page", "Harbour dues cut")
        assert page["text"].startswith(FLOOD.paragraphs[0])
        assert page["text"].endswith("Readers wrote in and .")
        ferry = stored[article_id(site.url("/news/missing-page"))]
        assert (ferry["content_source"], ferry["title"]) == ("feed", "Ferry strike looms")
        assert ferry["text"] == "Crews walk out Friday."
        assert len(published) == 2
        for doc in (*stored.values(), *(e.model_dump(mode="json") for e in published)):
            assert_plain({k: v for k, v in doc.items() if k not in ("signature", "fingerprint")})


class TestCanonical:
    async def test_canonical_on_another_site_is_ignored(
        self, site: Site, poller: Poller, mongo_db: repo.DB, published: list[RawArticle]
    ):
        page = FLOOD.page(canonical="https://www.reuters.com/world/flood-barrier-approved").encode()
        site.routes["/rss/news.xml"] = respond(200, rss(site, [FLOOD]), {"Content-Type": RSS_TYPE})
        site.routes[FLOOD.path] = respond(200, page, {"Content-Type": HTML_TYPE})
        await add_feed(mongo_db, site.url("/rss/news.xml"))

        assert await poller.poll_next() is True

        [doc] = (await articles(mongo_db)).values()
        assert doc["_id"] == article_id(site.url(FLOOD.path))
        assert "reuters" not in doc["source"]
        assert [e.url for e in published] == [canonical_url(site.url(FLOOD.path))]

    async def test_page_canonical_url_is_the_article_identity(
        self, site: Site, poller: Poller, mongo_db: repo.DB, published: list[RawArticle]
    ):
        canonical = "/news/2026/03/02/flood-barrier-approved"
        amp = "/amp/news/flood-barrier-approved"
        page = FLOOD.page(canonical=canonical).encode()
        feed = rss(site, [FLOOD]).replace(
            f"<link>{site.url(FLOOD.path)}</link>".encode(),
            f"<link>{site.url(amp)}?utm_source=rss&amp;utm_medium=feed</link>".encode(),
        )
        site.routes["/rss/news.xml"] = respond(200, feed, {"Content-Type": RSS_TYPE})
        site.routes[amp] = respond(200, page, {"Content-Type": HTML_TYPE})
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        stored = await articles(mongo_db)
        assert list(stored) == [article_id(site.url(canonical))]
        doc = stored[article_id(site.url(canonical))]
        assert doc["url"] == canonical_url(site.url(canonical))
        assert (doc["content_source"], doc["text"]) == ("page", FLOOD.text)
        assert hits(site, amp) == 1
        assert [e.article_id for e in published] == [doc["_id"]]
        assert published[0].url == doc["url"]
        feed_doc = await feed_state(mongo_db, fid)
        assert_ok(feed_doc, before)
        # the feed remembers its own entry (by its link), so the next poll does not refetch the page
        assert feed_doc["seen_ids"] == [article_id(site.url(amp) + "?utm_source=rss&utm_medium=feed")]
        await assert_still_polls(poller, site, mongo_db)


class TestConditionalGet:
    async def test_unchanged_feed_answers_304_and_nothing_is_fetched(
        self, site: Site, poller: Poller, mongo_db: repo.DB, published: list[RawArticle]
    ):
        stories = [FLOOD, FERRY, MARKET]
        body = rss(site, stories)
        validators = {"ETag": '"news-7f3a"', "Last-Modified": "Mon, 02 Mar 2026 11:05:00 GMT"}

        def feed(handler: BaseHTTPRequestHandler) -> None:
            if handler.headers.get("If-None-Match") == validators["ETag"]:
                respond(304, headers=validators)(handler)
            else:
                respond(200, body, {"Content-Type": RSS_TYPE, **validators})(handler)

        serve_feed(site, "/rss/news.xml", stories)
        site.routes["/rss/news.xml"] = feed
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"))

        assert await poller.poll_next() is True
        first = await feed_state(mongo_db, fid)
        assert (first["etag"], first["last_modified"]) == (validators["ETag"], validators["Last-Modified"])
        assert len(published) == 3

        await make_due(mongo_db, fid)
        before = now_ms()
        assert await poller.poll_next() is True

        [conditional] = [h for h in site.hits if h.path == "/rss/news.xml"][1:]
        assert conditional.headers["if-none-match"] == validators["ETag"]
        assert conditional.headers["if-modified-since"] == validators["Last-Modified"]
        feed_doc = await feed_state(mongo_db, fid)
        assert_ok(feed_doc, before, status="not_modified", http=304)
        assert (feed_doc["etag"], feed_doc["last_modified"]) == (first["etag"], first["last_modified"])
        assert feed_doc["seen_ids"] == first["seen_ids"]
        assert all(hits(site, s.path) == 1 for s in stories)  # no page fetched again
        assert len(published) == 3
        assert await mongo_db.articles.count_documents({}) == 3
        await assert_still_polls(poller, site, mongo_db)


class TestHttpErrors:
    async def test_429_waits_for_retry_after(self, site: Site, poller: Poller, mongo_db: repo.DB):
        site.routes["/rss/busy.xml"] = respond(429, b"Too Many Requests", {"Retry-After": "120"})
        fid = await add_feed(mongo_db, site.url("/rss/busy.xml"), interval_s=60)
        before = now_ms()

        assert await poller.poll_next() is True

        feed = await feed_state(mongo_db, fid)
        assert_error(feed, before, kind="http_error", http=429)
        # the backoff for one failure of a 60 s feed is 30-60 s: Retry-After decides
        assert before + timedelta(seconds=120) <= feed["next_poll_at"]
        assert feed["next_poll_at"] <= datetime.now(UTC) + timedelta(seconds=120)
        assert await mongo_db.articles.count_documents({}) == 0
        await assert_still_polls(poller, site, mongo_db)
        assert hits(site, "/rss/busy.xml") == 1

    async def test_server_errors_back_off_and_recover(self, site: Site, poller: Poller, mongo_db: repo.DB):
        site.routes["/rss/news.xml"] = respond(500, b"<h1>Internal Server Error</h1>")
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"), interval_s=60)

        before = now_ms()
        assert await poller.poll_next() is True
        feed = await feed_state(mongo_db, fid)
        assert_error(feed, before, kind="http_error", http=500, failures=1)
        assert feed["next_poll_at"] <= datetime.now(UTC) + timedelta(seconds=60)  # 0.5-1 x interval
        assert await poller.poll_next() is False  # backing off

        await make_due(mongo_db, fid)
        before = now_ms()
        assert await poller.poll_next() is True
        feed = await feed_state(mongo_db, fid)
        assert_error(feed, before, kind="http_error", http=500, failures=2)
        assert before + timedelta(seconds=60) <= feed["next_poll_at"]  # doubled: 0.5-1 x 2 intervals
        assert feed["next_poll_at"] <= datetime.now(UTC) + timedelta(seconds=120)

        serve_feed(site, "/rss/news.xml", [FLOOD])  # the site is fixed
        await make_due(mongo_db, fid)
        before = now_ms()
        assert await poller.poll_next() is True
        assert_ok(await feed_state(mongo_db, fid), before, interval_s=60)
        assert await mongo_db.articles.count_documents({"_id": article_id(site.url(FLOOD.path))}) == 1
        await assert_still_polls(poller, site, mongo_db)


class TestHostileFeeds:
    async def test_malformed_xml_is_a_parse_error(self, site: Site, poller: Poller, mongo_db: repo.DB):
        broken = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            b"<title>Harbour Gazette</title><link>https://harbourgazette.example/</link></chan"
        )
        site.routes["/rss/news.xml"] = respond(200, broken, {"Content-Type": RSS_TYPE})
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        assert_error(await feed_state(mongo_db, fid), before, kind="parse", http=200)
        assert await mongo_db.articles.count_documents({}) == 0
        await assert_still_polls(poller, site, mongo_db)

    async def test_twenty_megabyte_feed_is_cut_off(self, site: Site, poller: Poller, mongo_db: repo.DB):
        head = (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
            b"<title>Firehose</title><description>"
        )
        site.routes["/rss/firehose.xml"] = stream_bytes(
            TWENTY_MB, declare_length=False, content_type=RSS_TYPE, head=head
        )
        fid = await add_feed(mongo_db, site.url("/rss/firehose.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        assert_error(await feed_state(mongo_db, fid), before, kind="too_large", http=None)
        await eventually(lambda: hung_up(site, "/rss/firehose.xml"), what="the server to notice the hang-up")
        assert site.bytes_sent < TWENTY_MB
        await assert_still_polls(poller, site, mongo_db)

    async def test_redirect_loop(self, site: Site, poller: Poller, mongo_db: repo.DB):
        site.routes["/rss/news.xml"] = redirect("/feeds/news", status=301)
        site.routes["/feeds/news"] = redirect("/rss/news.xml", status=302)
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        feed = await feed_state(mongo_db, fid)
        assert feed["last_error"].split(":")[0] in ("redirect_loop", "too_many_redirects")
        assert_error(feed, before, kind=feed["last_error"].split(":")[0], http=None)
        assert hits(site, "/rss/news.xml") == hits(site, "/feeds/news") == 1
        await assert_still_polls(poller, site, mongo_db)

    async def test_redirect_to_loopback_is_blocked(
        self, site: Site, sentinel: Site, poller: Poller, mongo_db: repo.DB
    ):
        sentinel.routes["/admin/feed.xml"] = respond(200, rss(sentinel, [FLOOD]), {"Content-Type": RSS_TYPE})
        site.routes["/rss/news.xml"] = redirect(sentinel.url("/admin/feed.xml"))
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        assert_error(await feed_state(mongo_db, fid), before, kind="blocked_address", http=None)
        assert sentinel.connections == 0
        await assert_still_polls(poller, site, mongo_db)

    async def test_broken_entries_do_not_poison_the_feed(
        self, site: Site, poller: Poller, mongo_db: repo.DB, published: list[RawArticle]
    ):
        untitled = f"/news/2026/03/02/{'storm-' * 250}update"  # no title, and a link too long for one
        feed = rss(site, [FLOOD, FERRY, MARKET]).replace(
            b"</channel>",
            f"<item><link>{site.url(untitled)}</link><description>Storm update.</description></item>"
            "</channel>".encode(),
        )
        site.routes["/rss/news.xml"] = respond(200, feed, {"Content-Type": RSS_TYPE})
        bad_port = FLOOD.page(canonical="https://harbourgazette.example:99999/news/flood-barrier")
        bad_ipv6 = FERRY.page(canonical="http://[2001:db8::1/news/ferry-strike")
        site.routes[FLOOD.path] = respond(200, bad_port.encode(), {"Content-Type": HTML_TYPE})
        site.routes[FERRY.path] = respond(200, bad_ipv6.encode(), {"Content-Type": HTML_TYPE})
        site.routes[MARKET.path] = respond(200, MARKET.page().encode(), {"Content-Type": HTML_TYPE})
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        stored = await articles(mongo_db)
        for story in (FLOOD, FERRY):  # a canonical link that is no URL (or off-site) is ignored
            doc = stored[article_id(site.url(story.path))]
            assert (doc["content_source"], doc["text"]) == ("page", story.text)
        assert stored[article_id(site.url(MARKET.path))]["content_source"] == "page"
        assert len(stored) == len(published) == 3  # the untitled entry is skipped, not stored
        feed_doc = await feed_state(mongo_db, fid)
        assert_ok(feed_doc, before)
        assert feed_doc["seen_ids"][-1] == article_id(site.url(untitled))  # and not retried
        assert len(feed_doc["seen_ids"]) == 4
        await assert_still_polls(poller, site, mongo_db)

    async def test_windows_1252_page_and_feed_keep_their_accents(
        self, site: Site, poller: Poller, mongo_db: repo.DB
    ):
        cafe = Story(
            "/fr/2026/03/02/le-cafe-de-la-place-ferme",
            "Le café de la place ferme ses portes",
            "« C’est la fin d’une époque », dit M. Müller.",
            (
                "« C’est la fin d’une époque », dit M. Müller, qui tient le café de la place depuis trente-"
                "sept ans et servira son dernier crème samedi.",
                "Les habitués, venus nombreux, ont trinqué une dernière fois au vin chaud — une tradition "
                "née après la grande crue, quand le café servait de refuge.",
                "La mairie promet de préserver la façade classée et cherche déjà un repreneur prêt à garder "
                "l’enseigne d’origine et les banquettes en moleskine.",
            ),
            datetime(2026, 3, 2, 16, 0, tzinfo=UTC),
        )
        feed = f"""<?xml version="1.0" encoding="windows-1252"?>
<rss version="2.0"><channel><title>La Gazette du Port</title><link>{site.url("/fr")}</link>
<language>fr</language>
<item><title>{cafe.title}</title><link>{site.url(cafe.path)}</link>
<pubDate>Mon, 02 Mar 2026 17:00:00 +0100</pubDate><description>{cafe.summary}</description></item>
</channel></rss>
""".encode("cp1252")
        site.routes["/fr/rss.xml"] = respond(200, feed, {"Content-Type": "application/rss+xml"})
        site.routes[cafe.path] = respond(
            200,
            cafe.page(lang="fr", charset="windows-1252").encode("cp1252"),
            {"Content-Type": "text/html; charset=windows-1252"},
        )
        fid = await add_feed(mongo_db, site.url("/fr/rss.xml"))
        before = now_ms()

        assert await poller.poll_next() is True

        doc = await mongo_db.articles.find_one({"_id": article_id(site.url(cafe.path))})
        assert doc is not None
        assert doc["content_source"] == "page"
        assert doc["text"] == cafe.text
        assert doc["title"] == cafe.title
        assert (doc["language"], doc["published_at"]) == ("fr", cafe.published)
        assert_ok(await feed_state(mongo_db, fid), before)
        await assert_still_polls(poller, site, mongo_db)


class TestReplicas:
    async def test_two_replicas_poll_each_feed_exactly_once(
        self,
        site: Site,
        make_poller: Callable[..., Poller],
        mongo_db: repo.DB,
        published: list[RawArticle],
        caplog: pytest.LogCaptureFixture,
    ):
        districts = ["quay", "old-town", "harbourside", "north-shore", "castle-hill", "marina"]
        paths = {d: f"/feeds/{d}.xml" for d in districts}
        for district in districts:
            story = Story(
                f"/news/{district}/roadworks",
                f"Roadworks to close {district.replace('-', ' ')} streets for a week",
                "Diversions will be signposted from Monday.",
                tuple(p.replace("Quay district", district) for p in FLOOD.paragraphs),
                datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
            )
            body = rss(site, [story])

            def slow_feed(handler: BaseHTTPRequestHandler, body: bytes = body) -> None:
                time.sleep(0.2)  # long enough that one replica's two workers cannot take every feed
                respond(200, body, {"Content-Type": RSS_TYPE})(handler)

            site.routes[paths[district]] = slow_feed
            site.routes[story.path] = respond(200, story.page().encode(), {"Content-Type": HTML_TYPE})
        fids = [await add_feed(mongo_db, site.url(paths[d]), interval_s=60) for d in districts]
        replicas = [make_poller("replica-a"), make_poller("replica-b")]
        stop = asyncio.Event()
        started = now_ms()
        caplog.set_level(logging.WARNING, logger="tellwell.ingest")

        tasks = [asyncio.create_task(r.run(stop)) for r in replicas]

        async def all_polled() -> bool:
            feeds = [await feed_state(mongo_db, fid) for fid in fids]
            done = all(f.get("last_status") == "ok" and f.get("lease_owner") is None for f in feeds)
            return done and len(published) == 6

        await eventually(all_polled, timeout_s=30, interval_s=0.05, what="every feed polled and released")
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)

        assert all(t.done() and t.exception() is None for t in tasks)
        fetches = {d: hits(site, paths[d]) for d in districts}
        assert all(n >= 1 for n in fetches.values()), fetches
        by_replica = {
            r.owner: sum(
                1
                for h in site.hits
                if h.path in paths.values() and h.headers["user-agent"].endswith(f"({r.owner})")
            )
            for r in replicas
        }
        assert all(n > 0 for n in by_replica.values()), by_replica  # both replicas took a share
        for fid in fids:
            feed = await feed_state(mongo_db, fid)
            assert_ok(feed, started, interval_s=60)
            assert feed["lease_owner"] is None  # released: nobody holds it until it is due again
        assert await mongo_db.articles.count_documents({}) == 6
        assert len(published) == 6  # a feed polled twice still stores and emits its article once
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        await assert_still_polls(replicas[1], site, mongo_db)

        # Each feed was fetched once, by one replica: its interval has not elapsed again.
        assert fetches == dict.fromkeys(districts, 1)
        assert sum(by_replica.values()) == 6


class TestLeases:
    async def test_expired_lease_of_a_crashed_replica_is_taken_over(
        self, site: Site, poller: Poller, mongo_db: repo.DB
    ):
        serve_feed(site, "/rss/news.xml", [FLOOD])
        fid = await add_feed(mongo_db, site.url("/rss/news.xml"))
        dead = await repo.claim_due_feed(mongo_db, "dead", datetime.now(UTC), timedelta(seconds=300))
        assert dead is not None
        assert (dead["_id"], dead["lease_owner"]) == (fid, "dead")

        assert await poller.poll_next() is False  # leased: not ours to poll while the lease runs
        assert hits(site, "/rss/news.xml") == 0

        expired = datetime.now(UTC) - timedelta(seconds=1)  # "dead" never came back
        await mongo_db.feeds.update_one({"_id": fid}, {"$set": {"lease_until": expired}})
        before = now_ms()
        assert await poller.poll_next() is True

        feed = await feed_state(mongo_db, fid)
        assert_ok(feed, before)
        assert feed["lease_version"] == 2  # claimed by "dead", then by us
        assert hits(site, "/rss/news.xml") == 1
        assert await mongo_db.articles.count_documents({"_id": article_id(site.url(FLOOD.path))}) == 1

        # the crashed replica's late report must not overwrite the poll that replaced it
        late = {"last_status": "error", "last_error": "timeout: late", "failures": 1}
        await repo.finish_poll(mongo_db, fid, "dead", late, datetime.now(UTC))
        assert_ok(await feed_state(mongo_db, fid), before)
        await assert_still_polls(poller, site, mongo_db)
