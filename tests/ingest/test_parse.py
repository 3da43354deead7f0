from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tellwell.ingest.parse import FeedError, extract_article, parse_feed

BASE = "https://harbourgazette.example/feeds/news.xml"

RSS_20 = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>The Harbour Gazette - News</title>
    <link>https://harbourgazette.example/news</link>
    <description>Latest news from the Harbour Gazette</description>
    <language>en-gb</language>
    <lastBuildDate>Fri, 03 May 2024 15:10:00 +0100</lastBuildDate>
    <atom:link href="https://harbourgazette.example/feeds/news.xml" rel="self" type="application/rss+xml"/>
    <item>
      <title>Council approves riverside flood barrier</title>
      <link>https://harbourgazette.example/news/2024/05/03/council-approves-flood-barrier</link>
      <description>Councillors voted 31 to 9 to fund a &#163;48m riverside barrier.</description>
      <dc:creator>Maria Okonkwo</dc:creator>
      <category>Environment</category>
      <guid isPermaLink="true">https://harbourgazette.example/news/2024/05/03/council-approves-flood-barrier</guid>
      <pubDate>Fri, 03 May 2024 14:30:00 +0100</pubDate>
    </item>
    <item>
      <title>Ferry timetable cut as crew shortage bites</title>
      <link>/news/2024/05/03/ferry-timetable-cut</link>
      <description>Two evening sailings will be dropped from Monday.</description>
      <author>newsdesk@harbourgazette.example (Tom Reyes)</author>
      <guid isPermaLink="false">hg-88231</guid>
      <pubDate>Fri, 03 May 2024 09:05:00 GMT</pubDate>
    </item>
    <item>
      <title>Harbour festival returns after five-year break</title>
      <link>https://harbourgazette.example/news/2024/05/02/harbour-festival-returns</link>
      <description>Organisers expect 20,000 visitors over the bank holiday weekend.</description>
      <guid isPermaLink="false">hg-88190</guid>
      <pubDate>Thu, 02 May 2024 18:45:00 EST</pubDate>
    </item>
  </channel>
</rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr-FR">
  <title type="text">Le Quotidien du Port</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <updated>2024-05-03T12:00:00+02:00</updated>
  <link rel="self" href="https://quotidien.example/atom.xml"/>
  <entry>
    <title>Le port rouvre apr\xc3\xa8s la temp\xc3\xaate</title>
    <link rel="alternate" type="text/html" href="articles/port-rouvre"/>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <published>2024-05-03T08:15:00+02:00</published>
    <updated>2024-05-03T09:00:00+02:00</updated>
    <author><name>Claire Dubois</name></author>
    <author><name>Yann Le Gall</name></author>
    <summary type="html">&lt;p&gt;Les ferries ont repris &lt;em&gt;ce matin&lt;/em&gt;.&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title>March\xc3\xa9 aux poissons : les prix flambent</title>
    <link href="https://quotidien.example/articles/marche-poissons"/>
    <id>urn:uuid:2335c695-cfb8-4ebb-aaaa-80da344efa6b</id>
    <updated>2024-05-02T17:30:00Z</updated>
    <content type="html">&lt;p&gt;Le cabillaud a pris 30 % en un mois.&lt;/p&gt;</content>
  </entry>
</feed>"""

RSS_ENTITIES_CDATA = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Caf&#233; &amp; Culture</title><link>https://cafe.example/</link>
<item>
  <title>Caf&#233; owners &#8220;cautiously optimistic&#8221; &amp; hiring</title>
  <link>https://cafe.example/news/optimistic?a=1&amp;b=2</link>
  <description><![CDATA[<p>Sales rose <b>12%</b> in April &amp; staff &eacute;tudiants&nbsp;returned.</p>
    <script>alert("x")</script><style>p{}</style>]]></description>
</item>
</channel></rss>"""

RSS_10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://old.example/rss">
    <title>Old Town Courier</title><link>https://old.example/</link><description>News</description>
    <dc:language>de</dc:language>
    <items><rdf:Seq><rdf:li rdf:resource="https://old.example/a/1"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://old.example/a/1">
    <title>Stadtrat beschlie\xc3\x9ft Haushalt</title>
    <link>https://old.example/a/1</link>
    <dc:date>2024-05-01T10:00:00+02:00</dc:date>
    <dc:creator>Anna Schmidt</dc:creator>
  </item>
</rdf:RDF>"""

RSS_091 = b"""<?xml version="1.0"?>
<rss version="0.91"><channel><title>Legacy Ledger</title><link>https://legacy.example/</link>
<description>d</description><language>en-us</language>
<item><title>Mill to close</title><link>https://legacy.example/mill</link>
<description>120 jobs lost.</description></item>
</channel></rss>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><link>https://evil.example/1</link></item></channel></rss>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>x</title>
<item><title>&xxe;</title><link>https://evil.example/1</link></item></channel></rss>"""


def rss_items(*items: str) -> bytes:
    body = "".join(f"<item>{item}</item>" for item in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{body}</channel></rss>'.encode()


class TestParseFeed:
    def test_rss_20(self):
        feed = parse_feed(RSS_20, BASE)

        assert feed.title == "The Harbour Gazette - News"
        assert feed.language == "en"
        assert [entry.url for entry in feed.entries] == [
            "https://harbourgazette.example/news/2024/05/03/council-approves-flood-barrier",
            "https://harbourgazette.example/news/2024/05/03/ferry-timetable-cut",
            "https://harbourgazette.example/news/2024/05/02/harbour-festival-returns",
        ]
        first, second, third = feed.entries
        assert first.title == "Council approves riverside flood barrier"
        assert first.summary == "Councillors voted 31 to 9 to fund a £48m riverside barrier."
        assert first.authors == ["Maria Okonkwo"]
        assert first.guid == "https://harbourgazette.example/news/2024/05/03/council-approves-flood-barrier"
        assert first.published_at == datetime(2024, 5, 3, 13, 30, tzinfo=UTC)
        assert first.language == "en"
        assert second.authors == ["Tom Reyes"]
        assert second.guid == "hg-88231"
        assert second.published_at == datetime(2024, 5, 3, 9, 5, tzinfo=UTC)
        assert third.published_at == datetime(2024, 5, 2, 23, 45, tzinfo=UTC)

    def test_atom(self):
        feed = parse_feed(ATOM, "https://quotidien.example/atom.xml")

        assert feed.title == "Le Quotidien du Port"
        assert feed.language == "fr"
        first, second = feed.entries
        assert first.url == "https://quotidien.example/articles/port-rouvre"
        assert first.title == "Le port rouvre après la tempête"
        assert first.summary == "Les ferries ont repris ce matin."
        assert first.authors == ["Claire Dubois", "Yann Le Gall"]
        assert first.published_at == datetime(2024, 5, 3, 6, 15, tzinfo=UTC)
        assert first.guid == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
        assert first.language == "fr"
        assert second.published_at == datetime(2024, 5, 2, 17, 30, tzinfo=UTC)  # only <updated>
        assert second.summary == "Le cabillaud a pris 30 % en un mois."
        assert second.authors == []

    def test_entities_and_cdata_become_plain_text(self):
        feed = parse_feed(RSS_ENTITIES_CDATA, "https://cafe.example/rss")

        assert feed.title == "Café & Culture"
        (entry,) = feed.entries
        assert entry.title == "Café owners “cautiously optimistic” & hiring"
        assert entry.url == "https://cafe.example/news/optimistic?a=1&b=2"
        assert entry.summary == "Sales rose 12% in April & staff étudiants returned."  # nbsp collapsed too

    def test_rss_10(self):
        feed = parse_feed(RSS_10, "https://old.example/rss")

        assert feed.language == "de"
        (entry,) = feed.entries
        assert entry.title == "Stadtrat beschließt Haushalt"
        assert entry.authors == ["Anna Schmidt"]
        assert entry.published_at == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

    def test_rss_091(self):
        feed = parse_feed(RSS_091, "https://legacy.example/rss")

        assert feed.language == "en"
        assert [(entry.title, entry.summary) for entry in feed.entries] == [
            ("Mill to close", "120 jobs lost.")
        ]

    def test_billion_laughs_is_refused(self):
        with pytest.raises(FeedError, match="entity declarations are not allowed"):
            parse_feed(BILLION_LAUGHS, BASE)

    def test_external_entity_is_refused(self):
        with pytest.raises(FeedError, match="entity declarations are not allowed"):
            parse_feed(XXE, BASE)

    def test_entity_declaration_in_utf16_is_refused(self):
        with pytest.raises(FeedError, match="entity declarations are not allowed"):
            parse_feed(
                BILLION_LAUGHS.decode().replace('"1.0"?>', '"1.0" encoding="utf-16"?>').encode("utf-16"), BASE
            )

    def test_malformed_without_entries_is_an_error(self):
        broken = b"<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title></chanel></rss>"

        with pytest.raises(FeedError, match=r"malformed feed: .*mismatched tag"):
            parse_feed(broken, BASE)

    def test_malformed_with_entries_keeps_them(self):
        broken = rss_items(
            "<title>Fish & chips prices rise</title><link>https://x.example/1</link>",  # bare '&'
            "<title>Tide tables</title><link>https://x.example/2</link>",
        )

        feed = parse_feed(broken, BASE)

        assert [entry.title for entry in feed.entries] == ["Fish & chips prices rise", "Tide tables"]

    def test_html_page_is_not_a_feed(self):
        with pytest.raises(FeedError, match="not an RSS or Atom feed"):
            parse_feed(b"<!DOCTYPE html><html><body><p>Welcome</p></body></html>", BASE)

    def test_empty_document_is_an_error(self):
        with pytest.raises(FeedError, match="empty"):
            parse_feed(b"  \n", BASE)

    def test_entries_without_http_link_are_dropped(self):
        body = rss_items(
            "<title>No link</title>",
            "<title>Script</title><link>javascript:alert(1)</link>",
            "<title>Mail</title><link>mailto:desk@x.example</link>",
            "<title>Kept</title><link>https://x.example/kept</link>",
        )

        feed = parse_feed(body, BASE)

        assert [entry.title for entry in feed.entries] == ["Kept"]

    def test_author_emails_are_not_kept(self):
        body = rss_items(
            "<title>A</title><link>https://x.example/1</link><author>Ana Lima &lt;ana@x.example&gt;</author>",
            "<title>B</title><link>https://x.example/2</link><author>desk@x.example</author>",
        )

        first, second = parse_feed(body, BASE).entries

        assert first.authors == ["Ana Lima"]
        assert second.authors == []

    def test_caps_entries(self):
        body = rss_items(*(f"<title>Item {n}</title><link>https://x.example/{n}</link>" for n in range(600)))

        feed = parse_feed(body, BASE)

        assert len(feed.entries) == 500
        assert feed.entries[-1].url == "https://x.example/499"

    def test_trims_long_title_and_summary(self):
        body = rss_items(
            f"<title>{'word ' * 400}</title><link>https://x.example/1</link>"
            f"<description>{'sentence here. ' * 1000}</description>"
        )

        (entry,) = parse_feed(body, BASE).entries

        assert entry.title is not None
        assert len(entry.title) <= 500
        assert entry.title.endswith("…")
        assert len(entry.summary) <= 4000
        assert entry.summary.endswith("…")

    def test_unparseable_dates_are_none(self):
        body = rss_items("<title>A</title><link>https://x.example/1</link><pubDate>sometime soon</pubDate>")

        (entry,) = parse_feed(body, BASE).entries

        assert entry.published_at is None


ARTICLE = """<!DOCTYPE html>
<html lang="en-GB">
<head>
  <meta charset="utf-8">
  <title>Council approves riverside flood barrier | The Harbour Gazette</title>
  <link rel="canonical" href="/news/2024/05/03/council-approves-flood-barrier">
  <meta property="og:title" content="Council approves riverside flood barrier">
</head>
<body>
  <header>
    <nav><ul>
      <li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/sport">Sport</a></li>
      <li><a href="/subscribe">Subscribe for unlimited access to award-winning journalism</a></li>
    </ul></nav>
  </header>
  <main>
    <article>
      <h1>Council approves riverside flood barrier</h1>
      <p class="byline">By <a rel="author" class="author" href="/staff/maria-okonkwo">Maria Okonkwo</a>,
        Environment correspondent</p>
      <time datetime="2024-05-03T14:30:00+02:00">3 May 2024, 14:30</time>
      <p>The city council voted 31 to 9 on Thursday night to fund a £48m flood barrier along the eastern
        riverside, ending a decade of debate over how to protect the low-lying Wharf district from winter
        storm surges.</p>
      <p>Engineers say the barrier, a series of hinged steel gates set into the riverbed, would have
        prevented the flooding of more than 400 homes in January, when the river rose 1.9 metres above its
        usual winter level in under six hours.</p>
      <p>Opponents on the council argued that the money would be better spent on upstream wetlands, which
        slow run-off before it reaches the city. "We are building a wall when we should be building a
        sponge," said councillor Dev Patel, who voted against the plan.</p>
      <p>Construction is expected to begin next spring and to take three years. The council will borrow two
        thirds of the cost, with the remainder coming from a national resilience grant awarded in March.</p>
    </article>
  </main>
  <aside><h3>Most read</h3><ul>
    <li><a href="/a">Ten best beaches for the summer holidays this year</a></li>
    <li><a href="/b">Local bakery wins national award for its sourdough loaf</a></li>
  </ul></aside>
  <footer><p>© 2024 The Harbour Gazette. All rights reserved. Cookie settings. Privacy policy. Terms of
    use. Contact the newsroom at tips@harbourgazette.example.</p></footer>
</body>
</html>"""

GERMAN_TEXT = (
    "<h1>Über das Café am Hafen</h1>"
    "<p>Der Besitzer sagte: „Wir öffnen wieder“, und die Gäste “jubelten” über das neue Menü mit "
    "Crème brûlée und Apfelstrudel, das ab Montag gilt.</p>"
    "<p>Die Renovierung dauerte sechs Monate und kostete nach Angaben der Familie Müller rund "
    "180.000 Euro, finanziert zum Teil über einen Kredit der örtlichen Sparkasse.</p>"
    "<p>Stammgäste hatten in dieser Zeit ins Nachbardorf ausweichen müssen; viele von ihnen kamen am "
    "Eröffnungstag schon um sieben Uhr morgens.</p>"
)


def german_page(head: str = "") -> bytes:
    page = (
        f"<!DOCTYPE html><html lang='de'><head>{head}<title>Café</title></head>"
        f"<body><article>{GERMAN_TEXT}</article></body></html>"
    )
    return page.encode("cp1252")


class TestExtractArticle:
    def test_news_article(self):
        article = extract_article(
            ARTICLE.encode(), "https://harbourgazette.example/news/flood?utm_source=rss"
        )

        assert article is not None
        assert article.title == "Council approves riverside flood barrier"
        assert article.text.startswith("The city council voted 31 to 9 on Thursday night")  # no headline
        assert "building a wall when we should be building a sponge" in article.text
        assert "national resilience grant awarded in March." in article.text
        for boilerplate in ("Subscribe", "Most read", "Ten best beaches", "All rights reserved", "Cookie"):
            assert boilerplate not in article.text
        assert article.authors == ["Maria Okonkwo"]
        assert article.published_at == datetime(2024, 5, 3, 12, 30, tzinfo=UTC)
        assert article.language == "en"
        assert article.canonical_url == (
            "https://harbourgazette.example/news/2024/05/03/council-approves-flood-barrier"
        )

    def test_windows_1252_with_header_charset(self):
        article = extract_article(german_page(), "https://hafen.example/a", encoding="windows-1252")

        assert article is not None
        assert (
            "„Wir öffnen wieder“, und die Gäste “jubelten” über das neue Menü mit Crème brûlée"
            in article.text
        )

    def test_iso_8859_1_label_decodes_as_windows_1252(self):
        article = extract_article(german_page(), "https://hafen.example/a", encoding="ISO-8859-1")

        assert article is not None
        assert "“jubelten”" in article.text  # 0x93/0x94 are quotes in cp1252, C1 controls in latin-1

    def test_meta_charset_without_header(self):
        page = german_page('<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">')

        article = extract_article(page, "https://hafen.example/a")

        assert article is not None
        assert "Crème brûlée" in article.text
        assert article.language == "de"

    def test_unlabelled_legacy_encoding_is_detected(self):
        article = extract_article(german_page(), "https://hafen.example/a")

        assert article is not None
        assert (
            "„Wir öffnen wieder“, und die Gäste “jubelten” über das neue Menü mit Crème brûlée"
            in article.text
        )

    def test_wrong_header_charset_falls_back_to_meta(self):
        page = german_page('<meta charset="windows-1252">')

        article = extract_article(page, "https://hafen.example/a", encoding="utf-8")

        assert article is not None
        assert "Müller" in article.text

    def test_page_without_article_text(self):
        page = b"""<!DOCTYPE html><html><head><title>Log in</title></head><body>
          <nav><a href="/">Home</a> <a href="/news">News</a> <a href="/login">Log in</a></nav>
          <form><input name="user"><input type="password" name="pw"><button>Sign in</button></form>
          <footer>&copy; 2024 Example Media</footer></body></html>"""

        assert extract_article(page, "https://example.org/login") is None

    def test_short_teaser_is_not_an_article(self):
        page = b"<html><body><article><p>Breaking: more to follow.</p></article></body></html>"

        assert extract_article(page, "https://example.org/live") is None

    def test_empty_body(self):
        assert extract_article(b"", "https://example.org/") is None
