"""``tellwell bench gateway``: requests/s and p50/p99 latency of the feed JSON and the story page.

Seeds a fresh database with N real-shaped story views, starts the gateway as its own process
(uvicorn, one worker, as deployed), drives load from another process on loopback (``wrk`` when it is
installed or Debian's package can be installed, else ``tellwell.gateway.loadgen``), prints one JSON
line and drops the database.
The per-client rate limit stays on, with a budget the load cannot exhaust, so its cost is measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from tellwell.common.events import Blindspot, Category, LeanDistribution, StoryScored
from tellwell.common.mongo import make_mongo_client
from tellwell.common.settings import MongoSettings
from tellwell.common.testing import make_story_scored
from tellwell.common.views import STORY_VIEW_INDEXES, STORY_VIEWS, view_document

WORDS = (
    "election budget storm vaccine merger court strike summit quake rally tariff outage probe "
    "satellite wildfire treaty protest ceasefire drought inflation verdict launch recall"
).split()


def bench_views(n: int, seed: int = 7) -> list[StoryScored]:
    """``n`` varied, real-shaped views: categories, leans, confidences, ages over three days."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    categories = list(Category)
    views = []
    for i in range(n):
        left = rng.random()
        right = rng.random() * (1 - left)
        base = make_story_scored()
        views.append(
            make_story_scored(
                story_id=f"bench-{i:06d}-{uuid.uuid4().hex[:6]}",
                title=f"{' '.join(rng.sample(WORDS, 5)).capitalize()} ({i})",
                category=rng.choice(categories),
                confidence=base.confidence.model_copy(update={"value": round(rng.uniform(5, 98), 1)}),
                lean=LeanDistribution(
                    left=left, center=1 - left - right, right=right, unrated=rng.randint(0, 2)
                ),
                blindspot=Blindspot(side="left", share=left) if left > 0.85 else None,
                hotness=rng.uniform(0, 100),
                last_published_at=now - timedelta(minutes=rng.randint(0, 3 * 24 * 60)),
            )
        )
    return views


async def seed(settings: MongoSettings, views: list[StoryScored]) -> None:
    client = make_mongo_client(settings)
    try:
        collection = client[settings.database][STORY_VIEWS]
        for name, keys in STORY_VIEW_INDEXES:
            await collection.create_index(keys, name=name)
        # Written over the past hours, as a live system's views were (not one burst at start).
        now = datetime.now(UTC)
        docs = [view_document(v, updated_at=now - timedelta(hours=1, seconds=i)) for i, v in enumerate(views)]
        for start in range(0, len(docs), 500):
            await collection.insert_many(docs[start : start + 500])
    finally:
        await client.close()


async def drop(settings: MongoSettings) -> None:
    client = make_mongo_client(settings)
    try:
        await client.drop_database(settings.database)
    finally:
        await client.close()


def ensure_wrk(quiet: bool) -> bool:
    """Is ``wrk`` there? Installs Debian's package when it is not and we may (root with apt-get)."""
    if shutil.which("wrk"):
        return True
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return False
    if not quiet:
        typer.echo("installing wrk (apt-get)", err=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        if subprocess.run(command, env=env, capture_output=True, check=False).returncode != 0:
            return False
    return shutil.which("wrk") is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the gateway was not ready in time")


WRK_LATENCY = re.compile(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(port: int, paths: list[str], seconds: float, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        lua_paths = ", ".join(json.dumps(p) for p in paths)
        script.write(
            f"local paths = {{{lua_paths}}}\nlocal i = 0\n"
            "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
        )
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds:g}s",
                "--latency",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(script.name)
    latency = {q: float(v) * _UNIT_MS[u] for q, v, u in WRK_LATENCY.findall(out)}
    rate = WRK_RATE.search(out)
    errors = WRK_ERRORS.search(out)
    return {
        "req_per_s": float(rate.group(1)) if rate else None,
        "p50_ms": round(latency.get("50", float("nan")), 2),
        "p90_ms": round(latency.get("90", float("nan")), 2),
        "p99_ms": round(latency.get("99", float("nan")), 2),
        "errors": int(errors.group(1)) if errors else 0,
    }


def slow_shares(metrics: str, route: str) -> tuple[float | None, float | None]:
    """Shares of the route's requests that took over 10 ms and over 50 ms inside the server."""
    buckets: dict[str, float] = {}
    for le, count in re.findall(
        rf'tellwell_gateway_request_seconds_bucket\{{le="([^"]+)",route="{re.escape(route)}"\}} ([\d.e+]+)',
        metrics,
    ):
        buckets[le] = float(count)
    total = buckets.get("+Inf")
    if not total:
        return None, None
    return (
        round(1 - buckets.get("0.01", 0.0) / total, 5),
        round(1 - buckets.get("0.05", 0.0) / total, 5),
    )


def run_python(port: int, paths: list[str], seconds: float, connections: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tellwell.gateway.loadgen",
            "127.0.0.1",
            str(port),
            *paths,
            "--seconds",
            str(seconds),
            "--connections",
            str(connections),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def bench_gateway(
    json_only: Annotated[bool, typer.Option("--json", help="Print only the JSON line.")] = False,
    stories: Annotated[int, typer.Option(help="Story views to seed.")] = 2000,
    seconds: Annotated[float, typer.Option(help="Load duration per endpoint.")] = 10.0,
    connections: Annotated[int, typer.Option(help="Concurrent keep-alive connections.")] = 32,
    tool: Annotated[
        str,
        typer.Option(
            help="Load generator: auto (wrk; Debian's package installed when missing and possible; "
            "else python), wrk, python."
        ),
    ] = "auto",
    story_pages: Annotated[int, typer.Option(help="Distinct story pages the page load cycles through.")] = 20,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON result to this file.")] = None,
) -> None:
    """Load the gateway's feed JSON and story page from a separate process; print req/s, p50, p99."""
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"
    if tool == "wrk" and not shutil.which("wrk"):
        raise typer.BadParameter(
            "wrk is not installed (apt-get install wrk), or use --tool python", param_hint="--tool"
        )
    load = run_wrk if tool == "wrk" else run_python
    mongo = MongoSettings(database=f"tellwell_bench_gateway_{uuid.uuid4().hex[:8]}")
    views = bench_views(stories)
    asyncio.run(seed(mongo, views))
    port = free_port()
    env = {
        **os.environ,
        "MONGO_URL": mongo.url,
        "MONGO_DATABASE": mongo.database,
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_RATE_LIMIT_PER_S": "1000000000",
        "GATEWAY_RATE_LIMIT_BURST": "1000000000",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tellwell.gateway.app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    hottest = sorted(views, key=lambda v: v.hotness, reverse=True)[:story_pages]
    page_paths = [f"/stories/{v.story_id}" for v in hottest]
    try:
        wait_ready(base, server)
        for path in ["/v1/stories", *page_paths]:  # warm the cache as live traffic would have
            urllib.request.urlopen(base + path, timeout=10).read()
        feed = load(port, ["/v1/stories"], seconds, connections)
        page = load(port, page_paths, seconds, connections)
        # The server's own view (time to the response head), to tell its tail from the machine's.
        metrics = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
        feed["server_over_10ms_share"], feed["server_over_50ms_share"] = slow_shares(metrics, "/v1/stories")
        page["server_over_10ms_share"], page["server_over_50ms_share"] = slow_shares(metrics, "/stories")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        asyncio.run(drop(mongo))
    result = {
        "bench": "gateway",
        "tool": tool,
        "stories": stories,
        "seconds": seconds,
        "connections": connections,
        "cpus": os.cpu_count(),
        "feed_json": {"path": "/v1/stories", **feed},
        "story_page": {"paths": len(page_paths), **page},
        "targets": {"feed_req_per_s": 2000, "feed_p99_ms": 50, "story_page_req_per_s": 500},
    }
    line = json.dumps(result)
    if output is not None:
        output.write_text(line + "\n")
    if not json_only:
        typer.echo(
            f"feed JSON: {feed['req_per_s']} req/s, p50 {feed['p50_ms']} ms, p99 {feed['p99_ms']} ms; "
            f"story page: {page['req_per_s']} req/s, p50 {page['p50_ms']} ms, "
            f"p99 {page['p99_ms']} ms ({tool})",
            err=True,
        )
    typer.echo(line)
