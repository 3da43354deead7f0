"""The story read model: one ``story_views`` document per story, written by **score** only.

The gateway serves these documents; other services never write them. A document holds the flat
fields the feed filters and sorts on, and the whole view as the JSON of a ``StoryScored`` event in
``view`` (a string: the MongoDB-wire server we run locally cannot store nested arrays, and the
gateway serves pre-serialised bytes anyway).

An absorbed story keeps a document with ``merged_into`` set, so an old link finds its survivor.

For the feed's cards and text search the document also holds ``top_sources`` (the few most
credible source domains a card names), ``entities`` (names score found), ``search_terms`` (the
distinct words of title, summary and entities, as ``search_words`` defines a word) and
``search_length`` (how many words, the title's twice): the gateway's store filter and its
in-memory index both read these, so both find the same stories.

Example::

    doc = view_document(scored, updated_at=utcnow(), entities=["chile"])
    await db[STORY_VIEWS].replace_one({"_id": doc["_id"]}, doc, upsert=True)   # version-checked
    await mark_written(db, doc)                                                  # then announced
    scored_again = view_from_document(doc)
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from tellwell.common.events import GroundedSentence, StoryScored

STORY_VIEWS = "story_views"

#: One small document per story, ``{_id: story id, version, updated_at}``, rewritten after every
#: write of its view (same ``version`` and ``updated_at``): what the gateway's change feed polls.
#: Polling ``story_views`` itself would read every whole view each time on a server that cannot
#: narrow a range query by an index (FerretDB 1.x scans, and decodes each document in full).
VIEW_WRITES = "story_view_writes"

#: The indexes the feed queries use, as (name, keys) pairs for ``create_index``.
STORY_VIEW_INDEXES: list[tuple[str, list[tuple[str, int]]]] = [
    ("feed_new", [("last_published_at", -1)]),
    ("feed_hot", [("hotness", -1)]),
    ("by_category", [("category", 1), ("last_published_at", -1)]),
    ("by_update", [("updated_at", -1)]),
]


#: Source domains a feed card names (``top_sources``); the full list stays on the story itself.
CARD_SOURCES = 5

#: Longer words are cut to this many characters, in documents and in queries alike.
MAX_WORD = 40
_WORD = re.compile(r"[^\W_]+")


def search_words(text: str) -> list[str]:
    """The words of a text as search sees them, in order: runs of letters and digits, case-folded,
    accents removed (``Café`` and ``cafe`` are one word), cut to ``MAX_WORD`` characters.

    The one definition of a word for the feed's text search: score writes the words of every view
    (``search_terms``), the gateway's store filter and its in-memory index read them back.

    Example::

        >>> search_words("Chile's 7.1 quake: São Paulo")
        ['chile', 's', '7', '1', 'quake', 'sao', 'paulo']
    """
    if text.isascii():  # nothing to fold but case (most text: the quick way)
        plain = text.lower()
    else:
        folded = unicodedata.normalize("NFKD", text.casefold())
        plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return [word[:MAX_WORD] for word in _WORD.findall(plain)]


def story_words(title: str, summary_text: str, entities: Iterable[str] = ()) -> list[str]:
    """The words a story is found and ranked by: its title's (counted twice: a title says what the
    story is about), its summary's, then those of the entities it names (score's ``entities``,
    which also come from member headlines)."""
    title_words = search_words(title)
    words = title_words + title_words + search_words(summary_text)
    for entity in entities:
        words += search_words(entity)
    return words


def top_sources(view: StoryScored, limit: int = CARD_SOURCES) -> list[str]:
    """The story's most credible source domains, best first (then by articles, then by name)."""
    credibility: dict[str, float] = {}
    for report in view.confidence.reports:
        for source in report.sources:
            credibility[source] = max(credibility.get(source, 0.0), report.credibility)
    articles = Counter(article.source for article in view.articles)
    domains = set(articles) | set(credibility)
    ranked = sorted(domains, key=lambda d: (-credibility.get(d, -1.0), -articles[d], d))
    return ranked[:limit]


_SENTENCE_END = (".", "!", "?", "\u2026", '"', "\u201d", "'", "\u2019", ")", ":")  # ellipsis, closing quotes


def prose(sentences: Iterable[GroundedSentence]) -> str:
    """Sentences as one paragraph of text. A sentence taken from a headline has no full stop of its
    own; it gets one, so that consecutive headlines do not run into each other."""
    parts = []
    for sentence in sentences:
        text = sentence.text.strip()
        if text:
            parts.append(text if text.endswith(_SENTENCE_END) else text + ".")
    return " ".join(parts)


def view_document(view: StoryScored, *, updated_at: datetime, entities: Iterable[str] = ()) -> dict[str, Any]:
    """The ``story_views`` document of a story view; ``entities`` are the names it is also found by."""
    lean = view.lean
    summary_text = prose(view.summary)
    entities = list(entities)
    words = story_words(view.title, summary_text, entities)
    return {
        "_id": view.story_id,
        "version": view.version,
        "cluster_version": view.cluster_version,
        "merged_into": view.merged_into,
        "category": view.category.value,
        "language": view.language,
        "title": view.title,
        "summary_text": summary_text,
        "confidence": view.confidence.value,
        "hotness": view.hotness,
        "lean_left": lean.left,
        "lean_center": lean.center,
        "lean_right": lean.right,
        "lean_unrated": lean.unrated,
        "blindspot": view.blindspot.side if view.blindspot else None,
        "sources": sorted({article.source for article in view.articles}),
        "top_sources": top_sources(view),
        # Text search (see ``search_words``): every distinct word, and how many words there are.
        "entities": entities,
        "search_terms": sorted(set(words)),
        "search_length": len(words),
        "source_count": view.source_count,
        "article_count": view.article_count,
        "first_published_at": view.first_published_at,
        "last_published_at": view.last_published_at,
        "updated_at": updated_at,
        "view": view.model_dump_json(),
    }


def write_mark(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``story_view_writes`` document announcing this write of a ``story_views`` document."""
    return {"_id": doc["_id"], "version": doc["version"], "updated_at": doc["updated_at"]}


async def mark_written(db: Any, doc: dict[str, Any]) -> None:
    """Announce a written ``story_views`` document to the change feed (after the write itself, so
    that a mark always names a view that can be read)."""
    mark = write_mark(doc)
    try:
        await db[VIEW_WRITES].replace_one({"_id": mark["_id"]}, mark, upsert=True)
    except DuplicateKeyError:  # a racing upsert inserted it first: now there is one to replace
        await db[VIEW_WRITES].replace_one({"_id": mark["_id"]}, mark, upsert=True)


def view_from_document(doc: dict[str, Any]) -> StoryScored:
    """The ``StoryScored`` a ``story_views`` document holds."""
    return StoryScored.model_validate_json(doc["view"])


__all__ = [
    "CARD_SOURCES",
    "MAX_WORD",
    "STORY_VIEWS",
    "STORY_VIEW_INDEXES",
    "VIEW_WRITES",
    "mark_written",
    "prose",
    "search_words",
    "story_words",
    "top_sources",
    "view_document",
    "view_from_document",
    "write_mark",
]
