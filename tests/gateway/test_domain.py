"""Pure gateway logic: ages, lean bar, cursors, look-backs, link safety, the token bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tellwell.common.events import Lean, Perspective
from tellwell.gateway.domain import (
    FeedQuery,
    InvalidQuery,
    age_label,
    decode_cursor,
    encode_cursor,
    group_perspectives,
    lean_segments,
    lean_summary,
    parse_since,
    safe_url,
)
from tellwell.gateway.middleware import TokenBucketLimiter

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
