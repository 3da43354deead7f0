import ipaddress
import socket
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given, settings

from tellwell.ingest.domain import display_name, feed_kind
from tellwell.ingest.identity import (
    COPY_SIMILARITY,
    InvalidURL,
    article_id,
    canonical_url,
    content_fingerprint,
    lsh_bands,
    minhash,
    similarity,
)
from tests.ingest.urls import urls

WIRE = (
    "TOKYO (Reuters) - Japan's economy shrank at an annualised rate of 2.1% in the first quarter, "
    "government data showed on Thursday, as weak consumer spending and a drop in exports weighed on "
    "growth and raised doubts about the central bank's plans to keep raising interest rates this year. "
    "Economists polled by Reuters had expected a 1.5% contraction. Private consumption, which makes up "
    "more than half of the economy, fell 0.7% from the previous quarter, while capital expenditure rose "
    "0.3%. The yen weakened after the data, and Japanese government bond yields edged lower as investors "
    "trimmed bets on another rate increase at the Bank of Japan's meeting next month."
)
REPRINT = (
    "Japan economy shrinks in first quarter\n"
    + WIRE.replace("Thursday", "Thursday morning")
    + (" Reporting by Tetsushi Kajimoto; Editing by Sam Holmes")
)
OTHER = (
    "The European Central Bank left interest rates unchanged on Thursday but signalled that it could cut "
    "borrowing costs in June if inflation continues to ease, as policymakers weighed weak growth in the "
    "euro zone against still elevated services prices and wage growth. President Christine Lagarde said "
    "the decision was unanimous and that the governing council would remain data dependent, adding that "
    "several members had argued for an earlier move. Markets now price in three cuts this year, and the "
    "euro slipped against the dollar after the announcement as traders digested the guidance."
)


class TestCanonicalURL:
    @pytest.mark.parametrize(
        ("raw", "canonical"),
        [
            ("HTTPS://WWW.Example.COM/News/Story", "https://www.example.com/News/Story"),
            ("https://example.com:443/a//b/", "https://example.com/a/b"),
            ("http://example.com:8080/a", "http://example.com:8080/a"),
            ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", "https://example.com/a?id=7"),
            ("https://example.com/a?fbclid=XYZ&b=2&a=1#comments", "https://example.com/a?a=1&b=2"),
            ("https://example.com", "https://example.com/"),
            # IPv6 hosts keep their brackets, in one spelling
            ("http://[2001:db8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
            ("http://[2001:DB8:0:0:0:0:0:1]:80/a/", "http://[2001:db8::1]/a"),
            ("https://[::1]:443/", "https://[::1]/"),
            ("http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/"),
            ("http://user:pw@[::1]:8000/x", "http://[::1]:8000/x"),
        ],
    )
    def test_drops_what_does_not_identify_the_page(self, raw, canonical):
        assert canonical_url(raw) == canonical
        assert canonical_url(canonical) == canonical
        assert article_id(raw) == article_id(canonical)

    @pytest.mark.parametrize(
        "raw", ["ftp://example.com/x", "example.com/x", "javascript:alert(1)", "https://:80/"]
    )
    def test_rejects_non_http_urls(self, raw):
        with pytest.raises(InvalidURL):
            canonical_url(raw)

    @pytest.mark.parametrize(
        "raw", ["0x7f000001", "0x7F.0.0.1", "0177.0.0.1", "0177.1", "127.1", "2130706433", "127.0.0.1."]
    )
    def test_ipv4_hosts_in_any_form_become_a_dotted_quad(self, raw):
        assert canonical_url(f"http://{raw}:8080/feed") == "http://127.0.0.1:8080/feed"

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("http://[::1/", "IPv6"),
            ("http://[zz::1]/", "IPv6"),
            ("http://[::1]x/", "IPv6"),
            ("http://x[::1]/", "host"),
            ("http://[fe80::1%25eth0]/", "zone"),
            ("http://[v1.x]/", "IPv6"),
            ("http://[::1]:99999/", "port"),
            ("http://[::1]:0/", "port"),
            ("http://example.com:+80/", "port"),
            ("http://example.com:8080:80/", "port"),
            ("http://example.com:\u0668\u0660/", "port"),
            ("http://2001:db8::1/", "port"),
            ("http://256.0.0.1/", "IPv4"),
            ("http://1.2.3.4.5/", "IPv4"),
            ("http://example.123/", "IPv4"),
            ("http://./", "no host"),
            ("http://example.com:" + "9" * 5000 + "/", "port"),  # int() refuses 4300+ digits
            ("http://" + "9" * 5000 + "/", "IPv4"),
            ("http://1." + "0x" + "f" * 5000 + "/", "IPv4"),
        ],
    )
    def test_unusable_hosts_and_ports_are_refused_saying_why(self, raw, reason):
        with pytest.raises(InvalidURL, match=reason):
            canonical_url(raw)

    @settings(max_examples=1500, deadline=None)
    @given(url=urls())
    @example(url="http://[2001:db8::1]:8080/a")
    @example(url="http://[::1]:8000/")
    @example(url="http://0x7f000001/")
    @example(url="http://\uff41.com/")
    def test_either_refuses_or_gives_a_fixed_point_naming_the_same_host(self, url):
        """Either the documented ``InvalidURL`` or a URL that urllib parses back to the input's
        host and port, that ``canonical_url`` leaves as it is, and whose host getaddrinfo cannot
        read as an address other than the one it spells."""
        try:
            canonical = canonical_url(url)
        except InvalidURL:
            return
        assert canonical_url(canonical) == canonical
        article_id(canonical)  # what the API computes from the canonical form: must not raise
        feed_kind(canonical)
        given_parts, parts = urlsplit(url.strip()), urlsplit(canonical)
        assert parts.scheme == given_parts.scheme.lower()
        assert parts.port == (
            None if given_parts.port in (None, 80 if parts.scheme == "http" else 443) else given_parts.port
        )
        assert parts.hostname
        given_host = given_parts.hostname.rstrip(".")
        if parts.netloc.startswith("["):
            assert ipaddress.IPv6Address(parts.hostname) == ipaddress.IPv6Address(given_host)
        else:
            try:
                spelled = ipaddress.IPv4Address(parts.hostname)
            except ValueError:  # a name: kept as given, lower-cased
                assert parts.hostname == given_host
                assert not _inet_aton(parts.hostname), "a name getaddrinfo would read as an address"
            else:  # WHATWG reads a little more than inet_aton ("0x" is 0.0.0.0), never differently
                read = _inet_aton(given_host)
                assert read is None or spelled == ipaddress.IPv4Address(read)


def _inet_aton(host: str) -> bytes | None:
    """How the C library (and so getaddrinfo) reads a host as an IPv4 address, if it does."""
    try:
        return socket.inet_aton(host)
    except (OSError, UnicodeError, ValueError):
        return None


class TestArticleId:
    def test_same_page_through_tracking_links_and_schemes_has_one_id(self):
        assert (
            article_id("https://example.com/story?utm_campaign=x")
            == article_id("http://EXAMPLE.com/story/")
            == article_id("https://example.com/story#top")
        )

    def test_different_pages_differ(self):
        assert article_id("https://example.com/story?id=1") != article_id("https://example.com/story?id=2")


class TestCopySignatures:
    def test_reprint_with_headline_and_byline_is_a_copy(self):
        assert similarity(minhash(WIRE), minhash(REPRINT)) >= COPY_SIMILARITY

    def test_unrelated_story_on_the_same_topic_is_not(self):
        assert similarity(minhash(WIRE), minhash(OTHER)) < 0.2

    def test_copies_share_an_lsh_band_so_they_are_compared(self):
        assert set(lsh_bands(minhash(WIRE))) & set(lsh_bands(minhash(REPRINT)))

    def test_headlines_are_too_short_to_call_copies(self):
        assert minhash("Japan economy shrinks 2.1% in first quarter") is None

    def test_signatures_are_deterministic_across_calls(self):
        assert (minhash(WIRE) == minhash(WIRE)).all()
        assert content_fingerprint(WIRE) == content_fingerprint(WIRE.upper())


class TestDisplayName:
    @pytest.mark.parametrize(
        ("raw", "shown"),
        [
            (r"Philly.com \(blog\)", "Philly.com (blog)"),  # as the UCI aggregator data spells it
            (r"Windpower Engineering \(press release\)", "Windpower Engineering (press release)"),
            ("  Reuters \n UK ", "Reuters UK"),
            ("   ", None),
            (None, None),
        ],
    )
    def test_publisher_names_read_as_written(self, raw: str | None, shown: str | None) -> None:
        assert display_name(raw) == shown
