"""``tellwell bench gateway``: requests/s and p50/p99 latency of the gateway, by mix of requests.

Seeds a fresh database with N story views made of real member articles (the labelled dev streams,
``shared/data/README.md`` format: a view's members are a sample of one gold story's articles, with
their real headlines, text, publishers and URLs), starts the gateway as its own process (uvicorn,
one worker, as deployed; it loads its in-memory read model before it is ready), drives load from
another process on loopback (``wrk`` when it is installed or Debian's package can be installed,
else ``tellwell.bench.loadgen``), prints one JSON line and drops the database.

Mixes (``--mix``, repeatable; both by default):

* ``cached``: the feed's front page (``/v1/stories``) and the story pages of the 20 hottest stories,
  each a repeated URL: what the serialised-bytes caches answer between two writes.
* ``uncached``: feed queries that never repeat (each run its own seeded set): half are
  ``q=<two words of one story's title>&min_confidence=<0-90>``, half random combinations of
  category, lean, min_confidence, since, source, ``q`` (words or prefixes), sort (hot, new,
  relevance) and limit. Every one is a cache miss: the in-memory read model answers it.

The per-client rate limit stays on, with a budget the load cannot exhaust, so its cost is measured.
"""

from __future__ import annotations

import asyncio
import hashlib
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
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import typer

from tellwell.bench.options import JsonOnly
from tellwell.common.events import (
    ArticleRef,
    Blindspot,
    Category,
    GroundedSentence,
    IndependentReport,
    Lean,
    LeanDistribution,
    Perspective,
    StoryScored,
)
from tellwell.common.mongo import make_mongo_client
from tellwell.common.settings import MongoSettings
from tellwell.common.testing import make_story_scored
from tellwell.common.views import (
    STORY_VIEW_INDEXES,
    STORY_VIEWS,
    VIEW_WRITES,
    search_words,
    view_document,
    write_mark,
)
from tellwell.gateway.deps import parse_feed
from tellwell.gateway.settings import Settings

STREAMS = Path("../shared/data/streams")
MAX_MEMBERS = 200
#: UCI News Aggregator's category letters.
_UCI_CATEGORY = {
    "b": Category.business,
    "t": Category.technology,
    "e": Category.entertainment,
    "m": Category.health,
}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
Row = dict[str, Any]


def gold_stories(streams: Path) -> list[list[Row]]:
    """Every gold story of the dev streams: its articles with a headline, in stream order."""
    stories: dict[tuple[str, str], list[Row]] = defaultdict(list)
    paths = sorted(streams.glob("*.dev.jsonl"))
    if not paths:
        raise typer.BadParameter(f"no *.dev.jsonl stream in {streams}", param_hint="--streams")
    for path in paths:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    if str(row.get("title") or "").strip():
                        stories[(path.name, str(row["story"]))].append(row)
    return list(stories.values())


def _domain(row: Row) -> str:
    host = (urlsplit(row["url"]).hostname or "") if row.get("url") else ""
    host = host.removeprefix("www.")
    if host:
        return host
    if row.get("source"):
        slug = re.sub(r"[^a-z0-9]+", "-", str(row["source"]).lower()).strip("-")
        if slug:
            return f"{slug}.example"
    return f"outlet-{int(hashlib.sha256(str(row['id']).encode()).hexdigest()[:6], 16) % 400}.example"


def _unit(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _first_sentence(row: Row) -> str:
    text = str(row.get("text") or "").strip()
    sentence = _SENTENCE.split(text, maxsplit=1)[0] if text else str(row["title"])
    return sentence.strip()[:300] or str(row["title"])[:300]


def bench_views(n: int, stories: list[list[Row]], seed: int = 7) -> list[StoryScored]:
    """``n`` views, each of a sample of one gold story's real articles (sizes long-tailed, up to
    ``MAX_MEMBERS``); ratings, leans and ages are synthetic but varied, spread over three days."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    base = make_story_scored()
    views = []
    for i in range(n):
        gold = rng.choice(stories)
        size = min(len(gold), MAX_MEMBERS, max(1, int(rng.paretovariate(1.1))))
        members = rng.sample(gold, size)
        last = now - timedelta(minutes=rng.randint(0, 3 * 24 * 60))
        articles = [
            ArticleRef(
                article_id=f"{row['id']}-{i}",
                url=row.get("url") or f"https://{_domain(row)}/{row['id']}",
                title=str(row["title"])[:300],
                source=_domain(row),
                source_name=row.get("source"),
                lean=list(Lean)[int(_unit(_domain(row)) * len(Lean)) % len(Lean)],
                published_at=last - timedelta(minutes=k),
            )
            for k, row in enumerate(members)
        ]
        domains = sorted({a.source for a in articles})
        reports = [
            IndependentReport(
                report_id=f"r{j}",
                article_ids=[a.article_id for a in articles if a.source == d],
                sources=[d],
                credibility=round(0.05 + 0.9 * _unit(d), 2),
                supports=[0],
            )
            for j, d in enumerate(domains)
        ]
        summary = [
            GroundedSentence(text=_first_sentence(row), article_ids=[a.article_id])
            for row, a in list(zip(members, articles, strict=True))[:3]
        ]
        left = rng.random()
        right = rng.random() * (1 - left)
        category = _UCI_CATEGORY.get(str(members[0].get("category") or "")) or rng.choice(list(Category))
        views.append(
            make_story_scored(
                story_id=f"bench-{i:06d}-{uuid.uuid4().hex[:6]}",
                title=str(members[0]["title"])[:200],
                summary=summary,
                body=[summary],
                category=category,
                language=str(members[0].get("lang") or "und"),
                perspectives=[
                    Perspective(
                        source=a.source, lean=a.lean, article_id=a.article_id, url=a.url, text=a.title
                    )
                    for a in articles[:6]
                ],
                confidence=base.confidence.model_copy(
                    update={
                        "value": round(rng.uniform(5, 98), 1),
                        "claims": [summary[0].text],
                        "reports": reports,
                        "collapsed": [],
                    }
                ),
                lean=LeanDistribution(
                    left=left, center=1 - left - right, right=right, unrated=rng.randint(0, 2)
                ),
                blindspot=Blindspot(side="left", share=left) if left > 0.85 else None,
                hotness=round(rng.uniform(0, 100), 3),
                source_count=len(domains),
                article_count=len(articles),
                first_published_at=articles[-1].published_at,
                last_published_at=last,
                articles=articles,
                related=[],
            )
        )
    return views


def uncached_paths(views: list[StoryScored], count: int, seed: int) -> list[str]:
    """``count`` feed queries (see the module docstring), no two equal as the gateway reads them."""
    rng = random.Random(seed)
    titles = [[w for w in search_words(v.title) if len(w) >= 3] for v in views]
    titles = [t for t in titles if len(t) >= 2] or [["news", "world"]]
    frequency = Counter(w for t in titles for w in set(t))
    vocabulary = [w for w, n in frequency.items() if len(w) >= 4 and n >= 2] or list(frequency)
    domains = sorted({a.source for v in views[:2000] for a in v.articles})
    paths: set[str] = set()
    seen: set[Any] = set()  # the queries as the gateway reads them: two spellings of one are one
    settings, now = Settings(), datetime.now(UTC)
    attempts = 0
    while len(paths) < count and attempts < count * 20:
        attempts += 1
        params: dict[str, Any] = {}
        if rng.random() < 0.5:  # the mix: two words of a title, a confidence floor
            params["q"] = " ".join(rng.sample(rng.choice(titles), 2))
            params["min_confidence"] = rng.randint(0, 90)
        else:
            if rng.random() < 0.3:
                params["category"] = rng.choice(list(Category)).value
            if rng.random() < 0.3:
                params["lean"] = rng.choice(["left", "center", "right", "blindspot"])
            if rng.random() < 0.5:
                params["min_confidence"] = rng.randint(0, 90)
            if rng.random() < 0.3:
                params["since"] = rng.choice(["1h", "6h", "24h", "48h", "7d", f"{rng.randint(1, 4000)}m"])
            if rng.random() < 0.15 and domains:
                params["source"] = rng.choice(domains)
            if rng.random() < 0.5:
                words = rng.sample(vocabulary, rng.randint(1, 2))
                params["q"] = " ".join(w[: rng.randint(3, len(w))] for w in words)  # words or prefixes
            params["sort"] = rng.choice(["hot", "new", "relevance"])
            if rng.random() < 0.3:
                params["limit"] = rng.randint(5, 50)
        query = urlencode(params)
        try:
            feed = parse_feed(dict(parse_qsl(query)), settings, now)
        except Exception:  # a combination the API refuses: the load is of answers, not 422s
            continue
        if (feed.query, feed.limit) not in seen:
            seen.add((feed.query, feed.limit))
            paths.add("/v1/stories?" + query)
    ordered = sorted(paths)
    rng.shuffle(ordered)
    return ordered


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
            # and their write marks, as score leaves them (what the change feed polls)
            await client[settings.database][VIEW_WRITES].insert_many(
                [write_mark(d) for d in docs[start : start + 500]]
            )
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


def _buckets(metrics: str, route: str) -> dict[str, float]:
    buckets: dict[str, float] = {}
    for le, count in re.findall(
        rf'tellwell_gateway_request_seconds_bucket\{{le="([^"]+)",route="{re.escape(route)}"\}} ([\d.e+]+)',
        metrics,
    ):
        buckets[le] = float(count)
    return buckets


def slow_shares(metrics: str, route: str, before: str = "") -> tuple[float | None, float | None]:
    """Shares of the route's requests that took over 10 ms and over 50 ms inside the server (since
    the ``before`` scrape of the metrics, when given)."""
    buckets = _buckets(metrics, route)
    for le, count in _buckets(before, route).items():
        buckets[le] = buckets.get(le, 0.0) - count
    total = buckets.get("+Inf")
    if not total:
        return None, None
    return (
        round(1 - buckets.get("0.01", 0.0) / total, 5),
        round(1 - buckets.get("0.05", 0.0) / total, 5),
    )


def run_python(port: int, paths: list[str], seconds: float, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as listing:
        listing.write("\n".join(paths) + "\n")
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tellwell.bench.loadgen",
                "127.0.0.1",
                str(port),
                "--paths-file",
                listing.name,
                "--seconds",
                str(seconds),
                "--connections",
                str(connections),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(listing.name)
    return dict(json.loads(out.strip().splitlines()[-1]))


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, run: Any, *args: Any) -> dict[str, Any]:
    """``run(*args)``, plus the server's CPU time per request meanwhile (contention-independent)."""
    before = cpu_s(pid)
    result: dict[str, Any] = run(*args)
    after = cpu_s(pid)
    requests = (result.get("req_per_s") or 0) * args[2]
    if before is not None and after is not None and requests:
        result["server_cpu_us_per_request"] = round((after - before) / requests * 1e6, 1)
    return result


def _server_shares(base: str, route: str, before: str) -> dict[str, float | None]:
    """Shares of this phase's requests on ``route`` that took over 10 / 50 ms inside the server."""
    after = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    over10, over50 = slow_shares(after, route, before)
    return {"server_over_10ms_share": over10, "server_over_50ms_share": over50}


def bench_gateway(
    json_only: JsonOnly = False,
    stories: Annotated[int, typer.Option(help="Story views to seed.")] = 2000,
    mix: Annotated[
        list[str] | None,
        typer.Option(
            help="cached (repeated feed and story URLs) or uncached (feed queries that never "
            "repeat); repeat the option for both (the default)."
        ),
    ] = None,
    runs: Annotated[int, typer.Option(min=1, help="Measurements of each mix (one seeded gateway).")] = 1,
    seconds: Annotated[float, typer.Option(help="Load duration per endpoint and run.")] = 10.0,
    connections: Annotated[int, typer.Option(help="Concurrent keep-alive connections.")] = 16,
    tool: Annotated[
        str,
        typer.Option(
            help="Load generator: auto (wrk; Debian's package installed when missing and possible; "
            "else python), wrk, python."
        ),
    ] = "auto",
    story_pages: Annotated[int, typer.Option(help="Distinct story pages the page load cycles through.")] = 20,
    streams: Annotated[
        Path, typer.Option(file_okay=False, help="Folder of labelled *.dev.jsonl streams (articles).")
    ] = STREAMS,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON result to this file.")] = None,
) -> None:
    """Seed N views of real articles, start the gateway, load it with each mix from a separate
    process; print req/s, p50, p99 per mix and the gateway's RSS as one JSON line."""
    mixes = mix or ["cached", "uncached"]
    for name in mixes:
        if name not in ("cached", "uncached"):
            raise typer.BadParameter(f"{name!r} is neither cached nor uncached", param_hint="--mix")
    if tool == "auto":
        tool = "wrk" if ensure_wrk(json_only) else "python"
    if tool == "wrk" and not shutil.which("wrk"):
        raise typer.BadParameter(
            "wrk is not installed (apt-get install wrk), or use --tool python", param_hint="--tool"
        )
    load = run_wrk if tool == "wrk" else run_python
    mongo = MongoSettings(database=f"tellwell_bench_gateway_{uuid.uuid4().hex[:8]}")
    views = bench_views(stories, gold_stories(streams))
    seeded = time.perf_counter()
    asyncio.run(seed(mongo, views))
    seed_s = time.perf_counter() - seeded
    port = free_port()
    env = {
        **os.environ,
        "MONGO_URL": mongo.url,
        "MONGO_DATABASE": mongo.database,
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_RATE_LIMIT_PER_S": "1000000000",
        "GATEWAY_RATE_LIMIT_BURST": "1000000000",
    }
    started = time.perf_counter()
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
    results: dict[str, Any] = {}
    try:
        wait_ready(base, server, timeout_s=120 + stories / 100)
        ready_s = time.perf_counter() - started
        rss_ready = rss_mb(server.pid)
        for path in ["/v1/stories", *page_paths]:  # warm the cache as live traffic would have
            urllib.request.urlopen(base + path, timeout=30).read()
        for name in mixes:
            phases: list[dict[str, Any]] = []
            for run in range(runs):
                before = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
                if name == "cached":
                    feed = measured(server.pid, load, port, ["/v1/stories"], seconds, connections)
                    feed |= _server_shares(base, "/v1/stories", before)
                    before = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
                    page = measured(server.pid, load, port, page_paths, seconds, connections)
                    page |= _server_shares(base, "/stories", before)
                    phases.append({"run": run + 1, "feed_json": feed, "story_page": page})
                else:
                    paths = uncached_paths(views, 60_000, seed=1000 + run)
                    queries = measured(server.pid, load, port, paths, seconds, connections)
                    queries |= _server_shares(base, "/v1/stories", before)
                    queries["distinct_paths"] = len(paths)
                    phases.append({"run": run + 1, "feed_queries": queries})
            results[name] = phases
        rss_end = rss_mb(server.pid)
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
        "articles": sum(v.article_count for v in views),
        "seconds": seconds,
        "connections": connections,
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "seed_s": round(seed_s, 1),
        "gateway_ready_s": round(ready_s, 1),
        "gateway_rss_mb": {"ready": rss_ready, "end": rss_end},
        **results,
        "targets": {
            "uncached_req_per_s": 2000,
            "uncached_p99_ms": 25,
            "cached_req_per_s": 4900,
        },
    }
    line = json.dumps(result)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(line + "\n")
    if not json_only:
        for name, phases in results.items():
            for phase in phases:
                for endpoint, r in phase.items():
                    if endpoint == "run":
                        continue
                    typer.echo(
                        f"{name} run {phase['run']} {endpoint}: {r['req_per_s']} req/s, "
                        f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, server CPU "
                        f"{r.get('server_cpu_us_per_request')} µs/request ({tool})",
                        err=True,
                    )
        typer.echo(f"gateway RSS: {rss_ready} MB ready, {rss_end} MB at the end", err=True)
    typer.echo(line)
