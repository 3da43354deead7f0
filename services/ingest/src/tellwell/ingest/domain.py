"""Pure ingest logic: validating input, identity and fingerprints, copy detection, feed lists, backoff.

No I/O here: the repository stores, the poller fetches, the pipeline ties them together.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

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
from tellwell.ingest.registry import registrable_domain
from tellwell.ingest.text import plain_text

ContentSource = Literal["page", "feed", "push", "import"]
UNKNOWN_SOURCE = "unknown"  # articles that name no URL and no source (e.g. headline-only datasets)

MAX_TITLE = 1_000
MAX_TEXT = 200_000
_ID_UNSAFE = re.compile(r"[\s<>\"'`\x00-\x1f\x7f]")


class ArticleIn(BaseModel):
    """One article pushed through the API or read from a JSONL import."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    url: str | None = Field(default=None, max_length=4_000, description="Article URL; canonicalised.")
    id: str | None = Field(
        default=None, max_length=200, description="Your id for it; identifies it when there is no URL."
    )
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    text: str = Field(default="", max_length=MAX_TEXT)
    lead: str = Field(default="", max_length=10_000)
    source: str | None = Field(default=None, max_length=300, description="Publisher name.")
    source_domain: str | None = Field(default=None, max_length=300, description="Publisher domain.")
    lang: str | None = Field(default=None, max_length=35, description="BCP-47 language tag.")
    published_at: AwareDatetime | None = None
    authors: list[str] = Field(default_factory=list, max_length=50)
    category: str | None = Field(default=None, max_length=100, description="Category hint.")

    # Plain text on every way in (push, import, feeds, pages): the one place markup is removed,
    # before anything is stored or published. Lengths are checked on the input as sent.
    @field_validator("title")
    @classmethod
    def _plain_title(cls, value: str) -> str:
        title = plain_text(value)
        if not title:
            raise ValueError("the title has no text once HTML markup is removed")
        return title

    @field_validator("text")
    @classmethod
    def _plain_body(cls, value: str) -> str:
        return plain_text(value, multiline=True)

    @field_validator("lead")
    @classmethod
    def _plain_lead(cls, value: str) -> str:
        return plain_text(value)

    @field_validator("source", "category")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        return plain_text(value) or None if value is not None else None

    @field_validator("authors")
    @classmethod
    def _plain_authors(cls, value: list[str]) -> list[str]:
        return [name for name in map(plain_text, value) if name]

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str | None) -> str | None:
        if value and _ID_UNSAFE.search(value):
            raise ValueError("an id may not contain whitespace, quotes, angle brackets or control characters")
        return value or None

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value:
            try:
                canonical_url(value)
            except InvalidURL as exc:
                raise ValueError(str(exc)) from exc
        return value or None

    @model_validator(mode="after")
    def _identified(self) -> ArticleIn:
        if not self.url and not self.id:
            raise ValueError("an article needs a url or an id")
        return self


@dataclass(frozen=True)
class Prepared:
    """An article with its identity and fingerprints computed, ready to store."""

    article_id: str
    url: str
    source: str
    source_name: str | None
    title: str
    text: str
    lead: str
    language: str
    published_at: datetime
    fetched_at: datetime
    authors: list[str]
    category_hint: str | None
    content_source: ContentSource
    fingerprint: str
    signature: np.ndarray | None
    feed_id: str | None = None

    @property
    def bands(self) -> list[str]:
        return lsh_bands(self.signature) if self.signature is not None else []


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:100] or UNKNOWN_SOURCE


def language_tag(value: str | None) -> str:
    if not value:
        return "und"
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else "und"


def source_key(url: str | None, domain: str | None, name: str | None) -> str:
    """The registrable domain when one is known, else a name-based key, else ``unknown``."""
    for candidate in (domain, url):
        if candidate and (registrable := registrable_domain(candidate)):
            return registrable
    return f"name:{slug(name)}" if name else UNKNOWN_SOURCE


_ESCAPED = re.compile(r"\\([()\[\]])")


def display_name(name: str | None) -> str | None:
    """A publisher name as readers should see it: whitespace collapsed, and the backslash-escaped
    brackets some aggregators emit ("Philly.com \\(blog\\)") unescaped."""
    if name is None:
        return None
    return " ".join(_ESCAPED.sub(r"\1", name).split()) or None


def prepare(
    item: ArticleIn,
    *,
    now: datetime,
    content_source: ContentSource,
    feed_id: str | None = None,
) -> Prepared:
    if item.url:
        url = canonical_url(item.url)
        aid = article_id(url)
    else:  # no URL: the caller's id is the identity, namespaced so it never collides with a URL's
        url = f"urn:tellwell:{content_source}:{item.id}"
        aid = hashlib.sha256(url.encode()).hexdigest()[:24]
    body = item.text or item.lead
    return Prepared(
        article_id=aid,
        url=url,
        source=source_key(item.url, item.source_domain, item.source),
        source_name=display_name(item.source),
        title=" ".join(item.title.split()),
        text=item.text,
        lead=item.lead or item.text[:500],
        language=language_tag(item.lang),
        published_at=item.published_at or now,
        fetched_at=now,
        authors=[a for a in (" ".join(x.split()) for x in item.authors) if a],
        category_hint=item.category,
        content_source=content_source,
        fingerprint=content_fingerprint(f"{item.title}\n{body}"),
        signature=minhash(body),
        feed_id=feed_id,
    )


@dataclass(frozen=True)
class CopyCandidate:
    article_id: str
    source: str
    published_at: datetime
    signature: np.ndarray
    copy_of: str | None


def pick_origin(signature: np.ndarray | None, candidates: Iterable[CopyCandidate]) -> str | None:
    """The origin of a near-identical text: the earliest similar article (followed to its own origin)."""
    if signature is None:
        return None
    similar = [c for c in candidates if similarity(signature, c.signature) >= COPY_SIMILARITY]
    if not similar:
        return None
    first = min(similar, key=lambda c: (c.published_at, c.article_id))
    return first.copy_of or first.article_id


# ----------------------------------------------------------------------------- feeds

AGGREGATOR_HOSTS = ("news.google.com", "reddit.com", "news.yahoo.com", "bing.com", "feedburner.com")


def feed_kind(url: str) -> Literal["publisher", "aggregator"]:
    """Search-engine and forum feeds are aggregators: publishers' own feeds are preferred."""
    host = urlsplit(canonical_url(url)).hostname or ""
    return "aggregator" if any(host == h or host.endswith("." + h) for h in AGGREGATOR_HOSTS) else "publisher"


def feed_list_entries(data: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """``FeedIn`` input for each entry of both shared formats, ``{category: [url, ...]}`` and
    ``{category: {feeds: [...], source_language}}``, unchecked: ``FeedIn`` says what is wrong."""
    for category, value in data.items():
        if isinstance(value, list):
            urls, language = value, None
        elif isinstance(value, Mapping):
            urls, language = value.get("feeds", []), value.get("source_language")
        else:
            continue
        for url in urls if isinstance(urls, list) else [urls]:
            yield {"url": url, "category": str(category), "language": language or None}


# ----------------------------------------------------------------------------- backoff


def backoff_s(
    failures: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Full-jitter exponential backoff, never sooner than a server's Retry-After."""
    rng = rng or random.Random()
    delay = rng.uniform(0.5, 1.0) * min(cap_s, base_s * 2.0 ** max(failures - 1, 0))
    return float(max(delay, retry_after_s or 0.0))
