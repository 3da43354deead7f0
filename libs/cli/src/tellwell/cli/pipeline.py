"""The whole pipeline from outside: watch its topics, and `tellwell bench pipeline`.

``PipelineWatch`` reads ``raw.article`` and ``story.scored`` of a broker from the start, as any
subscriber would, and keeps for every article when it entered (the ``raw.article`` record's
timestamp) and when it first became visible in a story view (the first ``story.scored`` record
listing it), plus the latest view of every story. Freshness is the difference of the two broker
timestamps, so no service is instrumented for the measurement.

``bench pipeline`` starts a private local stack (its own Kafka and FerretDB on free ports, so the
benchmark cannot disturb or be disturbed by anything else), the five services as separate
processes, replays a JSONL stream through ingest at a fixed rate and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from tellwell.cli.procs import LocalStack, Service, ServiceProcs, cpu_seconds, repo_root, tellwell_argv
from tellwell.common.events import StoryScored
from tellwell.common.jsonl import Kind, read_jsonl
from tellwell.common.kafka import ensure_topics
from tellwell.common.topics import Topic


class PipelineWatch:
    """A background reader of ``raw.article`` and ``story.scored`` (a thread with its own loop)."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.entered_ms: dict[str, int] = {}  # article_id -> raw.article record timestamp
        self.visible_ms: dict[str, int] = {}  # article_id -> first story.scored record listing it
        # article_id -> first story.cluster / story.summary record listing it (where time goes)
        self.clustered_ms: dict[str, int] = {}
        self.summarized_ms: dict[str, int] = {}
        self.views: dict[str, StoryScored] = {}  # story_id -> latest view (highest version)
        self.bad_records = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> PipelineWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(
            Topic.raw_article.value,
            Topic.story_cluster.value,
            Topic.story_summary.value,
            Topic.story_scored.value,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            metadata_max_age_ms=2000,
        )
        await consumer.start()
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=2000)
                with self._lock:
                    for tp, records in batches.items():
                        for record in records:
                            self._take(tp.topic, record.timestamp, record.value)
        finally:
            await consumer.stop()

    def _take(self, topic: str, timestamp_ms: int, value: bytes | None) -> None:
        try:
            payload = json.loads(value or b"")
            if topic == Topic.raw_article.value:
                self.entered_ms.setdefault(payload["article_id"], timestamp_ms)
                return
            if topic in (Topic.story_cluster.value, Topic.story_summary.value):
                seen = self.clustered_ms if topic == Topic.story_cluster.value else self.summarized_ms
                for article_id in payload.get("member_ids") or ():
                    seen.setdefault(article_id, timestamp_ms)
                return
            view = StoryScored.model_validate(payload)
        except (ValueError, KeyError, TypeError):
            self.bad_records += 1
            return
        known = self.views.get(view.story_id)
        if known is None or view.version >= known.version:
            self.views[view.story_id] = view
        for article in view.articles:
            self.visible_ms.setdefault(article.article_id, timestamp_ms)

    def stages(self) -> dict[str, float | None]:
        """Median seconds of each hop: raw -> story.cluster -> story.summary -> story.scored."""
        with self._lock:
            hops = {
                "cluster": (self.entered_ms, self.clustered_ms),
                "summarize": (self.clustered_ms, self.summarized_ms),
                "score": (self.summarized_ms, self.visible_ms),
            }
            return {
                f"{name}_p50_s": percentile([(end[a] - t) / 1000 for a, t in start.items() if a in end], 50)
                for name, (start, end) in hops.items()
            }

    def snapshot(self) -> tuple[dict[str, int], dict[str, int], dict[str, StoryScored]]:
        with self._lock:
            return dict(self.entered_ms), dict(self.visible_ms), dict(self.views)

    def wait_visible(self, expected: int, timeout_s: float, settle_s: float = 0.0) -> bool:
        """Wait until ``expected`` articles entered and all of them are visible in a story view."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            entered, visible, _ = self.snapshot()
            if len(entered) >= expected and all(a in visible for a in entered):
                time.sleep(settle_s)
                return True
            time.sleep(0.25)
        return False


def live_partition(views: Iterable[StoryScored]) -> dict[str, str]:
    """article_id -> story_id over the live (not merged) views; raises if an article is in two."""
    owner: dict[str, str] = {}
    for view in views:
        if view.merged_into:
            continue
        for article in view.articles:
            if article.article_id in owner and owner[article.article_id] != view.story_id:
                first = owner[article.article_id]
                raise AssertionError(
                    f"article {article.article_id} is in stories {first} and {view.story_id}"
                )
            owner[article.article_id] = view.story_id
    return owner


async def consumer_lag(bootstrap: str) -> dict[str, int]:
    """Messages not yet consumed, per consumer group, over every topic the group reads."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        lags: dict[str, int] = {}
        for group, _ in await admin.list_consumer_groups():
            offsets = await admin.list_consumer_group_offsets(group)
            parts = [TopicPartition(tp.topic, tp.partition) for tp in offsets]
            ends = await consumer.end_offsets(parts) if parts else {}
            lags[group] = sum(
                max(0, ends[tp] - meta.offset) for tp, meta in offsets.items() if meta.offset >= 0
            )
        return lags
    finally:
        await consumer.stop()
        await admin.close()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 3)


def tellwell(*args: str, env: dict[str, str], quiet: bool = True) -> None:
    """Run a ``tellwell`` command (a service's plugin) as a child process on the given stack."""
    import os

    command = tellwell_argv(*args)
    out = subprocess.DEVNULL if quiet else None
    rc = subprocess.call(command, env=dict(os.environ) | env, stdout=out, stderr=out)
    if rc != 0:
        raise RuntimeError(f"`tellwell {' '.join(args)}` failed with exit code {rc}")


# What `tellwell import` needs of a line (ingest's ArticleIn), checked before anything starts.
IMPORT_REQUIRED: dict[str, Kind] = {"title": str}
IMPORT_OPTIONAL: dict[str, Kind] = {
    "id": (str, int),
    "url": str,
    "text": str,
    "source": str,
    "lang": str,
    "published_at": datetime,
}


def bench_state(parent: Path) -> Path:
    """A fresh folder for one run's private stack under ``parent`` (created, with its parents)."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="pipeline-", dir=parent))


def bench_pipeline(
    input: Annotated[Path, typer.Option("--input", exists=True, dir_okay=False, help="JSONL stream.")],
    rate: Annotated[float, typer.Option(min=1.0, help="Articles per second fed to ingest.")] = 50.0,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N articles.")] = None,
    drain_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the tail after the feed.")
    ] = 180.0,
    keep: Annotated[bool, typer.Option(help="Keep the private stack's folder (logs, data).")] = False,
) -> None:
    """Replay a stream through the real local stack; prints one JSON line.

    Sustained articles/s end to end (raw.article in -> story view updated), p50/p95/p99 freshness,
    per-service peak RSS, consumer lag at the end, and the CPU time each process (services, Kafka,
    FerretDB, the importer) spent on the replay.
    """
    # Every line must be an article ingest takes: one it skipped would never become visible.
    expected = 0
    for _ in read_jsonl(input, required=IMPORT_REQUIRED, optional=IMPORT_OPTIONAL):
        expected += 1
        if limit and expected >= limit:
            break
    state = bench_state(repo_root() / ".local" / "bench")
    source = input
    if limit:
        lines = [line for line in input.read_text(encoding="utf-8").splitlines() if line.strip()][:limit]
        source = state / input.name
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stack = LocalStack.private(state)
    result: dict[str, Any] = {"bench": "pipeline", "input": input.name, "articles": expected, "rate": rate}
    try:
        stack.up()
        asyncio.run(ensure_topics(stack.bootstrap, timeout_s=90))
        env = stack.env(database="bench")
        with ServiceProcs(env=env, logs=stack.logs) as procs:
            for service in Service:
                procs.start(service, extra={"INGEST_POLL_ENABLED": "false"})
            procs.wait_ready(180)
            tellwell("sources", "import", env=env)
            with PipelineWatch(stack.bootstrap) as watch:
                cpu_before = procs.cpu_seconds() | cpu_seconds(stack.pids())
                children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.monotonic()
                tellwell("import", str(source), "--rate", str(rate), env=env)
                fed_s = time.monotonic() - started
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                done = watch.wait_visible(expected, drain_timeout)
                cpu_after = procs.cpu_seconds() | cpu_seconds(stack.pids())
                entered, visible, views = watch.snapshot()
                result["hops"] = watch.stages()
            # CPU time each process spent on the replay: what the stream costs, whatever else ran.
            cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_after.keys() & cpu_before.keys()}
            cpu["import"] = (children.ru_utime + children.ru_stime) - (
                children_before.ru_utime + children_before.ru_stime
            )
            result["cpu_s"] = {name: round(cpu[name], 1) for name in sorted(cpu)}
            lag = asyncio.run(consumer_lag(stack.bootstrap))
            result["peak_rss_mb"] = {name: round(p.peak_rss_mb) for name, p in procs.procs.items()}
            result["service_deaths"] = procs.dead()
        fresh = [(visible[a] - t) / 1000 for a, t in entered.items() if a in visible]
        span_ms = max(visible.values(), default=0) - min(entered.values(), default=0)
        fed_ms = max(entered.values(), default=0) - min(entered.values(), default=0)
        result |= {
            "entered": len(entered),
            "visible": sum(1 for a in entered if a in visible),
            "complete": done,
            "import_wall_s": round(fed_s, 2),
            "input_articles_per_s": round(len(entered) / (fed_ms / 1000), 1) if fed_ms > 0 else None,
            "sustained_articles_per_s": round(len(fresh) / (span_ms / 1000), 1) if span_ms > 0 else None,
            "freshness_p50_s": percentile(fresh, 50),
            "freshness_p95_s": percentile(fresh, 95),
            "freshness_p99_s": percentile(fresh, 99),
            "freshness_mean_s": round(statistics.fmean(fresh), 3) if fresh else None,
            "stories": sum(1 for v in views.values() if not v.merged_into),
            "consumer_lag_end": lag,
            "cpu_ms_per_article": round(sum(cpu.values()) * 1000 / len(entered), 2) if entered else None,
        }
    finally:
        stack.down()
        if not keep:
            shutil.rmtree(state, ignore_errors=True)
    typer.echo(json.dumps(result))
