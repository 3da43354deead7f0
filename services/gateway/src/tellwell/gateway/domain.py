"""Pure pieces of the gateway: feed queries and cursors, story cards, labels for the page.

No I/O here: the repository turns a ``FeedQuery`` into a MongoDB query, routes turn cards into bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from tellwell.common.events import Category, Lean, Perspective, StoryScored
from tellwell.common.views import CARD_SOURCES, search_words

Sort = Literal["hot", "new", "relevance"]
LeanFilter = Literal["left", "center", "right", "blindspot"]

#: The sort key of each feed order; the story id breaks ties so the order is total. ``_score`` is
#: no stored field: the text search's rank, computed per query (``tellwell.gateway.search``).
SORT_FIELD: dict[str, str] = {"hot": "hotness", "new": "last_published_at", "relevance": "_score"}

#: Distinct words a text search may have: each one narrows the feed, so more say nothing new.
MAX_QUERY_WORDS = 8
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

CONFIDENCE_MEANING = "the share of independent, credible sources that corroborate the story's core facts"

_RELATIVE = re.compile(r"^(\d{1,6})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


class InvalidQuery(ValueError):
    """A query parameter that parsed but makes no sense; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def parse_since(raw: str, now: datetime) -> datetime:
    """``since``: an ISO 8601 time (naive means UTC) or a look-back like ``90m``, ``24h``, ``7d``.

    A look-back is floored to the minute so that equal queries within a minute share a cache entry.
    """
    raw = raw.strip()
    match = _RELATIVE.match(raw)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        try:
            then = now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:  # before year 1
            raise InvalidQuery("since", f"{raw[:40]!r} looks back further than dates go") from None
        return then.replace(second=0, microsecond=0)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQuery(
            "since", f"{raw[:40]!r} is neither an ISO 8601 time nor a look-back such as 90m, 24h or 7d"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class FeedQuery:
    """What the feed was asked for, normalised: equal queries are equal objects (a cache key).

    ``q`` matches a story when every one of its words (``common.views.search_words``) starts a word
    of the story's title, summary or entities: ``q=chil quake`` finds "Quake hits central Chile".
    ``sort="relevance"`` ranks those matches (BM25); without ``q`` it is ``hot``. Raises
    ``InvalidQuery`` for a ``q`` with no word or too many.
    """

    sort: Sort = "hot"
    category: Category | None = None
    lean: LeanFilter | None = None
    min_confidence: float | None = None
    since: datetime | None = None
    source: str | None = None
    q: str | None = None
    language: str | None = None
    words: tuple[str, ...] = field(default=(), init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        words: tuple[str, ...] = ()
        if self.q is not None:
            words = tuple(dict.fromkeys(search_words(self.q)))
            if not words:
                raise InvalidQuery("q", "has no letters or digits to search for")
            if len(words) > MAX_QUERY_WORDS:
                raise InvalidQuery("q", f"at most {MAX_QUERY_WORDS} different words, not {len(words)}")
        object.__setattr__(self, "words", words)
        if self.sort == "relevance" and not words:
            object.__setattr__(self, "sort", "hot")  # nothing to rank by: the default order

    def fingerprint(self) -> str:
        """A short digest of the filters, carried in cursors so a cursor cannot change the query."""
        parts: tuple[object, ...] = (
            self.sort,
            self.category,
            self.lean,
            self.min_confidence,
            self.since,
            self.source,
            self.q,
        )
        if self.language is not None:  # appended only when set: cursors issued before it stay valid
            parts += (self.language,)
        return hashlib.blake2b(repr(parts).encode(), digest_size=6).hexdigest()


@dataclass(frozen=True, slots=True)
class CursorKey:
    """The position after the last story of a page: its sort value and id (keyset pagination)."""

    value: float | datetime
    story_id: str


def encode_cursor(query: FeedQuery, doc: Mapping[str, Any]) -> str:
    """The cursor after ``doc`` (a card document; for ``relevance`` it carries its ``_score``)."""
    value = doc[SORT_FIELD[query.sort]]
    raw: float | int = ms(value) if isinstance(value, datetime) else float(value)
    payload = orjson.dumps({"f": query.fingerprint(), "v": raw, "i": doc["_id"]})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


_NOT_OURS = "not a cursor this API returned (take next_cursor as it is)"


def decode_cursor(query: FeedQuery, cursor: str) -> CursorKey:
    """The position a cursor points at; ``InvalidQuery('cursor', ...)`` if it is not one of ours."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        fingerprint, value, story_id = data["f"], data["v"], data["i"]
        if not isinstance(story_id, str) or not isinstance(value, int | float) or isinstance(value, bool):
            raise TypeError
    except (ValueError, TypeError, KeyError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidQuery("cursor", _NOT_OURS) from None
    if fingerprint != query.fingerprint():
        raise InvalidQuery("cursor", "this cursor belongs to a different query: keep the filters and sort")
    if query.sort == "new":
        try:
            if not isinstance(value, int):
                raise OverflowError
            return CursorKey(EPOCH + value * _MS, story_id)
        except OverflowError:  # not a time a datetime can hold
            raise InvalidQuery("cursor", _NOT_OURS) from None
    if not math.isfinite(value):
        raise InvalidQuery("cursor", _NOT_OURS)
    return CursorKey(float(value), story_id)


def ms(value: datetime) -> int:
    """Milliseconds since the epoch, floored, as BSON stores a date (exact: no float on the way)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // _MS


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a ``Z``, whatever tzinfo the driver attached."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def story_card(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The compact facts of a story (a feed item, an SSE event) from its ``story_views`` flat fields."""
    story_id = doc["_id"]
    return {
        "id": story_id,
        "version": doc.get("version"),
        "title": doc.get("title", ""),
        "summary": doc.get("summary_text", ""),
        "category": doc.get("category"),
        "language": doc.get("language", "und"),
        "confidence": doc.get("confidence"),
        "lean": {
            "left": doc.get("lean_left", 0.0),
            "center": doc.get("lean_center", 0.0),
            "right": doc.get("lean_right", 0.0),
            "unrated": doc.get("lean_unrated", 0),
        },
        "blindspot": doc.get("blindspot"),
        "source_count": doc.get("source_count", 0),
        "article_count": doc.get("article_count", 0),
        "sources": card_sources(doc),
        "hotness": doc.get("hotness", 0.0),
        "first_published_at": iso(doc.get("first_published_at")),
        "last_published_at": iso(doc.get("last_published_at")),
        "updated_at": iso(doc.get("updated_at")),
        "merged_into": doc.get("merged_into"),
        "url": f"/v1/stories/{story_id}",
        "page_url": f"/stories/{story_id}",
    }


@dataclass(frozen=True, slots=True)
class Page:
    """One feed page: its cards as serialised JSON objects (``story_card``), the cursor after it;
    ``digests`` are the cards' ``card_digest`` (computed when not given)."""

    cards: list[bytes]
    next_cursor: str | None
    digests: list[bytes] | None = None

    def json(self) -> bytes:
        """The feed response body; the same bytes as ``orjson.dumps`` of the page as a dict."""
        cursor = orjson.dumps(self.next_cursor)
        return b'{"items":[' + b",".join(self.cards) + b'],"next_cursor":' + cursor + b"}"

    def etag(self) -> str:
        """A strong ETag of ``json()``: a digest of its cards' digests and its cursor, so equal bytes
        get equal tags on every replica without hashing the whole body per request."""
        digests = self.digests if self.digests is not None else [card_digest(c) for c in self.cards]
        summary = b"".join(digests) + orjson.dumps(self.next_cursor)
        return '"p' + hashlib.blake2b(summary, digest_size=12).hexdigest() + '"'

    def items(self) -> list[dict[str, Any]]:
        return [orjson.loads(card) for card in self.cards]


def card_sources(doc: Mapping[str, Any]) -> list[str]:
    """The few source domains a card names, most credible first; all of them are on the story."""
    top = doc.get("top_sources")
    if top is None:  # a view stored before ``top_sources`` existed
        top = doc.get("sources", [])
    return list(top[:CARD_SOURCES])


def card_digest(card: bytes) -> bytes:
    """A digest of one serialised card (``Page.etag`` combines them)."""
    return hashlib.blake2b(card, digest_size=16).digest()


def etag_of(body: bytes) -> str:
    """A strong ETag from the bytes: every replica gives the same tag for the same content."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


# ---------------------------------------------------------------- page labels


def age_label(when: datetime | None, now: datetime) -> str:
    """``just now``, ``39m ago``, ``5h ago``, ``3d ago``; older than 30 days: the date."""
    if when is None:
        return ""
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    if seconds < 30 * 86400:
        return f"{int(seconds // 86400)}d ago"
    when = when.astimezone(UTC)
    return f"{when:%b} {when.day}, {when.year}"


def category_label(category: str | None) -> str:
    return (category or "general").replace("_", " ").title()


@dataclass(frozen=True, slots=True)
class LeanSegment:
    side: str  # left | center | right
    label: str  # "Center 50%"
    start: float  # 0..100, where the segment starts on the bar
    width: float  # 0..100


def lean_segments(left: float, center: float, right: float) -> list[LeanSegment]:
    """The lean bar: one segment per side with coverage, percentages that add up to 100."""
    shares = [("left", left), ("center", center), ("right", right)]
    total = sum(max(v, 0.0) for _, v in shares)
    if total <= 0:
        return []
    percents = _largest_remainder([max(v, 0.0) / total * 100 for _, v in shares])
    segments, start = [], 0.0
    for (side, _), pct in zip(shares, percents, strict=True):
        if pct > 0:
            segments.append(LeanSegment(side, f"{side.title()} {pct}%", start, float(pct)))
            start += pct
    return segments


def _largest_remainder(values: list[float]) -> list[int]:
    floors = [int(v) for v in values]
    missing = round(sum(values)) - sum(floors)
    order = sorted(range(len(values)), key=lambda i: values[i] - floors[i], reverse=True)
    for i in order[:missing]:
        floors[i] += 1
    return floors


def lean_summary(left: float, center: float, right: float) -> str:
    """``Left 25% · Center 50% · Right 25%``, or a plain word when no covering source has a rated lean."""
    segments = lean_segments(left, center, right)
    return " · ".join(s.label for s in segments) if segments else "Lean not rated"


_SIDE_OF = {
    Lean.left: "Left",
    Lean.lean_left: "Left",
    Lean.center: "Center",
    Lean.lean_right: "Right",
    Lean.right: "Right",
    Lean.unrated: "Unrated",
}
_SIDE_ORDER = ["Left", "Center", "Right", "Unrated"]


def group_perspectives(
    perspectives: Iterable[Perspective], group_above: int = 6
) -> list[tuple[str | None, list[Perspective]]]:
    """What different sources said: one flat group, or grouped by side of the spectrum when many."""
    items = list(perspectives)
    if len(items) <= group_above:
        return [(None, items)] if items else []
    groups: dict[str, list[Perspective]] = {}
    for p in items:
        groups.setdefault(_SIDE_OF[p.lean], []).append(p)
    return [(side, groups[side]) for side in _SIDE_ORDER if side in groups]


def lean_side(lean: Lean) -> str:
    return _SIDE_OF[lean]


def safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) link; ``None`` for ``javascript:``, ``data:`` and the rest."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def source_names(view: StoryScored) -> dict[str, str]:
    """Display name of each source domain of a story, from its member articles."""
    return {a.source: a.source_name or a.source for a in view.articles}
