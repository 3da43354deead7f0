"""SafeFetcher against real HTTP servers on loopback.

The site under test listens on 127.0.0.2, which the fetcher allow-lists. A sentinel server on
127.0.0.1 (not allow-listed) counts accepted connections, so "refused before any connection"
is checked from the server side, not inferred.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import socket
import time
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tellwell.ingest.fetch import FetchError, FetchPolicy, SafeFetcher
from tests.fixtures.waiting import eventually
from tests.ingest.httpserver import SITE_HOST, TWENTY_MB, Site, hung_up, redirect, respond, stream_bytes

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Harbour Gazette</title><link>https://harbourgazette.example/</link>
<item><title>Council approves flood barrier</title><link>https://harbourgazette.example/news/1</link></item>
</channel></rss>"""

ARTICLE_1252 = (
    "<!DOCTYPE html><html lang='fr'><head><title>Le caf\u00e9</title></head><body><article>"
    "<p>\u201cC\u2019est la fin d\u2019une \u00e9poque\u201d, dit M\u00fcller.</p></article></body></html>"
).encode("cp1252")


@pytest.fixture
async def make_fetcher() -> AsyncIterator[Callable[..., SafeFetcher]]:
    fetchers: list[SafeFetcher] = []

    def make(**overrides: Any) -> SafeFetcher:
        resolver = overrides.pop("resolver", None)
        settings: dict[str, Any] = {
            "allow_hosts": frozenset({SITE_HOST}),
            "per_host_min_interval_s": 0.0,
            "timeout_s": 5.0,
            "connect_timeout_s": 2.0,
        }
        settings.update(overrides)
        fetcher = SafeFetcher(FetchPolicy(**settings), resolver=resolver)
        fetchers.append(fetcher)
        return fetcher

    yield make
    for fetcher in fetchers:
        await fetcher.aclose()


def fixed_resolver(*answers: list[str]) -> Callable[[str, int], Any]:
    """A resolver that gives `answers` in turn (the last one repeats) and counts its calls."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def unused_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def fetch_error(coro: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        await coro
    return info.value


class TestFetch:
    async def test_returns_body_headers_and_charset(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/story"] = respond(
            200,
            b"<html><body>hello</body></html>",
            {
                "Content-Type": "text/html; charset=UTF-8",
                "ETag": '"abc"',
                "Last-Modified": "Fri, 03 May 2024 10:00:00 GMT",
            },
        )

        result = await make_fetcher().fetch(site.url("/story"), accept="html")

        assert result.status == 200
        assert result.url == site.url("/story")
        assert result.body == b"<html><body>hello</body></html>"
        assert result.not_modified is False
        assert result.content_type == "text/html"
        assert result.encoding == "utf-8"
        assert result.etag == '"abc"'
        assert result.last_modified == "Fri, 03 May 2024 10:00:00 GMT"
        assert result.headers["content-type"] == "text/html; charset=UTF-8"
        assert site.hits[-1].headers["user-agent"] == "TellWellBot/0.1 (+https://tellwell.example/bot)"

    async def test_windows_1252_page_reports_header_charset(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/labelled"] = respond(
            200, ARTICLE_1252, {"Content-Type": "text/html; charset=windows-1252"}
        )
        site.routes["/unlabelled"] = respond(200, ARTICLE_1252, {"Content-Type": "text/html"})
        fetcher = make_fetcher()

        labelled = await fetcher.fetch(site.url("/labelled"), accept="html")
        unlabelled = await fetcher.fetch(site.url("/unlabelled"), accept="html")

        assert labelled.encoding == "windows-1252"
        assert labelled.body == ARTICLE_1252  # bytes untouched; decoding is the extractor's job
        assert unlabelled.encoding is None

    async def test_gzip_body_is_decoded(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/feed"] = respond(
            200, gzip.compress(RSS), {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
        )

        result = await make_fetcher().fetch(site.url("/feed"), accept="feed")

        assert result.body == RSS
        assert site.hits[-1].headers["accept-encoding"] == "gzip, deflate"

    async def test_refused_connection_is_a_connection_error(self, make_fetcher: Callable[..., SafeFetcher]):
        url = f"http://{SITE_HOST}:{unused_port(SITE_HOST)}/"

        error = await fetch_error(make_fetcher().fetch(url))

        assert error.kind == "connection"  # from the robots.txt request, reported as what it is


class TestAddressGuard:
    async def test_refuses_loopback_ip_not_allow_listed(
        self, sentinel: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        sentinel.routes["/admin"] = respond(200, b"secret")

        error = await fetch_error(make_fetcher().fetch(sentinel.url("/admin")))

        assert error.kind == "blocked_address"
        assert sentinel.connections == 0

    async def test_refuses_localhost(self, sentinel: Site, make_fetcher: Callable[..., SafeFetcher]):
        fetcher = make_fetcher()

        default_port = await fetch_error(fetcher.fetch("http://localhost/"))
        sentinel_port = await fetch_error(fetcher.fetch(f"http://localhost:{sentinel.port}/"))

        assert default_port.kind == sentinel_port.kind == "blocked_address"
        assert sentinel.connections == 0

    @pytest.mark.parametrize(
        "url",
        [
            "http://10.0.0.1/",
            "http://192.168.1.1/router",
            "http://169.254.169.254/latest/meta-data/",  # cloud metadata
            "http://100.64.0.1/",  # carrier-grade NAT
            "http://0.0.0.0/",
            "http://224.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://2130706433/",  # 127.0.0.1 as one decimal number
        ],
    )
    async def test_refuses_non_public_literals(self, url: str, make_fetcher: Callable[..., SafeFetcher]):
        error = await fetch_error(make_fetcher().fetch(url))

        assert error.kind == "blocked_address"

    async def test_refuses_host_when_any_address_is_private(self, make_fetcher: Callable[..., SafeFetcher]):
        resolver = fixed_resolver(["93.184.216.34", "10.1.2.3"])

        error = await fetch_error(make_fetcher(resolver=resolver).fetch("http://news.example/feed"))

        assert error.kind == "blocked_address"
        assert "10.1.2.3" in error.message

    @pytest.mark.parametrize("url", [f"http://{'a' * 70}.example/feed", "http://news..example/feed"])
    async def test_a_name_idna_cannot_encode_is_a_connection_error(
        self, url: str, make_fetcher: Callable[..., SafeFetcher]
    ):
        # getaddrinfo raises UnicodeError (not OSError) for such labels: it used to escape as a bug
        error = await fetch_error(make_fetcher().fetch(url))

        assert error.kind == "connection"
        assert "cannot resolve" in error.message

    async def test_blocked_messages_say_what_the_address_is(self, make_fetcher: Callable[..., SafeFetcher]):
        literal = await fetch_error(make_fetcher().fetch("http://169.254.169.254/latest/meta-data/"))
        named = await fetch_error(
            make_fetcher(resolver=fixed_resolver(["10.1.2.3"])).fetch("http://intranet.example/")
        )

        assert literal.message.startswith("169.254.169.254 is a link-local address")
        assert named.message.startswith("intranet.example resolves to 10.1.2.3, a private address")

    async def test_dns_rebinding_is_caught_at_connect(
        self, sentinel: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        # Public when checked, loopback when connecting: the connect-time check must catch it.
        resolver = fixed_resolver(["93.184.216.34"], ["127.0.0.1"])
        fetcher = make_fetcher(resolver=resolver, respect_robots=False)

        error = await fetch_error(fetcher.fetch(f"http://rebind.example:{sentinel.port}/"))

        assert error.kind == "blocked_address"
        assert len(resolver.calls) == 2  # type: ignore[attr-defined]
        assert sentinel.connections == 0

    @pytest.mark.parametrize(
        "url",
        [
            "file:///etc/passwd",
            "ftp://ftp.example/pub/feed.xml",
            "javascript:alert(1)",
            "http://",
            "gopher://x",
        ],
    )
    async def test_refuses_non_http_urls(self, url: str, make_fetcher: Callable[..., SafeFetcher]):
        error = await fetch_error(make_fetcher().fetch(url))

        assert error.kind == "bad_url"


class TestRedirects:
    async def test_follows_relative_redirect_to_final_url(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/old-feed"] = redirect("/feed.xml", status=301)
        site.routes["/feed.xml"] = respond(200, RSS, {"Content-Type": "application/rss+xml"})

        result = await make_fetcher().fetch(site.url("/old-feed"), accept="feed")

        assert result.url == site.url("/feed.xml")
        assert result.body == RSS

    async def test_redirect_to_unlisted_loopback_is_refused(
        self, site: Site, sentinel: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/go"] = redirect(sentinel.url("/admin"))
        sentinel.routes["/admin"] = respond(200, b"secret")

        error = await fetch_error(make_fetcher().fetch(site.url("/go")))

        assert error.kind == "blocked_address"
        assert sentinel.connections == 0

    async def test_redirect_loop(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/a"] = redirect("/b")
        site.routes["/b"] = redirect("/a")

        error = await fetch_error(make_fetcher(respect_robots=False).fetch(site.url("/a")))

        assert error.kind == "redirect_loop"
        assert site.paths() == ["/a", "/b"]

    async def test_too_many_redirects(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        for hop in range(10):
            site.routes[f"/hop/{hop}"] = redirect(f"/hop/{hop + 1}", status=307)

        error = await fetch_error(
            make_fetcher(max_redirects=3, respect_robots=False).fetch(site.url("/hop/0"))
        )

        assert error.kind == "too_many_redirects"
        assert site.paths() == ["/hop/0", "/hop/1", "/hop/2", "/hop/3"]

    async def test_redirect_to_file_url_is_refused(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/sneaky"] = redirect("file:///etc/passwd")

        error = await fetch_error(make_fetcher().fetch(site.url("/sneaky")))

        assert error.kind == "bad_url"


class TestBodyLimits:
    async def test_declared_length_over_cap_is_refused_before_reading(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/huge"] = stream_bytes(TWENTY_MB, declare_length=True)

        error = await fetch_error(make_fetcher(max_bytes=1024 * 1024).fetch(site.url("/huge")))

        assert error.kind == "too_large"
        assert str(TWENTY_MB) in error.message

    async def test_undeclared_stream_is_cut_at_cap(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/endless"] = stream_bytes(TWENTY_MB, declare_length=False)

        error = await fetch_error(make_fetcher(max_bytes=1024 * 1024).fetch(site.url("/endless")))

        assert error.kind == "too_large"
        await eventually(lambda: hung_up(site, "/endless"), what="the server to notice the hang-up")
        assert site.bytes_sent < TWENTY_MB

    async def test_gzip_bomb_is_cut_at_cap(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 20 MB of zeros, ~20 KB gzipped
        bomb = (
            b"".join(compressor.compress(b"\0" * 65536) for _ in range(TWENTY_MB // 65536))
            + compressor.flush()
        )
        site.routes["/bomb"] = respond(200, bomb, {"Content-Type": "text/html", "Content-Encoding": "gzip"})

        error = await fetch_error(make_fetcher(max_bytes=1024 * 1024).fetch(site.url("/bomb")))

        assert len(bomb) < 100_000
        assert error.kind == "too_large"

    async def test_body_at_cap_is_accepted(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/exact"] = respond(200, b"a" * 4096, {"Content-Type": "text/plain"})

        result = await make_fetcher(max_bytes=4096).fetch(site.url("/exact"))

        assert len(result.body) == 4096


class TestTimeouts:
    async def test_slow_response_times_out(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        def slow(handler: BaseHTTPRequestHandler) -> None:
            time.sleep(2)  # intended: a server slower than the fetcher's timeout
            respond(200, b"late")(handler)

        site.routes["/slow"] = slow
        started = time.monotonic()

        error = await fetch_error(make_fetcher(timeout_s=0.3, respect_robots=False).fetch(site.url("/slow")))

        assert error.kind == "timeout"
        assert time.monotonic() - started < 1.5

    async def test_trickling_body_hits_total_timeout(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        def trickle(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.end_headers()
            for _ in range(60):  # a byte every 50 ms: each read is quick, the whole is not
                handler.wfile.write(b"x")
                time.sleep(0.05)

        site.routes["/trickle"] = trickle
        started = time.monotonic()

        error = await fetch_error(
            make_fetcher(timeout_s=0.4, respect_robots=False).fetch(site.url("/trickle"))
        )

        assert error.kind == "timeout"
        assert time.monotonic() - started < 1.5


class TestConditionalGet:
    async def test_matching_etag_gives_not_modified(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        def feed(handler: BaseHTTPRequestHandler) -> None:
            if handler.headers.get("If-None-Match") == '"v7"':
                respond(304, headers={"ETag": '"v7"'})(handler)
            else:
                respond(200, RSS, {"Content-Type": "application/rss+xml", "ETag": '"v7"'})(handler)

        site.routes["/feed.xml"] = feed
        fetcher = make_fetcher()

        first = await fetcher.fetch(site.url("/feed.xml"), accept="feed")
        second = await fetcher.fetch(site.url("/feed.xml"), etag=first.etag, accept="feed")

        assert first.not_modified is False
        assert first.body == RSS
        assert second.not_modified is True
        assert second.status == 304
        assert second.body == b""
        assert second.etag == '"v7"'

    async def test_sends_if_modified_since(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/feed.xml"] = respond(304)

        result = await make_fetcher().fetch(
            site.url("/feed.xml"), last_modified="Fri, 03 May 2024 10:00:00 GMT", accept="feed"
        )

        assert result.not_modified is True
        assert site.hits[-1].headers["if-modified-since"] == "Fri, 03 May 2024 10:00:00 GMT"
        assert "if-none-match" not in site.hits[-1].headers


class TestHttpErrors:
    async def test_429_carries_retry_after_seconds(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/feed"] = respond(429, b"slow down", {"Retry-After": "7"})

        error = await fetch_error(make_fetcher().fetch(site.url("/feed")))

        assert (error.kind, error.status, error.retry_after_s) == ("http_error", 429, 7.0)

    async def test_503_carries_retry_after_http_date(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        when = datetime.now(UTC) + timedelta(seconds=120)
        site.routes["/feed"] = respond(
            503, b"maintenance", {"Retry-After": format_datetime(when, usegmt=True)}
        )

        error = await fetch_error(make_fetcher().fetch(site.url("/feed")))

        assert (error.kind, error.status) == ("http_error", 503)
        assert error.retry_after_s is not None
        assert 110 <= error.retry_after_s <= 121

    async def test_500_is_an_http_error(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/feed"] = respond(500, b"oops")

        error = await fetch_error(make_fetcher().fetch(site.url("/feed")))

        assert (error.kind, error.status, error.retry_after_s) == ("http_error", 500, None)

    async def test_404_is_an_http_error(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        error = await fetch_error(make_fetcher().fetch(site.url("/gone")))

        assert (error.kind, error.status) == ("http_error", 404)


class TestContentType:
    @pytest.mark.parametrize(
        "content_type",
        [
            "application/rss+xml",
            "application/atom+xml",
            "application/xml; charset=utf-8",
            "text/xml",
            "text/plain",
        ],
    )
    async def test_feed_types_are_accepted(
        self, content_type: str, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/feed"] = respond(200, RSS, {"Content-Type": content_type})

        result = await make_fetcher().fetch(site.url("/feed"), accept="feed")

        assert result.body == RSS

    async def test_feed_served_as_html_is_sniffed(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/feed"] = respond(200, b"\n  " + RSS, {"Content-Type": "text/html; charset=utf-8"})

        result = await make_fetcher().fetch(site.url("/feed"), accept="feed")

        assert result.content_type == "text/html"

    async def test_html_page_is_not_a_feed(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/news"] = respond(
            200, b"<!DOCTYPE html><html><body>News</body></html>", {"Content-Type": "text/html"}
        )

        error = await fetch_error(make_fetcher().fetch(site.url("/news"), accept="feed"))

        assert error.kind == "bad_content_type"

    async def test_image_is_not_html(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/photo"] = respond(200, b"\x89PNG\r\n\x1a\n", {"Content-Type": "image/png"})

        error = await fetch_error(make_fetcher().fetch(site.url("/photo"), accept="html"))

        assert error.kind == "bad_content_type"

    async def test_json_is_not_a_feed(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/api"] = respond(200, b'{"items": []}', {"Content-Type": "application/json"})

        error = await fetch_error(make_fetcher().fetch(site.url("/api"), accept="feed"))

        assert error.kind == "bad_content_type"


class TestRobots:
    ROBOTS = b"User-agent: TellWellBot\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n"

    async def test_disallowed_path_is_refused_without_request(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/robots.txt"] = respond(200, self.ROBOTS, {"Content-Type": "text/plain"})
        site.routes["/private/drafts"] = respond(200, b"draft", {"Content-Type": "text/html"})

        error = await fetch_error(make_fetcher().fetch(site.url("/private/drafts")))

        assert error.kind == "robots_disallowed"
        assert "/private/drafts" not in site.paths()

    async def test_allowed_path_is_fetched_and_robots_cached(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/robots.txt"] = respond(200, self.ROBOTS, {"Content-Type": "text/plain"})
        site.routes["/news/1"] = respond(200, b"<html>one</html>", {"Content-Type": "text/html"})
        site.routes["/news/2"] = respond(200, b"<html>two</html>", {"Content-Type": "text/html"})
        fetcher = make_fetcher()

        await asyncio.gather(fetcher.fetch(site.url("/news/1")), fetcher.fetch(site.url("/news/2")))
        await fetcher.fetch(site.url("/news/1"))

        assert site.paths().count("/robots.txt") == 1
        assert site.paths()[0] == "/robots.txt"

    async def test_missing_robots_allows(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/news/1"] = respond(200, b"<html>one</html>", {"Content-Type": "text/html"})

        result = await make_fetcher().fetch(site.url("/news/1"))

        assert result.status == 200
        assert site.paths() == ["/robots.txt", "/news/1"]

    async def test_forbidden_robots_disallows_everything(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/robots.txt"] = respond(403, b"forbidden")
        site.routes["/news/1"] = respond(200, b"<html>one</html>", {"Content-Type": "text/html"})

        error = await fetch_error(make_fetcher().fetch(site.url("/news/1")))

        assert error.kind == "robots_disallowed"
        assert site.paths() == ["/robots.txt"]

    async def test_server_error_on_robots_disallows_everything(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        site.routes["/robots.txt"] = respond(500, b"oops")
        site.routes["/news/1"] = respond(200, b"<html>one</html>", {"Content-Type": "text/html"})

        error = await fetch_error(make_fetcher().fetch(site.url("/news/1")))

        assert error.kind == "robots_disallowed"  # RFC 9309 §2.3.1.4: unreachable means complete disallow
        assert error.status == 500
        assert site.paths() == ["/robots.txt"]

    async def test_ignored_when_not_respected(self, site: Site, make_fetcher: Callable[..., SafeFetcher]):
        site.routes["/robots.txt"] = respond(200, self.ROBOTS, {"Content-Type": "text/plain"})
        site.routes["/private/drafts"] = respond(200, b"draft", {"Content-Type": "text/html"})

        result = await make_fetcher(respect_robots=False).fetch(site.url("/private/drafts"))

        assert result.body == b"draft"
        assert "/robots.txt" not in site.paths()


class TestPoliteness:
    async def test_per_host_concurrency_and_spacing(
        self, site: Site, make_fetcher: Callable[..., SafeFetcher]
    ):
        def slow(handler: BaseHTTPRequestHandler) -> None:
            time.sleep(0.3)  # intended: each request is in flight long enough to overlap the others
            respond(200, b"<html>ok</html>", {"Content-Type": "text/html"})(handler)

        site.routes["/page"] = slow
        fetcher = make_fetcher(per_host_concurrency=2, per_host_min_interval_s=0.2, respect_robots=False)

        await asyncio.gather(*(fetcher.fetch(site.url(f"/page?n={n}")) for n in range(4)))

        spans = sorted((hit.started, hit.finished or 0.0) for hit in site.hits)
        starts = [start for start, _ in spans]
        assert len(spans) == 4
        assert all(later - earlier >= 0.18 for earlier, later in itertools.pairwise(starts))
        in_flight = [sum(1 for s, f in spans if s <= start < f) for start in starts]
        assert max(in_flight) == 2
