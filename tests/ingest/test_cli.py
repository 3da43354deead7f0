"""`tellwell import`, `tellwell sources import` and `tellwell feeds import` against the real stores."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tellwell.common.events import Lean
from tellwell.ingest import repository as repo
from tellwell.ingest.registry import BUNDLED_MBFC
from tests.fixtures.infra import Infra
from tests.ingest.test_text import HOSTILE, assert_plain

pytestmark = [pytest.mark.kafka, pytest.mark.mongo]

TELLWELL = str(Path(sys.executable).parent / "tellwell")
STREAM = [
    {"id": "uci1", "title": "Public satellites search for missing plane", "text": "", "source": "KKCO-TV",
     "url": "http://www.nbc11news.com/news/x-249447811.html", "lang": "en", "story": "GOLD-1",
     "category": "b", "published_at": "2026-03-02T02:28:29.286309Z"},
    {"id": "gn136", "title": "fact raider cowboy", "text": "", "source": None, "url": None, "lang": "en",
     "story": "GOLD-2", "published_at": "2026-03-02T00:48:47.801343Z"},
]  # fmt: skip


def tellwell(args: list[str], infra: Infra, database: str) -> subprocess.CompletedProcess[str]:
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "MONGO_URL": infra.mongo_url,
        "MONGO_DATABASE": database,
    }
    return subprocess.run(
        [TELLWELL, *args], env=os.environ | env, capture_output=True, text=True, timeout=300
    )


class TestImport:
    def test_streams_the_benchmark_format_without_the_gold_label(
        self, tmp_path, infra, mongo_settings, mongo_db
    ):
        path = tmp_path / "stream.jsonl"
        lines = [json.dumps(r) for r in STREAM] + ["{not json", json.dumps({"id": "x", "title": ""}), ""]
        path.write_text("\n".join(lines))

        first = tellwell(["import", str(path)], infra, mongo_settings.database)
        again = tellwell(["import", str(path)], infra, mongo_settings.database)

        assert first.returncode == 0, first.stderr
        assert "2 new (0 marked as copies), 0 already stored, 2 invalid lines skipped" in first.stdout
        assert "line 3" in first.stderr
        assert "line 4" in first.stderr
        assert "0 new (0 marked as copies), 2 already stored" in again.stdout

    async def test_stored_documents_never_hold_the_story_label(
        self, tmp_path, infra, mongo_settings, mongo_db
    ):
        path = tmp_path / "stream.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in STREAM))
        assert tellwell(["import", str(path)], infra, mongo_settings.database).returncode == 0

        docs = [d async for d in mongo_db.articles.find()]
        assert len(docs) == 2
        assert all("GOLD" not in json.dumps(d, default=str) for d in docs)
        by_source = {d["source"]: d for d in docs}
        assert by_source["nbc11news.com"]["source_name"] == "KKCO-TV"
        assert by_source["unknown"]["url"] == "urn:tellwell:import:gn136"


class TestImportPlainText:
    async def test_hostile_html_is_neither_stored_nor_published(
        self, tmp_path, infra, mongo_settings, mongo_db, raw_article_tail
    ):
        hostile = HOSTILE | {"id": "hostile-import", "story": "GOLD-1"}
        markup_only = {"id": "only-markup", "title": "<script>alert(1)</script>", "text": "body"}
        path = tmp_path / "stream.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in (hostile, markup_only, STREAM[0])))

        done = tellwell(["import", str(path)], infra, mongo_settings.database)

        assert done.returncode == 0, done.stderr
        assert "2 new (0 marked as copies), 0 already stored, 1 invalid lines skipped" in done.stdout
        assert "line 2" in done.stderr
        assert "the title has no text once HTML markup is removed" in done.stderr
        docs = {d["url"]: d async for d in mongo_db.articles.find()}
        stored = docs["urn:tellwell:import:hostile-import"]
        assert (stored["title"], stored["source_name"]) == ("Zorblax buys Quuxly", "Daily & Gazette")
        published = (await raw_article_tail(stored["_id"]))["event"]
        for doc in (*docs.values(), published):
            assert_plain({k: v for k, v in doc.items() if k not in ("signature", "fingerprint")})


class TestSourcesImport:
    async def test_seeds_from_the_bundled_data_and_keeps_editors_changes(
        self, infra, mongo_settings, mongo_db
    ):
        first = tellwell(["sources", "import"], infra, mongo_settings.database)
        assert first.returncode == 0, first.stderr
        rows = sum(1 for _ in BUNDLED_MBFC.open()) - 1
        assert await mongo_db.sources.count_documents({}) > rows * 0.9

        for alias, canonical in (
            ("bbc.co.uk", "bbc.com"),
            ("reuters.co.uk", "reuters.com"),
            ("ap.org", "apnews.com"),
            ("guardian.co.uk", "theguardian.com"),
        ):  # each domain of an outlet is its own document, rated as the outlet
            stored, outlet = (
                await repo.get_source(mongo_db, alias),
                await repo.get_source(mongo_db, canonical),
            )
            assert stored is not None
            assert outlet is not None
            assert stored.model_dump(exclude={"domain", "origins"}) == outlet.model_dump(
                exclude={"domain", "origins"}
            )
            assert stored.factuality != "unrated"

        nine = await repo.get_source(mongo_db, "9news.com")
        assert nine.lean == "center"
        assert nine.factuality == "high"
        edited = nine.model_copy(update={"lean": Lean.lean_right, "origins": [*nine.origins, "api"]})
        await repo.replace_source(mongo_db, edited)

        again = tellwell(["sources", "import"], infra, mongo_settings.database)
        assert again.returncode == 0, again.stderr
        assert "0 new, 0 updated" in again.stdout
        assert (await repo.get_source(mongo_db, "9news.com")).lean == "lean_right"


class TestFeedsImport:
    async def test_publisher_feeds_active_aggregators_paused(self, tmp_path, infra, mongo_settings, mongo_db):
        path = tmp_path / "feeds.json"
        path.write_text(
            json.dumps(
                {
                    "World": [
                        "https://feeds.bbci.co.uk/news/world/rss.xml",
                        "https://news.google.com/rss/search?q=x",
                    ],
                    "Madeira": {
                        "source_language": "pt",
                        "feeds": ["https://www.dnoticias.pt/rss/", "not a url"],
                    },
                }
            )
        )

        result = tellwell(["feeds", "import", str(path)], infra, mongo_settings.database)
        again = tellwell(["feeds", "import", str(path)], infra, mongo_settings.database)

        assert result.returncode == 0, result.stderr
        assert (
            "3 feeds in feeds.json: 3 new, 0 already registered, 1 aggregator feeds paused" in result.stdout
        )
        assert "0 new" in again.stdout
        feeds = {f["url"]: f async for f in mongo_db.feeds.find()}
        assert feeds["https://news.google.com/rss/search?q=x"]["status"] == "paused"
        assert feeds["https://www.dnoticias.pt/rss"]["language"] == "pt"
        assert feeds["https://feeds.bbci.co.uk/news/world/rss.xml"]["category"] == "World"


class TestImportErrors:
    def test_invalid_lines_are_named_in_plain_words_and_never_stop_the_import(
        self, tmp_path, infra, mongo_settings, mongo_db
    ):
        lines = [
            json.dumps({"id": "markup", "title": "<b></b>", "text": "body"}),
            "[1]",  # not an object: used to stop the import with a TypeError
            json.dumps("an article"),
            json.dumps({"id": "late", "title": "t", "published_at": "soon", "lang": "x" * 40}),
            json.dumps(STREAM[0]),
        ]
        path = tmp_path / "stream.jsonl"
        path.write_text("\n".join(lines))

        done = tellwell(["import", str(path)], infra, mongo_settings.database)

        assert done.returncode == 0, done.stderr
        assert "1 new (0 marked as copies), 0 already stored, 4 invalid lines skipped" in done.stdout
        skipped = [line for line in done.stderr.splitlines() if "skipped" in line]
        assert skipped == [
            "  skipped line 1: title: the title has no text once HTML markup is removed",
            "  skipped line 2: not a JSON object but a list",
            "  skipped line 3: not a JSON object but a string",
            "  skipped line 4: lang: should have at most 35 characters; "
            "published_at: should be a valid datetime or date, input is too short",
        ]
