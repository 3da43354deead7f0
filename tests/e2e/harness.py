"""The whole system as separate processes on a private local stack, driven from outside.

``Pipeline`` starts the services (any number of replicas) against a private Kafka + FerretDB,
pushes articles through ingest's HTTP API (round-robin over the ingest replicas, retrying on the
other replica when one is down, as a load balancer would), and reads the outcome where users read
it: ``story.scored`` on the broker (``PipelineWatch``) and the ``story_views`` read model.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from tellwell.cli.pipeline import PipelineWatch, live_partition
from tellwell.cli.procs import LocalStack, Service, ServiceProcs, tellwell_argv
from tellwell.common.events import StoryScored
from tellwell.common.kafka import ensure_topics
from tellwell.common.views import STORY_VIEWS, view_from_document

REPO = Path(__file__).resolve().parents[2]
DEMO_CORPUS = REPO / "libs" / "cli" / "src" / "tellwell" / "cli" / "data" / "demo.jsonl"


def corpus_rows(n: int) -> list[dict[str, Any]]:
    """The first ``n`` articles of the bundled corpus (real headlines, in published order)."""
    rows = []
    with DEMO_CORPUS.open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if len(rows) == n:
                break
    return rows


def run_cli(env: dict[str, str], *args: str) -> str:
    command = tellwell_argv(*args)
    done = subprocess.run(command, env=dict(os.environ) | env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"tellwell {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


@contextmanager
def private_stack(state: Path) -> Iterator[LocalStack]:
    stack = LocalStack.private(state)
    try:
        stack.up()
        asyncio.run(ensure_topics(stack.bootstrap, timeout_s=90))
        yield stack
    finally:
        stack.down()


class Pipeline:
    """Services of one test on one private stack and one database."""

    def __init__(self, stack: LocalStack, procs: ServiceProcs, env: dict[str, str]) -> None:
        self.stack, self.procs, self.env = stack, procs, env
        self.api_key = ""
        self._next = 0

    def start(self, replicas: dict[Service, int]) -> None:
        for service, count in replicas.items():
            for i in range(count):
                name = service.value if count == 1 else f"{service.value}-{i + 1}"
                extra = {"INGEST_POLL_ENABLED": "false", "INGEST_REPLICA_ID": name}
                self.procs.start(service, name=name, extra=extra)
        self.procs.wait_ready(240)
        run_cli(self.env, "sources", "import")
        self.api_key = run_cli(self.env, "apikeys", "create", "e2e").strip().splitlines()[-1]

    def urls(self, service: Service) -> list[str]:
        return [p.url for p in self.procs.procs.values() if p.service is service]

    def push(self, rows: Sequence[dict[str, Any]], *, rate: float, batch: int = 10) -> list[str]:
        """Push at about ``rate`` articles/s; returns the article ids ingest answered with."""
        ids: list[str] = []
        started = time.monotonic()
        with httpx.Client(timeout=30, headers={"X-API-Key": self.api_key}) as client:
            for i in range(0, len(rows), batch):
                time.sleep(max(0.0, started + i / rate - time.monotonic()))
                ids += self._push_batch(client, list(rows[i : i + batch]))
        return ids

    def _push_batch(self, client: httpx.Client, rows: list[dict[str, Any]]) -> list[str]:
        ingest = self.urls(Service.ingest)
        deadline = time.monotonic() + 120
        while True:
            url = ingest[self._next % len(ingest)]
            self._next += 1
            try:
                response = client.post(f"{url}/v1/articles", json=rows)
                if response.status_code == 202:
                    return [a["article_id"] for a in response.json()["articles"]]
                error = f"{response.status_code} {response.text[:300]}"
            except httpx.HTTPError as exc:  # a replica down or restarting: try the other one
                error = repr(exc)
            if time.monotonic() > deadline:
                raise RuntimeError(f"ingest refused a batch for 120 s: {error}")
            time.sleep(0.5)

    def views(self) -> list[StoryScored]:
        with MongoClient(self.stack.mongo_url, serverSelectionTimeoutMS=10000) as client:
            docs = list(client[self.env["MONGO_DATABASE"]][STORY_VIEWS].find({}))
        return [view_from_document(d) for d in docs if d.get("view")]


@contextmanager
def pipeline(stack: LocalStack, database: str, replicas: dict[Service, int]) -> Iterator[Pipeline]:
    env = stack.env(database=database)
    with ServiceProcs(env=env, logs=stack.logs) as procs:
        p = Pipeline(stack, procs, env)
        p.start(replicas)
        yield p


def wait_for_views(p: Pipeline, watch: PipelineWatch, ids: set[str], timeout_s: float) -> dict[str, str]:
    """Wait until every article is in exactly one live story view of the read model."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        _, visible, _ = watch.snapshot()
        if ids <= visible.keys():
            partition = live_partition(p.views())
            if ids <= partition.keys():
                return partition
            last = ids - partition.keys()
        else:
            last = ids - visible.keys()
        dead = p.procs.dead()
        if dead:
            raise AssertionError(f"service(s) died: {dead}")
        time.sleep(1)
    raise AssertionError(
        f"{len(last or ())} articles never reached a story view, e.g. {sorted(last or ())[:5]}"
    )


def agreement(a: dict[str, str], b: dict[str, str]) -> float:
    """B-cubed F1 of two partitions of the same articles (1.0 = identical)."""
    from tellwell.bench.cluster import bcubed

    keys = sorted(a.keys() & b.keys())
    return bcubed([a[k] for k in keys], [b[k] for k in keys])[2]


def in_process_partition(rows: Sequence[dict[str, Any]], ids: Sequence[str]) -> dict[str, str]:
    """The clustering benchmark's own run (same decision code, in one process) on the same rows."""
    import tempfile

    from tellwell.bench.cluster import run
    from tellwell.cluster.domain import Params
    from tellwell.cluster.engine import EMBED_MAX_TOKENS, ArticleIn
    from tellwell.common.embed import Encoder

    articles = [
        ArticleIn(
            article_id=aid,
            title=row.get("title") or "",
            text=row.get("text") or "",
            lead="",
            language=row.get("lang") or "und",
            published_at=_parse_time(row["published_at"]),
            source=row.get("source") or "",
        )
        for row, aid in zip(rows, ids, strict=True)
    ]
    with tempfile.TemporaryDirectory() as root:
        # The encoder as the cluster service configures it (it reads the first pieces only).
        encoder = Encoder(max_seq_length=EMBED_MAX_TOKENS)
        labels, _, _ = asyncio.run(run(articles, encoder, Params(), root=Path(root)))
    return dict(zip(ids, labels, strict=True))


def one_process_agreement(
    partition: dict[str, str], rows: Sequence[dict[str, Any]], ids: Sequence[str]
) -> float:
    """How far the pipeline's stories agree with the in-process run of the same rows (B-cubed F1)."""
    return agreement(partition, in_process_partition(rows, ids))


def _parse_time(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00"))
