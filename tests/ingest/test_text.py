"""``plain_text`` and the plain-text rules of ``ArticleIn``: pure, no fixtures."""

import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tellwell.ingest.domain import ArticleIn, prepare
from tellwell.ingest.text import plain_text

TAG_OPENER = re.compile(r"<[A-Za-z/!?]")
SCRIPT_URL = re.compile(r"(?:java|vb)script:\S", re.IGNORECASE)


def assert_no_markup(text: str) -> None:
    assert not TAG_OPENER.search(text), text
    assert not SCRIPT_URL.search(text), text
    assert not re.search(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-f]+);", text, re.IGNORECASE), text


def assert_plain(value: Any) -> None:
    """No string anywhere in a stored document or an event carries markup or a hostile payload's code."""
    if isinstance(value, str):
        assert_no_markup(value)
        for code in ("alert(", "onerror", "<", "&lt", "&amp"):
            assert code not in value, value
    elif isinstance(value, dict):
        for item in value.values():
            assert_plain(item)
    elif isinstance(value, list | tuple):
        for item in value:
            assert_plain(item)


class TestMarkup:
    @pytest.mark.parametrize(
        ("html", "expected"),
        [
            # tags go, and scripts go with their content
            ("<b>Zorblax</b> buys <i>Quuxly</i>", "Zorblax buys Quuxly"),
            ('<a href="javascript:alert(1)">Quuxly</a> deal', "Quuxly deal"),
            ("<img src=x onerror=alert(3)>Zorblax", "Zorblax"),
            ("Zorblax <img src=x onerror=alert(3)", "Zorblax"),  # unfinished tag at the end
            ("<script>alert(1)</script>Zorblax", "Zorblax"),
            ("<SCRIPT type='text/javascript'>if (a<b) alert(1)</SCRIPT>Zorblax", "Zorblax"),
            ("<style>p { color: red }</style>Zorblax", "Zorblax"),
            ("<noscript>enable js</noscript><template>t</template>Zorblax", "Zorblax"),
            ('<iframe src="//evil">frame text</iframe><object data=x>obj</object>Zorblax', "Zorblax"),
            ("<svg onload=alert(1)><text>svg</text></svg>Zorblax", "Zorblax"),
            ("<script/>alert(1)</script>Zorblax", "Zorblax"),  # browsers ignore the slash
            ("Zorblax<script>alert(1)", "Zorblax"),  # unclosed: the rest is script
            ("Zor<!-- <script>alert(1)</script> -->blax", "Zorblax"),
            ("Zor<![CDATA[<script>alert(1)</script>]]>blax", "Zorblax"),
            ("<?php echo 1; ?><!DOCTYPE html>Zorblax", "Zorblax"),
            ("<html><head><title>T</title></head><body><p>Zorblax</p></body></html>", "Zorblax"),
            ("<<script>alert(1)</script>", "<"),
            ("<p>one</p><p>two<br>three</p>", "one two three"),
            ("<div\n class='x'\n>Zorblax</div >", "Zorblax"),
            # entities are decoded until nothing is left
            ("Tom &amp; Jerry &copy; 2026&nbsp;Ltd", "Tom & Jerry © 2026 Ltd"),
            ("Caf&#233; &#x2014; &ldquo;bold&rdquo;", "Café — “bold”"),
            ("&lt;script&gt;alert(1)&lt;/script&gt;Zorblax", "Zorblax"),  # an encoded tag is a tag
            ("&amp;lt;img src=x onerror=alert(1)&amp;gt;Zorblax", "Zorblax"),  # double-encoded too
            ("AT&amp;amp;T", "AT&T"),
            ("&#60;script&#62;alert(1)&#60;/script&#62;Zorblax", "Zorblax"),
            # script URLs never survive as text
            ("click javascript:alert(document.cookie) now", "click now"),
            ("jav&#x61;script:alert(1) now", "now"),
            ("javascript&colon;alert(1) now", "now"),
            ("VBScript:msgbox(1) now", "now"),
            ("JavaScript: The Good Parts", "JavaScript: The Good Parts"),  # prose, not a URL
        ],
    )
    def test_only_the_text_is_left(self, html, expected):
        assert plain_text(html) == expected


class TestProse:
    @pytest.mark.parametrize(
        "prose",
        [
            "AT&T buys Time Warner",
            "R&D spending rose 3 < 5 times > forecast",
            "Barnes&noble and Johnson&Johnson",  # "&not" is no reference without its ";"
            "Profit up 5% & shares <10% lower",
            "a -> b <= c",
            "Zorblax buys Quuxly for $9 billion",
            'Mayor\'s "bold" plan',
        ],
    )
    def test_plain_prose_is_unchanged(self, prose):
        assert plain_text(prose) == prose

    def test_whitespace_is_collapsed(self):
        assert plain_text("  Zorblax\t buys\n\nQuuxly \u00a0 ") == "Zorblax buys Quuxly"

    def test_control_and_bidi_characters_go(self):
        assert plain_text("Zor\x00blax\u202e buys\u200b Quuxly\x07") == "Zorblax buys Quuxly"

    def test_multiline_keeps_paragraphs(self):
        html = "<p>First  para.</p>\n\n\n<p>Second\tpara</p>line two\r\nline three<br>four"
        assert plain_text(html, multiline=True) == "First para.\n\nSecond para\nline two\nline three\nfour"

    def test_multiline_plain_text_is_unchanged(self):
        text = "Paragraph one.\nParagraph two.\n\nParagraph three."
        assert plain_text(text, multiline=True) == text


class TestHostileInput:
    @pytest.mark.parametrize(
        "html",
        [
            "<" * 200_000,
            "<a" * 100_000,
            "<!--" * 50_000,
            "&amp;" * 40_000,
            "<div>" * 40_000,
            "<![CDATA[" * 20_000,
            "</" * 100_000,
            "<a b='" * 30_000,
            "<script>" * 25_000,
            "&" * 200_000,
        ],
    )
    def test_huge_input_is_linear_and_leaves_no_markup(self, html):
        started = time.perf_counter()
        text = plain_text(html, multiline=True)
        assert time.perf_counter() - started < 2.0
        assert_no_markup(text)

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(
            st.sampled_from(
                [
                    "<",
                    ">",
                    "/",
                    "!",
                    "?",
                    "-",
                    "&",
                    ";",
                    "#",
                    "x",
                    "60",
                    "lt",
                    "gt",
                    "amp",
                    "script",
                    "style",
                    "img",
                    "a",
                    " ",
                    "=",
                    "'",
                    '"',
                    "javascript:",
                    "onerror",
                    "<!--",
                    "-->",
                    "<![CDATA[",
                    "]]>",
                    "Zorblax",
                    "AT&T",
                    "&lt;",
                    "&amp;",
                    "&#60;",
                    "\n",
                ]
            ),
            max_size=40,
        ).map("".join)
    )
    def test_no_input_leaves_a_tag_and_cleaning_is_stable(self, html):
        text = plain_text(html)
        assert not TAG_OPENER.search(text)
        assert not SCRIPT_URL.search(text)
        assert plain_text(text) == text


# ----------------------------------------------------------------------------- ArticleIn

HOSTILE = {
    "id": "hostile-1",
    "title": '<b>Zorblax</b> buys <a href="javascript:alert(1)">Quuxly</a><script>alert(2)</script>',
    "text": "<p>Zorblax &amp;amp; Quuxly <img src=x onerror=alert(3)>agreed.</p><p>Boards &lt;b&gt;met.</p>",
    "lead": "<style>*{}</style>Zorblax &lt;script&gt;alert(4)&lt;/script&gt;agreed",
    "source": "<i>Daily</i> &amp; <iframe>x</iframe>Gazette",
    "authors": ["<b>Ann</b> Lee", "<script>alert(5)</script>", "  "],
    "category": "<u>business</u>",
}


class TestArticleIn:
    def test_every_text_field_is_plain(self):
        item = ArticleIn.model_validate(HOSTILE)
        assert item.title == "Zorblax buys Quuxly"
        assert item.text == "Zorblax & Quuxly agreed.\n\nBoards met."
        assert item.lead == "Zorblax agreed"
        assert item.source == "Daily & Gazette"
        assert item.authors == ["Ann Lee"]
        assert item.category == "business"

    def test_what_is_prepared_for_storage_is_plain(self):
        from datetime import UTC, datetime

        prepared = prepare(ArticleIn.model_validate(HOSTILE), now=datetime.now(UTC), content_source="push")
        for value in (prepared.title, prepared.text, prepared.lead, prepared.source_name, *prepared.authors):
            assert value is not None
            assert_no_markup(value)
            assert "alert" not in value

    @pytest.mark.parametrize(
        "title", ["<script>alert(1)</script>", "<img src=x onerror=alert(3)>", "<b> </b>", "&nbsp;"]
    )
    def test_a_title_that_is_only_markup_is_rejected(self, title):
        with pytest.raises(ValidationError, match="the title has no text once HTML markup is removed"):
            ArticleIn.model_validate({"id": "x", "title": title})

    @pytest.mark.parametrize("bad_id", ["<script>", 'a"b', "a b", "a\x00b", "x'y"])
    def test_an_id_with_markup_characters_is_rejected(self, bad_id):
        with pytest.raises(ValidationError, match="an id may not contain"):
            ArticleIn.model_validate({"id": bad_id, "title": "Zorblax"})

    def test_a_url_with_markup_is_stored_percent_encoded(self):
        from datetime import UTC, datetime

        item = ArticleIn(url='https://example.com/a<script>alert("1")</script>', title="Zorblax")
        prepared = prepare(item, now=datetime.now(UTC), content_source="push")
        assert prepared.url == "https://example.com/a%3Cscript%3Ealert(%221%22)%3C/script%3E"
