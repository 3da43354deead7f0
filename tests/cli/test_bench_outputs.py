"""Benchmarks create the folders of the paths they write (a fresh clone has no .local/bench)."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tellwell.cli import pipeline
from tellwell.common.embed import HashEncoder

LINE = (
    '{"id": "a%d", "title": "Quake hits town %d", "published_at": "2026-03-02T02:28:%02dZ", "story": "s%d"}'
)


def stream(tmp_path: Path, n: int = 6, **extra: str) -> Path:
    path = tmp_path / "stream.jsonl"
    rows = []
    for i in range(n):
        row = json.loads(LINE % (i, i, i, i % 2))
        row |= extra
        rows.append(json.dumps(row))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


class StackStarted(Exception):
    """Raised where the pipeline bench would start its private stack: everything before ran."""


class TestBenchPipelineState:
    @pytest.fixture
    def fresh_clone(self, tmp_path, monkeypatch):
        """A checkout without .local/bench; the private stack is not started."""
        root = tmp_path / "clone"
        root.mkdir()
        monkeypatch.chdir(root)
        monkeypatch.setattr(pipeline, "repo_root", lambda: root, raising=False)
        states: list[Path] = []

        def private(state: Path, **_: object) -> None:
            states.append(state)
            raise StackStarted

        monkeypatch.setattr(pipeline.LocalStack, "private", private)
        return root, states

    def test_creates_the_missing_bench_folder(self, tmp_path, fresh_clone):
        root, states = fresh_clone
        with pytest.raises(StackStarted):
            pipeline.bench_pipeline(
                input=stream(tmp_path), rate=50.0, limit=None, drain_timeout=1.0, keep=False
            )
        (state,) = states
        assert state.parent == root / ".local" / "bench"
        assert state.is_dir()
        assert state.name.startswith("pipeline-")

    def test_a_limited_stream_is_written_inside_the_run_folder(self, tmp_path, fresh_clone):
        _, states = fresh_clone
        with pytest.raises(StackStarted):
            pipeline.bench_pipeline(input=stream(tmp_path), rate=50.0, limit=2, drain_timeout=1.0, keep=False)
        limited = states[0] / "stream.jsonl"
        assert len(limited.read_text(encoding="utf-8").splitlines()) == 2


class TestBenchClusterOutput:
    def test_output_in_a_missing_folder(self, tmp_path, monkeypatch):
        from tellwell.bench import cluster as bench

        class Encoder(HashEncoder):  # the real MiniLM is not what this test is about
            def __init__(self, **_: object) -> None:
                super().__init__(64)

            def load(self) -> None:
                pass

        monkeypatch.setattr(bench, "Encoder", Encoder)
        app = typer.Typer()
        app.command()(bench.bench_cluster)
        out = tmp_path / "results" / "nested" / "cluster.json"
        result = CliRunner().invoke(app, ["--input", str(stream(tmp_path)), "--json", "--output", str(out)])
        assert result.exit_code == 0, result.output
        assert json.loads(out.read_text())["bench"] == "cluster"


class TestTrainCategoryOutput:
    def test_output_in_a_missing_folder(self, tmp_path):
        from tellwell.summarize import train

        app = typer.Typer()
        app.command()(train.train_category)
        out = tmp_path / "models" / "categories.json"
        result = CliRunner().invoke(
            app, ["--input", str(stream(tmp_path, category="b")), "--output", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(out.read_text())["built_from"]["stories"] == 2
