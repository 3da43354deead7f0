"""Pure gateway logic: ages, lean bar, cursors, look-backs, link safety, the token bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import orjson
import pytest

from tellwell.common.events import Lean, Perspective
from tellwell.common.testing import make_story_scored
from tellwell.common.views import search_words, story_words, top_sources
from tellwell.gateway.domain import (
    FeedQuery,
    InvalidQuery,
    Page,
    age_label,
    card_digest,
    decode_cursor,
    encode_cursor,
    group_perspectives,
    lean_segments,
    lean_summary,
    ms,
    parse_since,
    safe_url,
)
from tellwell.gateway.middleware import TokenBucketLimiter
from tellwell.gateway.search import bm25, idf, prefix_end, prefix_tf, store_pattern, story_text

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


class TestAgeLabel:
    @pytest.mark.parametrize(
        ("delta", "label"),
        [
            (timedelta(seconds=20), "just now"),
            (timedelta(minutes=39, seconds=50), "39m ago"),
            (timedelta(hours=5, minutes=59), "5h ago"),
            (timedelta(days=3, hours=2), "3d ago"),
            (timedelta(days=45), "Oct 15, 2026"),
            (timedelta(minutes=-5), "just now"),  # a publisher's clock ahead of ours
        ],
    )
    def test_labels(self, delta, label):
        assert age_label(NOW - delta, NOW) == label


class TestLean:
    def test_percentages_add_up_to_100_and_skip_empty_sides(self):
        segments = lean_segments(1 / 3, 1 / 3, 1 / 3)

        assert sum(s.width for s in segments) == 100
        assert [s.label for s in segments] == ["Left 34%", "Center 33%", "Right 33%"]
        assert [s.start for s in segments] == [0, 34, 67]

    def test_one_side(self):
        assert lean_summary(0.0, 1.0, 0.0) == "Center 100%"
        assert lean_summary(0.0, 0.0, 0.0) == "Lean not rated"

    def test_perspectives_group_by_side_only_when_many(self):
        def p(i: int, lean: Lean) -> Perspective:
            return Perspective(
                source=f"s{i}.com", lean=lean, article_id=f"a{i}", url="https://x.com", text="t"
            )

        few = [p(0, Lean.right), p(1, Lean.left)]
        many = [p(i, lean) for i, lean in enumerate([Lean.right, Lean.lean_left, Lean.center] * 3)]

        assert group_perspectives(few) == [(None, few)]
        assert [side for side, _ in group_perspectives(many)] == ["Left", "Center", "Right"]
        assert len(group_perspectives(many)[0][1]) == 3


class TestCursor:
    def test_round_trip_new_and_hot(self):
        doc = {"_id": "story-9", "last_published_at": NOW, "hotness": 12.5}

        new = decode_cursor(FeedQuery(sort="new"), encode_cursor(FeedQuery(sort="new"), doc))
        hot = decode_cursor(FeedQuery(sort="hot"), encode_cursor(FeedQuery(sort="hot"), doc))

        assert (new.value, new.story_id) == (NOW, "story-9")
        assert (hot.value, hot.story_id) == (12.5, "story-9")

    @pytest.mark.parametrize("cursor", ["", "!!!", "e30", "eyJmIjoxfQ", "bnVsbA"])
    def test_garbage_is_rejected_with_the_field_named(self, cursor):
        with pytest.raises(InvalidQuery) as err:
            decode_cursor(FeedQuery(), cursor)
        assert err.value.field == "cursor"

    def test_a_cursor_is_bound_to_its_filters(self):
        cursor = encode_cursor(FeedQuery(q="quake"), {"_id": "s", "hotness": 1.0})

        with pytest.raises(InvalidQuery, match="different query"):
            decode_cursor(FeedQuery(q="storm"), cursor)


class TestSince:
    def test_look_backs_floor_to_the_minute(self):
        now = NOW.replace(second=42)
        assert parse_since("90m", now) == NOW - timedelta(minutes=90)
        assert parse_since("7d", now) == NOW - timedelta(days=7)

    def test_iso_times_naive_means_utc(self):
        assert parse_since("2026-11-28T10:00:00", NOW) == datetime(2026, 11, 28, 10, tzinfo=UTC)
        assert parse_since("2026-11-28T12:00:00+02:00", NOW) == datetime(2026, 11, 28, 10, tzinfo=UTC)

    def test_nonsense(self):
        with pytest.raises(InvalidQuery, match="look-back"):
            parse_since("last tuesday", NOW)


class TestSafeUrl:
    @pytest.mark.parametrize(
        ("url", "safe"),
        [
            ("https://www.reuters.com/world/x", True),
            ("http://apnews.com/a", True),
            ("javascript:alert(1)", False),
            (" JavaScript:alert(1)", False),
            ("data:text/html,<b>x</b>", False),
            ("//evil.example/x", False),
            ("https:///nohost", False),
            ("", False),
        ],
    )
    def test_only_absolute_http_links(self, url, safe):
        assert (safe_url(url) is not None) is safe


class TestTokenBucket:
    def test_burst_then_rate(self):
        now = [0.0]
        limiter = TokenBucketLimiter(rate=2.0, burst=3, clock=lambda: now[0])

        burst = [limiter.take("a") for _ in range(3)]
        wait = limiter.take("a")
        other = limiter.take("b")
        now[0] += 0.5
        after = limiter.take("a")

        assert burst == [0.0, 0.0, 0.0]
        assert wait == pytest.approx(0.5)
        assert other == 0.0
        assert after == 0.0


class TestTextSearch:
    def test_words_fold_case_and_accents_and_cut_long_ones(self):
        assert search_words("Chile's 7.1 QUAKE: São Paulo, Zürich, İstanbul") == [
            "chile", "s", "7", "1", "quake", "sao", "paulo", "zurich", "istanbul",
        ]  # fmt: skip
        assert search_words("x" * 50) == ["x" * 40]
        assert search_words("!!! — …") == []

    def test_a_story_is_found_by_its_entities_and_its_title_counts_twice(self):
        assert story_words("Quake hits", "A summary.", ["united nations"]) == [
            "quake", "hits", "quake", "hits", "a", "summary", "united", "nations",
        ]  # fmt: skip

    def test_a_query_keeps_its_distinct_words_and_relevance_needs_some(self):
        assert FeedQuery(q="Quake quake CHILE").words == ("quake", "chile")
        assert FeedQuery(sort="relevance").sort == "hot"
        assert FeedQuery(sort="relevance", q="x") != FeedQuery(sort="hot", q="x")
        with pytest.raises(InvalidQuery) as err:
            FeedQuery(q="?!")
        assert err.value.field == "q"

    def test_bm25_prefers_more_occurrences_and_rarer_words(self):
        tf = [np.array([1.0, 3.0]), np.array([1.0, 1.0])]
        scores = bm25(tf, np.array([10.0, 10.0]), [5, 50], 100, 1000)

        assert scores[1] > scores[0]
        assert idf(1, 100) > idf(50, 100) > 0

    def test_prefix_ranges_and_store_patterns(self):
        assert prefix_end("elect") == "elecu"
        assert store_pattern("sao") == {"$regex": "^sao"}
        text = story_text({"title": "Elections, elected", "summary_text": "", "entities": []})
        assert prefix_tf(text, "elect") == 4  # both words, title twice


class TestCards:
    def test_most_credible_sources_first_five_at_most(self):
        view = make_story_scored()

        assert top_sources(view) == [
            "apnews.com",
            "reuters.com",
            "bbc.co.uk",
            "theguardian.com",
            "foxnews.com",
        ]
        assert top_sources(view, 2) == ["apnews.com", "reuters.com"]

    def test_a_page_is_the_bytes_of_its_dict_and_its_etag_follows_its_bytes(self):
        cards = [orjson.dumps({"id": "a", "t": "é"}), orjson.dumps({"id": "b"})]
        page = Page(cards, "c1")

        assert page.json() == orjson.dumps({"items": [orjson.loads(c) for c in cards], "next_cursor": "c1"})
        assert page.etag() == Page(list(cards), "c1", [card_digest(c) for c in cards]).etag()
        assert page.etag() != Page(cards, None).etag()
        assert page.etag() != Page(cards[:1], "c1").etag()


class TestMilliseconds:
    def test_exact_like_bson(self):
        when = datetime(2026, 3, 2, 10, 0, 0, 999_999, tzinfo=UTC)

        assert ms(when) == 1772445600999
        assert ms(datetime(1969, 12, 31, 23, 59, 59, 999_500, tzinfo=UTC)) == -1
        cursor = encode_cursor(FeedQuery(sort="new"), {"_id": "s", "last_published_at": when})
        assert decode_cursor(FeedQuery(sort="new"), cursor).value == when.replace(microsecond=999_000)

    def test_a_look_back_before_year_one_is_invalid(self):
        with pytest.raises(InvalidQuery, match="further than dates go"):
            parse_since("999999d", NOW)
