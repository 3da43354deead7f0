import pytest

from tellwell.ingest.domain import display_name
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
        ],
    )
    def test_drops_what_does_not_identify_the_page(self, raw, canonical):
        assert canonical_url(raw) == canonical

    @pytest.mark.parametrize(
        "raw", ["ftp://example.com/x", "example.com/x", "javascript:alert(1)", "https://:80/"]
    )
    def test_rejects_non_http_urls(self, raw):
        with pytest.raises(InvalidURL):
            canonical_url(raw)


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
