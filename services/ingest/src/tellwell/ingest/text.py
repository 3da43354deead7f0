"""Plain text out of whatever a publisher, a feed or an API client sends: ``plain_text``.

Every external text field of an article (title, text, lead, authors, source name, category) goes
through ``plain_text`` once, in ``ArticleIn``'s validators, before anything is stored or published.
Stdlib only (``html.parser``), linear in the input.

Rules, in the order applied:

* tags are removed; ``<script>``, ``<style>``, ``<noscript>``, ``<template>``, ``<iframe>``,
  ``<object>``, ``<embed>``, ``<svg>``, ``<math>``, ``<textarea>``, ``<select>`` and ``<head>`` are
  dropped with their content (an unclosed one drops the rest, as a browser would hide it);
  comments, CDATA sections, processing instructions and doctypes are dropped; attributes are never
  text, so ``<a href="javascript:...">text</a>`` keeps "text" only; an unfinished tag at the end
  (``... <img src=x onerror=alert(1)``) is dropped, as a browser drops it;
* character references are decoded; text that still holds markup or references after that
  (double-encoded ``&amp;lt;b&amp;gt;``) is parsed again, until nothing changes (at most
  ``MAX_ROUNDS`` times), so an encoded tag never comes back as a tag;
* ``javascript:`` / ``vbscript:`` URLs left in the text are removed; control characters go;
* whitespace is collapsed to single spaces; with ``multiline=True`` paragraph and line breaks
  (from newlines or block tags such as ``<p>``, ``<br>``, ``<li>``) are kept as ``\\n``, at most
  one blank line in a row.

Prose that merely contains ``<`` or ``&`` survives: "AT&T", "3 < 5", "R&D spending > 5%".

Example::

    >>> plain_text('<b>Zorblax</b> buys <a href="javascript:alert(1)">Quuxly</a><script>x()</script>')
    'Zorblax buys Quuxly'
    >>> plain_text("AT&amp;T &amp;lt;3 &lt; 5")
    'AT&T <3 < 5'
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_ROUNDS = 6
"""Decoding rounds: enough for any double/triple encoding seen in the wild."""

DROPPED_ELEMENTS = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "object", "embed", "applet", "svg",
        "math", "textarea", "select", "head", "frameset", "noembed", "noframes", "xmp", "plaintext",
    }
)  # fmt: skip
"""Elements whose content is code, data or hidden, never prose: dropped with what they hold."""

_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
        "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip

# What makes a second parse worthwhile: a tag, comment or declaration opener, or a reference.
_MARKUP = re.compile(r"<[A-Za-z/!?]|&(?:#\d|#[xX][0-9A-Fa-f]|[A-Za-z][A-Za-z0-9]{1,31};)")
# A bare "&" of prose ("AT&T", "Barnes&noble": html.parser would read "&not" as "¬"): named
# references count only with their ";"; numeric ones ("&#60") never occur in prose.
_PROSE_AMPERSAND = re.compile(r"&(?!#|[A-Za-z][A-Za-z0-9]{1,31};)")
_TAG_OPEN = re.compile(r"<(?=[A-Za-z/!?])")
_SCRIPT_URL = re.compile(r"(?:java|vb|live)script:\S+", re.IGNORECASE)
# C0/C1 controls (tab and newline are whitespace and handled below), zero-width and bidi overrides.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class _Text(HTMLParser):
    """Collects character data outside dropped elements; block tags become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_ELEMENTS:
            self._dropping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # browsers ignore the slash of <script/> and <iframe/>: they open the element all the same
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_ELEMENTS:
            self._dropping = max(0, self._dropping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self.parts.append(data)

    # comments, <![CDATA[...]]>, <!doctype>, <?pi?>: the default handlers drop them

    def text(self, value: str) -> str:
        self.feed(value)
        # An unfinished tag at the end ("... <img src=x onerror=alert(1)") is what html.parser
        # would otherwise hand back as text; a browser drops it, and so do we.
        if _TAG_OPEN.match(self.rawdata):
            self.rawdata = ""
        self.close()
        return "".join(self.parts)


def _one_round(value: str) -> str:
    return _Text().text(_PROSE_AMPERSAND.sub("&amp;", value))


def plain_text(value: str, *, multiline: bool = False) -> str:
    """``value`` as plain text: no tags, no scripts or styles, references decoded, whitespace tidy.

    With ``multiline`` line and paragraph breaks are kept (``\\n``, at most one blank line);
    otherwise all whitespace becomes single spaces. See the module docstring for the rules.
    """
    text = value
    for _ in range(MAX_ROUNDS):
        if not _MARKUP.search(text):
            break
        cleaned = _one_round(text)
        if cleaned == text:
            break
        text = cleaned
    text = _TAG_OPEN.sub("< ", text)  # only left after MAX_ROUNDS of nested encoding
    if "script:" in text.lower():
        text = _SCRIPT_URL.sub("", text)
    text = _CONTROLS.sub("", text)
    if not multiline:
        return " ".join(text.split())
    text = _SPACES.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()
