"""`tellwell feeds add` and `feeds import` refuse what `POST /v1/feeds` refuses (real store)."""

import json
import os
import subprocess

import pytest

from tests.fixtures.infra import Infra
from tests.ingest.test_cli import TELLWELL

pytestmark = [pytest.mark.mongo]

NON_PUBLIC = [
    ("http://127.0.0.1:27017/", "127.0.0.1 is a loopback address"),
    ("http://169.254.169.254/x", "169.254.169.254 is a link-local address"),
    ("http://0x7f000001/", "127.0.0.1 is a loopback address"),  # the integer spelling of 127.0.0.1
]
PUBLIC_ONLY = "only public addresses are fetched"
ALLOW_LOOPBACK = {"INGEST_FETCH_ALLOW_HOSTS": '["127.0.0.1"]'}


def tellwell(
    args: list[str], infra: Infra, database: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    stores = {"KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap, "MONGO_URL": infra.mongo_url}
    base = {k: v for k, v in os.environ.items() if k != "INGEST_FETCH_ALLOW_HOSTS"}
    return subprocess.run(
        [TELLWELL, *args],
        env=base | stores | {"MONGO_DATABASE": database} | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
    )


class TestFeedsAdd:
    @pytest.mark.parametrize(("url", "reason"), NON_PUBLIC)
    async def test_non_public_addresses_are_refused(self, url, reason, infra, mongo_settings, mongo_db):
        done = tellwell(["feeds", "add", url], infra, mongo_settings.database)

        assert done.returncode == 2
        assert done.stderr.splitlines() == [f"error: url: {reason}: {PUBLIC_ONLY}"]
        assert await mongo_db.feeds.count_documents({}) == 0

    async def test_allow_listed_hosts_are_registered(self, infra, mongo_settings, mongo_db):
        done = tellwell(
            ["feeds", "add", "http://0x7f000001:8080/rss"], infra, mongo_settings.database, ALLOW_LOOPBACK
        )

        assert done.returncode == 0, done.stderr
        assert "http://127.0.0.1:8080/rss (added)" in done.stdout
        assert [f["url"] async for f in mongo_db.feeds.find()] == ["http://127.0.0.1:8080/rss"]

    @pytest.mark.parametrize(
        ("args", "error"),
        [
            (["ftp://example.com/rss"], "error: url: not an absolute http(s) URL: 'ftp://example.com/rss'"),
            (
                ["https://example.com/rss", "--interval", "5"],
                "error: --interval: should be greater than or equal to 60",
            ),
            (
                ["https://example.com/rss", "--category", "c" * 101],
                "error: --category: should have at most 100 characters",
            ),
        ],
    )
    async def test_invalid_input_names_the_option_in_plain_words(
        self, args, error, infra, mongo_settings, mongo_db
    ):
        done = tellwell(["feeds", "add", *args], infra, mongo_settings.database)

        assert done.returncode == 2
        assert done.stderr.splitlines() == [error]  # no pydantic "Value error, ", no usage box
        assert await mongo_db.feeds.count_documents({}) == 0


class TestFeedsImportSkipsBadEntries:
    async def test_the_rest_are_imported_and_each_skipped_entry_is_named(
        self, tmp_path, infra, mongo_settings, mongo_db
    ):
        path = tmp_path / "feeds.json"
        path.write_text(
            json.dumps(
                {
                    "World": [
                        "https://feeds.bbci.co.uk/news/world/rss.xml",
                        "http://127.0.0.1:27017/",
                        "not a url",
                        42,
                    ],
                    "Madeira": {
                        "source_language": "pt",
                        "feeds": [
                            "http://169.254.169.254/x",
                            "https://www.dnoticias.pt/rss/",
                            "http://0x7f000001/",
                        ],
                    },
                    "c" * 101: ["https://example.com/rss"],
                }
            )
        )

        done = tellwell(["feeds", "import", str(path)], infra, mongo_settings.database)

        assert done.returncode == 0, done.stderr
        assert (
            "2 feeds in feeds.json: 2 new, 0 already registered, 0 aggregator feeds paused, 6 skipped"
            in done.stdout
        )
        skipped = done.stderr.splitlines()
        assert skipped[0] == "skipped 6 feeds:"
        assert sorted(skipped[1:]) == sorted(
            [
                "  not a url: url: not an absolute http(s) URL: 'not a url'",
                "  42: url: should be a string",
                "  https://example.com/rss: category: should have at most 100 characters",
                f"  http://127.0.0.1:27017/: url: 127.0.0.1 is a loopback address: {PUBLIC_ONLY}",
                f"  http://169.254.169.254/x: url: 169.254.169.254 is a link-local address: {PUBLIC_ONLY}",
                f"  http://0x7f000001/: url: 127.0.0.1 is a loopback address: {PUBLIC_ONLY}",
            ]
        )
        assert "Value error" not in done.stderr
        stored = {f["url"]: f async for f in mongo_db.feeds.find()}
        assert sorted(stored) == [
            "https://feeds.bbci.co.uk/news/world/rss.xml",
            "https://www.dnoticias.pt/rss",
        ]
        assert stored["https://www.dnoticias.pt/rss"]["language"] == "pt"

    async def test_allow_listed_hosts_are_imported(self, tmp_path, infra, mongo_settings, mongo_db):
        path = tmp_path / "feeds.json"
        path.write_text(json.dumps({"Intranet": ["http://127.0.0.1:8080/rss", "http://10.0.0.1/rss"]}))

        done = tellwell(["feeds", "import", str(path)], infra, mongo_settings.database, ALLOW_LOOPBACK)

        assert done.returncode == 0, done.stderr
        assert "1 feeds in feeds.json: 1 new" in done.stdout
        assert "http://10.0.0.1/rss: url: 10.0.0.1 is a private address" in done.stderr
        assert [f["url"] async for f in mongo_db.feeds.find()] == ["http://127.0.0.1:8080/rss"]
