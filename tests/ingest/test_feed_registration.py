"""Registering a feed: ``FeedIn`` and ``check_feed_address``, with stand-in resolvers (no stores, no DNS)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from tellwell.ingest.feeds import FeedIn, FeedRefused, check_feed_address


def resolver(*addresses: str, error: Exception | None = None, delay_s: float = 0.0):
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        await asyncio.sleep(delay_s)
        if error is not None:
            raise error
        return list(addresses)

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def feed_url(raw: str) -> str:
    return FeedIn(url=raw).url


class TestFeedIn:
    @pytest.mark.parametrize(
        ("raw", "url"),
        [
            ("http://0x7f000001/", "http://127.0.0.1/"),
            ("http://0177.0.0.1:8080/rss", "http://127.0.0.1:8080/rss"),
            ("http://[2001:DB8::1]:80/feed/", "http://[2001:db8::1]/feed"),
        ],
    )
    def test_urls_are_canonical(self, raw, url):
        assert feed_url(raw) == url

    @pytest.mark.parametrize(
        "raw", ["http://[::1/", "http://[zz::1]/", "http://[::1]:0/", "http://a.com:99999/"]
    )
    def test_unusable_urls_are_refused(self, raw):
        with pytest.raises(ValidationError):
            FeedIn(url=raw)


class TestCheckFeedAddress:
    @pytest.mark.parametrize(
        "raw",
        [
            "http://127.0.0.1:27017/",
            "http://169.254.169.254/latest/meta-data",
            "http://0x7f000001/",
            "http://10.0.0.1/feed",
            "http://[::1]:8000/",
            "http://[::ffff:a00:1]/",
        ],
    )
    async def test_non_public_literals_are_refused_without_dns(self, raw):
        resolve = resolver("93.184.216.34")

        with pytest.raises(FeedRefused, match=r"is an? .*address"):
            await check_feed_address(feed_url(raw), resolver=resolve)
        assert resolve.calls == []  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        "addresses", [["127.0.0.1"], ["10.1.2.3", "fd00::7"], ["93.184.216.34", "10.1.2.3"]]
    )
    async def test_names_with_non_public_addresses_are_refused(self, addresses):
        # Any non-public address is refused, as the fetcher refuses it: every poll would fail.
        with pytest.raises(FeedRefused, match=r"intranet\.example resolves to"):
            await check_feed_address("http://intranet.example/rss", resolver=resolver(*addresses))

    async def test_names_with_public_addresses_are_accepted(self):
        await check_feed_address(
            "https://news.example/rss", resolver=resolver("93.184.216.34", "2606:4700::1")
        )

    @pytest.mark.parametrize(
        "resolve",
        [
            resolver(error=OSError(-2, "Name or service not known")),
            resolver(error=UnicodeError("label empty or too long")),
            resolver(),
            resolver("93.184.216.34", delay_s=5),
        ],
        ids=["nxdomain", "unencodable", "no-addresses", "slow"],
    )
    async def test_names_that_do_not_resolve_now_are_accepted(self, resolve):
        await asyncio.wait_for(
            check_feed_address("https://new-outlet.example/rss", resolver=resolve, timeout_s=0.2), 2
        )

    async def test_allow_listed_hosts_and_addresses_pass(self):
        await check_feed_address("http://127.0.0.2:8080/rss", allow_hosts=["127.0.0.2"])
        await check_feed_address("http://[::1]:8000/", allow_hosts=["[::1]"])
        await check_feed_address(
            "http://intranet.example/rss", allow_hosts=["10.1.2.3"], resolver=resolver("10.1.2.3")
        )
        with pytest.raises(FeedRefused):
            await check_feed_address("http://127.0.0.1/", allow_hosts=["127.0.0.2"])

    async def test_the_default_resolver_reads_localhost(self):
        with pytest.raises(FeedRefused, match="localhost resolves to"):
            await check_feed_address("http://localhost:8000/")
