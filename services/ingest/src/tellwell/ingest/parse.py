"""Feed parsing and article extraction for ingest: untrusted bytes in, plain validated values out.

`parse_feed` turns RSS 0.9x/1.0/2.0 or Atom bytes into `FeedEntry`s with absolute http(s) links,
plain-text titles and summaries and UTC datetimes. `extract_article` turns an article page into
its main text and metadata, or None when the page has no article in it. Neither does I/O.
"""

from __future__ import annotations

import codecs
import io
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import feedparser
import trafilatura
from charset_normalizer import from_bytes
from pydantic import BaseModel, ConfigDict

from tellwell.ingest.text import plain_text

MAX_ENTRIES = 500
MAX_TITLE_CHARS = 500
MAX_SUMMARY_CHARS = 4000
MAX_AUTHORS = 20
MAX_AUTHOR_CHARS = 200
MAX_GUID_CHARS = 1000
MAX_URL_CHARS = 2048
MIN_ARTICLE_CHARS = 200  # below this the "article" is a teaser, an error page or boilerplate

# The marker as it looks in every encoding an XML parser would accept without a declaration.
_ENTITY_MARKERS = tuple(
    "<!ENTITY".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_WHITESPACE = re.compile(r"\s+")
_EMAIL = re.compile(r"(?:mailto:)?[^\s@()<>\"]+@[^\s@()<>\"]+")


class FeedEntry(BaseModel):
    """One item of a feed. `url` is absolute http(s); text fields are plain text ("" for a feed item
    without description or content); `published_at` is UTC; `language` is a primary subtag ("en")."""

    model_config = ConfigDict(frozen=True)

    url: str
    title: str | None
    summary: str
    published_at: datetime | None
    authors: list[str]
    guid: str | None
    language: str | None


class ParsedFeed(BaseModel):
    """A parsed feed: its title and language (primary subtag, e.g. "en") and at most 500 entries."""

    model_config = ConfigDict(frozen=True)

    title: str | None
    language: str | None
    entries: list[FeedEntry]


class FeedError(Exception):
    """The bytes are not a feed we accept; the message says why."""


class Extracted(BaseModel):
    """The main content of an article page. `language` is a primary subtag ("en"), None if unknown."""

    model_config = ConfigDict(frozen=True)

    title: str | None
    text: str
    authors: list[str]
    published_at: datetime | None
    language: str | None
    canonical_url: str | None


def parse_feed(body: bytes, base_url: str) -> ParsedFeed:
    """Parse RSS/Atom bytes; relative links resolve against `base_url` (the feed's final URL).

    Documents declaring entities are refused before any parsing (billion laughs, XXE). Malformed
    XML is tolerated when feedparser's lenient parser still recovers entries: real feeds are often
    slightly broken (a stray `&`, a bad byte), and losing a whole feed to one bad character helps
    nobody. A document that is malformed and yields nothing, or is not a feed at all, is a
    `FeedError`. Entries without an http(s) link are dropped.
    """
    if not body.strip():
        raise FeedError("empty document")
    if _declares_entities(body):
        raise FeedError("entity declarations are not allowed")
    # A stream, never bytes or str: feedparser treats strings as URLs or file paths and would open them.
    parsed = feedparser.parse(
        io.BytesIO(body),
        # application/xml without charset: the encoding comes from the BOM or XML declaration
        response_headers={"content-location": base_url, "content-type": "application/xml"},
        resolve_relative_uris=True,
        sanitize_html=True,
    )
    if parsed.get("bozo") and not parsed.entries:
        raise FeedError(f"malformed feed: {parsed.get('bozo_exception')}")
    if not parsed.get("version") and not parsed.entries:
        raise FeedError("not an RSS or Atom feed")

    feed = parsed.feed
    feed_language = _language(feed.get("language")) or _language(_detail_language(feed, "title_detail"))
    entries: list[FeedEntry] = []
    for raw in parsed.entries:
        entry = _entry(raw, base_url, feed_language)
        if entry is not None:
            entries.append(entry)
            if len(entries) == MAX_ENTRIES:
                break
    return ParsedFeed(
        title=_plain(feed.get("title"), MAX_TITLE_CHARS, feed.get("title_detail")),
        language=feed_language,
        entries=entries,
    )


def _declares_entities(body: bytes) -> bool:
    upper = body.upper()  # XML keywords are case-sensitive; a lenient parser may not be
    return any(marker in upper for marker in _ENTITY_MARKERS)


def _entry(raw: Any, base_url: str, feed_language: str | None) -> FeedEntry | None:
    url = _entry_link(raw, base_url)
    if url is None:
        return None
    content = raw.get("content") or []
    summary_detail = raw.get("summary_detail") or (content[0] if content else None)
    summary_value = raw.get("summary") or (content[0].get("value") if content else None)
    language = (
        _language(raw.get("language"))
        or _language(_detail_language(raw, "title_detail"))
        or _language(_detail_language(raw, "summary_detail"))
        or feed_language
    )
    guid = raw.get("id")
    return FeedEntry(
        url=url,
        title=_plain(raw.get("title"), MAX_TITLE_CHARS, raw.get("title_detail")),
        summary=_plain(summary_value, MAX_SUMMARY_CHARS, summary_detail) or "",
        # dict.get: FeedParserDict maps a missing published_parsed to updated_parsed with a DeprecationWarning
        published_at=_struct_to_utc(dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed")),
        authors=_authors(raw),
        guid=(guid.strip()[:MAX_GUID_CHARS] or None) if isinstance(guid, str) else None,
        language=language,
    )


def _entry_link(raw: Any, base_url: str) -> str | None:
    candidates = [raw.get("link")]
    candidates += [
        link.get("href") for link in raw.get("links") or [] if link.get("rel", "alternate") == "alternate"
    ]
    for candidate in candidates:
        url = _absolute_http_url(candidate, base_url)
        if url is not None:
            return url
    return None


def _absolute_http_url(candidate: object, base_url: str) -> str | None:
    if not isinstance(candidate, str) or not candidate.strip():
        return None
    try:
        url = urljoin(base_url, candidate.strip())
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises on a port out of range
    except ValueError:  # e.g. an unclosed "[" of an IPv6 host
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > MAX_URL_CHARS:
        return None
    return url


def _authors(raw: Any) -> list[str]:
    # feedparser splits RSS "email (Name)" with an email regex that only knows 2-4 letter TLDs, so
    # "desk@paper.example (Tom Reyes)" comes out as name "ple (Tom Reyes"; redo that split ourselves.
    raw_author = raw.get("author") if isinstance(raw.get("author"), str) else ""
    names: list[str | None] = []
    for author in raw.get("authors") or []:
        email = author.get("email")
        if email and email in raw_author:
            names.append(_author_name(raw_author))
        else:
            names.append(_author_name(author.get("name")))
    if not any(names) and raw_author:
        names = [_author_name(raw_author)]
    authors: list[str] = []
    for name in names:
        if name and name not in authors:
            authors.append(name)
    return authors[:MAX_AUTHORS]


def _author_name(value: object) -> str | None:
    """The name in "Name", "email (Name)" or "Name <email>"; e-mail addresses are never kept."""
    if not isinstance(value, str):
        return None
    text = _EMAIL.sub("", _strip_html(value)).replace("()", "").replace("<>", "")
    return _plain(text.strip().strip("()<>"), MAX_AUTHOR_CHARS, {"type": "text/plain"})


def _detail_language(container: Any, key: str) -> str | None:
    detail = container.get(key)
    return detail.get("language") if detail else None


def _struct_to_utc(value: time.struct_time | None) -> datetime | None:
    """feedparser normalises every date it understands to a UTC struct_time."""
    if value is None:
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _plain(value: object, limit: int, detail: Any = None) -> str | None:
    """Plain text of a feed field: markup stripped unless the feed said it is text, whitespace collapsed."""
    if not isinstance(value, str):
        return None
    is_text = bool(detail) and detail.get("type") == "text/plain"
    text = value if is_text else _strip_html(value)
    return _trim(_WHITESPACE.sub(" ", text).strip(), limit) or None


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _strip_html(value: str) -> str:
    return plain_text(value)


def _language(value: object) -> str | None:
    """Primary language subtag, lower case ("en-GB" and "en_US" give "en"), or None."""
    if not isinstance(value, str):
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    return primary if _LANGUAGE.fullmatch(primary) and primary not in ("und", "mul", "zxx") else None


def extract_article(html: bytes, url: str, encoding: str | None = None) -> Extracted | None:
    """Main text and metadata of an article page, or None when it holds no article text.

    `text` is the body as paragraphs separated by newlines, without the headline (that is `title`);
    fewer than 200 characters of it means there is no article (a login wall, a teaser, a menu).

    `encoding` is the charset from the HTTP Content-Type, if any. Decoding follows the browser
    order: a BOM, then that header, then `<meta charset>`, then UTF-8 if the bytes are valid UTF-8,
    then statistical detection; ISO-8859-1 and ASCII labels decode as windows-1252, as browsers do.

    `canonical_url` comes from `<link rel="canonical">` made absolute; it is what the page claims,
    possibly on another site (syndication), so callers decide whether to trust it.
    `published_at` prefers machine-readable markup (article:published_time, datePublished,
    `<time datetime>`) and falls back to trafilatura's date, which only has day precision.
    """
    document = _decode_html(html, encoding)
    if not document.strip():
        return None
    tree = trafilatura.load_html(document)
    if tree is None:
        return None
    result = trafilatura.bare_extraction(
        tree,  # copied by trafilatura, so `tree` stays intact for the metadata below
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        favor_precision=True,
        # Markup only: htmldate's extensive search reads years out of the prose ("since 2020"
        # became 2020-01-01), and a wrong date is worse than none (the feed or fetch time is used).
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if result is None or isinstance(result, dict):
        return None
    title = _trim(_WHITESPACE.sub(" ", result.title).strip(), MAX_TITLE_CHARS) if result.title else None
    text = _without_headline((result.text or "").strip(), title)
    if len(text) < MIN_ARTICLE_CHARS:
        return None
    authors = [name.strip() for name in (result.author or "").split(";") if name.strip()]
    return Extracted(
        title=title,
        text=text,
        authors=[_trim(name, MAX_AUTHOR_CHARS) for name in dict.fromkeys(authors)][:MAX_AUTHORS],
        published_at=_published_at(tree) or _parse_datetime(result.date),
        language=_page_language(tree) or _language(result.language),
        canonical_url=_canonical_url(tree, url),
    )


def _without_headline(text: str, title: str | None) -> str:
    """trafilatura keeps the page's <h1> as the first line; the title is already a field of its own."""
    first, _, rest = text.partition("\n")
    if title and first.strip().casefold() == title.casefold():
        return rest.strip()
    return text


def _decode_html(body: bytes, declared: str | None) -> str:
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(bom_codec, errors="replace")
    match = _META_CHARSET.search(body[:4096])
    labels = [declared, match.group(1).decode("ascii") if match else None]
    for label in labels:
        codec = _codec(label)
        if codec is None:
            continue
        try:
            return body.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue  # a wrong label: fall through to the next clue rather than mangle the text
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    matches = list(from_bytes(body[:200_000]))
    if matches:
        best = matches[0]
        # Short Western pages often score the same in cp1250 and cp1252; windows-1252 is the
        # browsers' fallback for unlabelled pages, so it wins a tie (è, û survive).
        if any(match.encoding == "cp1252" and match.chaos <= best.chaos for match in matches):
            return body.decode("cp1252", errors="replace")
        try:
            return body.decode(best.encoding, errors="replace")
        except LookupError:
            pass
    return body.decode("cp1252", errors="replace")


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'").lower()).name
    except LookupError:
        return None
    if name in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"  # WHATWG Encoding: these labels mean windows-1252
    if name == "utf-7":
        return None  # never honoured by browsers; a classic filter-evasion trick
    if name.startswith("utf-16"):
        return "utf-8"  # a meta/header utf-16 label without a BOM is treated as utf-8 (WHATWG)
    return name


T = TypeVar("T")


def _first_xpath(tree: Any, expressions: tuple[str, ...], convert: Callable[[str], T | None]) -> T | None:
    """The first value, in the order of ``expressions``, that ``convert`` accepts."""
    for expression in expressions:
        for value in tree.xpath(expression):
            converted = convert(str(value))
            if converted is not None:
                return converted
    return None


_DATE_XPATHS = (
    '//meta[@property="article:published_time"]/@content',
    '//meta[@itemprop="datePublished"]/@content',
    '//*[@itemprop="datePublished"]/@datetime',
    "//article//time/@datetime",
    "//time/@datetime",
)
_LANGUAGE_XPATHS = (
    "/html/@lang",
    '/html/@*[name()="xml:lang"]',
    '//meta[translate(@http-equiv, "CONTENT-LANGUAGE", "content-language")="content-language"]/@content',
    '//meta[@property="og:locale"]/@content',
)


def _published_at(tree: Any) -> datetime | None:
    return _first_xpath(tree, _DATE_XPATHS, _parse_datetime)


def _parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # a page without an offset gets UTC rather than a guess
    return parsed.astimezone(UTC)


def _page_language(tree: Any) -> str | None:
    return _first_xpath(tree, _LANGUAGE_XPATHS, _language)


def _canonical_url(tree: Any, url: str) -> str | None:
    for link in tree.xpath("//link[@rel][@href]"):
        if "canonical" in link.get("rel", "").lower().split():
            return _absolute_http_url(link.get("href"), url)
    return None
