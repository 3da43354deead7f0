"""Commands that read JSONL name the bad line in one error line (exit 2), never with a traceback."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tellwell.cli.main import shifted_corpus
from tellwell.common.jsonl import JsonlError

TELLWELL = Path(sys.executable).parent / "tellwell"
GOOD = '{"id": "a%d", "title": "Quake hits town %d", "published_at": "2026-03-02T02:28:%02dZ", "story": "s1"}'

BAD_LINES = {
    "missing_published_at": ('{"id": "b", "title": "x", "story": "s1"}', "missing field 'published_at'"),
    "bad_json": ('{"id": "b", "title": "x",', "not JSON: "),
    "not_an_object": ('["b", "x"]', "not a JSON object but a list"),
    "non_iso_date": (
        '{"id": "b", "title": "x", "story": "s1", "published_at": "yesterday"}',
        "field 'published_at' should be an ISO 8601 date-time string, not a string",
    ),
}


def stream(tmp_path: Path, bad: str, good: int = 3) -> Path:
    """``good`` valid lines, a blank one, then ``bad``: the bad one is line ``good + 2``."""
    path = tmp_path / "stream.jsonl"
    lines = [GOOD % (i, i, i) for i in range(good)]
    path.write_text("\n".join([*lines, "", bad]) + "\n", encoding="utf-8")
    return path


def tellwell(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TELLWELL), *args], capture_output=True, text=True, timeout=120)


def assert_one_line_error(done: subprocess.CompletedProcess[str], path: Path, message: str) -> None:
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"error: {path}:5: {message}")


def assert_bench_rejects(tmp_path: Path, command: str, bad: str, message: str) -> str:
    """``tellwell bench <command>`` on a stream whose line 5 is ``bad``: one error line; its stderr."""
    path = stream(tmp_path, bad)
    done = tellwell("bench", command, "--input", str(path))
    assert_one_line_error(done, path, message)
    return done.stderr


class TestBenchCluster:
    @pytest.mark.parametrize("case", sorted(BAD_LINES))
    def test_bad_line_is_one_error_line(self, tmp_path, case):
        assert_bench_rejects(tmp_path, "cluster", *BAD_LINES[case])


class TestBenchSummarize:
    @pytest.mark.parametrize("case", ["missing_published_at", "non_iso_date"])
    def test_bad_line_is_one_error_line(self, tmp_path, case):
        assert_bench_rejects(tmp_path, "summarize", *BAD_LINES[case])

    def test_missing_story_label(self, tmp_path):
        unlabelled = '{"id": "b", "title": "x", "published_at": "2026-03-02T02:28:29Z"}'
        assert_bench_rejects(tmp_path, "summarize", unlabelled, "missing field 'story'")


class TestBenchPipeline:
    def test_bad_line_stops_before_any_stack_starts(self, tmp_path):
        assert "[local]" not in assert_bench_rejects(tmp_path, "pipeline", *BAD_LINES["bad_json"])

    def test_a_line_ingest_would_skip(self, tmp_path):
        assert_bench_rejects(tmp_path, "pipeline", '{"id": "b", "text": "no title"}', "missing field 'title'")


class TestDemoCorpus:
    def test_shifts_the_newest_article_to_recent(self, tmp_path):
        source = stream(tmp_path, GOOD % (9, 9, 59))
        out = tmp_path / "out" / "demo.jsonl"
        assert shifted_corpus(source, out, newest_age=timedelta(minutes=5)) == 4
        lines = out.read_text(encoding="utf-8").splitlines()
        newest = datetime.fromisoformat(lines[-1].split('"published_at": "')[1].split('"')[0])
        assert abs(datetime.now(UTC) - timedelta(minutes=5) - newest) < timedelta(seconds=30)

    def test_a_bad_line_names_file_and_line(self, tmp_path):
        source = stream(tmp_path, BAD_LINES["missing_published_at"][0])
        with pytest.raises(JsonlError, match=r"stream\.jsonl:5: missing field 'published_at'"):
            shifted_corpus(source, tmp_path / "out.jsonl")

    def test_the_bundled_corpus_reads(self, tmp_path):
        from tellwell.cli.main import DEMO_CORPUS

        lines = [line for line in DEMO_CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
        assert shifted_corpus(DEMO_CORPUS, tmp_path / "demo.jsonl") == len(lines)
