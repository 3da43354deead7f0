"""The feed as RSS 2.0, Atom 1.0 and JSON Feed 1.1, from the cards of one feed page. Pure: no I/O.

* **Stable ids**: an item's id is its story's (`urn:tellwell:story:<id>` in Atom, the story id as
  a non-permalink RSS `guid`, the story id in JSON Feed), never its version: a story that gains
  sources stays one item whose `updated` moves.
* **Permalinks** to the story page (`<base>/stories/<id>`); merged stories never appear (the feed
  lists live stories only) and their old links redirect to the survivor.
* **Text, not markup**: titles and summaries are plain text. Atom says so (`type="text"`), JSON
  Feed has `content_text`; RSS has no such type and readers render `description` as HTML, so it
  carries the text HTML-escaped (a summary quoting `<b>` shows `<b>`, it does not embolden).

RSS and Atom are written by feedgen, JSON Feed by orjson from a dict.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

import orjson
from feedgen.feed import FeedGenerator

Format = Literal["rss", "atom", "json"]
MEDIA_TYPES: dict[Format, str] = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
}
PATHS: dict[Format, str] = {"rss": "/feed.xml", "atom": "/feed.atom", "json": "/feed.json"}
TITLE = "TellWell"
DESCRIPTION = "News stories from many sources, with how well they are corroborated."


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime(1970, 1, 1, tzinfo=UTC)


def story_url(base: str, story_id: str) -> str:
    return f"{base}/stories/{quote(story_id, safe='')}"


def item_text(card: dict[str, Any]) -> str:
    """What an item says: the summary, then how well it is corroborated, in words."""
    summary = card.get("summary") or card.get("title") or ""
    sources = card.get("source_count") or 0
    confidence = card.get("confidence")
    facts = f"{sources} source{'s' if sources != 1 else ''}"
    if confidence is not None:
        facts = f"Confidence {confidence:.0f} % · {facts}"
    return f"{summary}\n\n{facts}" if summary else facts


def render_feed(fmt: Format, cards: Sequence[dict[str, Any]], *, base: str, filters: dict[str, str]) -> bytes:
    """The document for the cards of one page; ``filters`` is the query it answers (for its links)."""
    query = urlencode(filters)
    page_url = f"{base}/" + (f"?{query}" if query else "")
    self_url = f"{base}{PATHS[fmt]}" + (f"?{query}" if query else "")
    title = TITLE + (f": {', '.join(f'{k} {v}' for k, v in filters.items())}" if filters else "")
    # The feed changed when its newest item did: deterministic bytes for one data version.
    updated = max((_time(c.get("updated_at")) for c in cards), default=datetime(1970, 1, 1, tzinfo=UTC))
    if fmt == "json":
        return _json_feed(cards, base=base, title=title, page_url=page_url, self_url=self_url)
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(title)
    fg.description(DESCRIPTION)
    fg.subtitle(DESCRIPTION)
    fg.link(href=self_url, rel="self")
    fg.link(href=page_url, rel="alternate")  # after "self": RSS's <link> is the last link given
    fg.language("en")
    fg.generator("TellWell")
    fg.updated(updated)
    fg.lastBuildDate(updated)
    for card in cards:
        story_id = str(card["id"])
        entry = fg.add_entry(order="append")
        entry.title(card.get("title") or story_id)
        entry.link(href=story_url(base, story_id), rel="alternate")
        entry.published(_time(card.get("first_published_at")))
        entry.updated(_time(card.get("updated_at")))
        if card.get("category"):
            entry.category(term=str(card["category"]))
        text = item_text(card)
        if fmt == "atom":
            entry.id(f"urn:tellwell:story:{story_id}")
            entry.summary(text, type="text")
        else:
            entry.guid(story_id, permalink=False)
            entry.description(html.escape(text).replace("\n\n", "<br><br>"))
    out: bytes = fg.atom_str(pretty=False) if fmt == "atom" else fg.rss_str(pretty=False)
    return out


def _json_feed(
    cards: Sequence[dict[str, Any]], *, base: str, title: str, page_url: str, self_url: str
) -> bytes:
    items = []
    for card in cards:
        story_id = str(card["id"])
        item: dict[str, Any] = {
            "id": story_id,
            "url": story_url(base, story_id),
            "title": card.get("title") or story_id,
            "content_text": item_text(card),
            "date_published": _time(card.get("first_published_at")).isoformat(),
            "date_modified": _time(card.get("updated_at")).isoformat(),
            "_tellwell": {
                "confidence": card.get("confidence"),
                "source_count": card.get("source_count"),
                "sources": card.get("sources"),
                "version": card.get("version"),
                "api_url": f"{base}/v1/stories/{quote(story_id, safe='')}",
            },
        }
        if card.get("category"):
            item["tags"] = [str(card["category"])]
        items.append(item)
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": page_url,
        "feed_url": self_url,
        "description": DESCRIPTION,
        "language": "en",
        "items": items,
    }
    return orjson.dumps(doc)
