"""`tellwell`: run the local infrastructure, serve the services, export the event contract.

Services are started as separate processes (``uvicorn tellwell.<service>.app:app``); this
package never imports them, so each stays independently deployable.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from tellwell.cli.pipeline import bench_pipeline
from tellwell.cli.procs import (
    DEFAULT_PORTS,
    LocalStack,
    Service,
    ServiceProcs,
    repo_root,
    service_command,
    tellwell_argv,
)
from tellwell.common.kafka import ensure_topics
from tellwell.common.settings import KafkaSettings

app = typer.Typer(help="TellWell: open news intelligence.", no_args_is_help=True, add_completion=False)
infra = typer.Typer(
    help="The local stack: Apache Kafka (KRaft) and FerretDB, no Docker needed.",
    no_args_is_help=True,
)
contract = typer.Typer(
    help="The published event contract (JSON Schema + AsyncAPI under docs/).", no_args_is_help=True
)
bench = typer.Typer(help="Benchmarks: each prints one JSON line.", no_args_is_help=True)
app.add_typer(infra, name="infra")
app.add_typer(contract, name="contract")
app.add_typer(bench, name="bench")


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def stack(action: str) -> int:
    script = repo_root() / "deploy" / "local" / "stack.sh"
    return subprocess.call(["bash", str(script), action])


@infra.command("up")
def infra_up() -> None:
    """Install (first time) and start Kafka and FerretDB, then create the topics. Idempotent."""
    if stack("up") != 0:
        raise fail("the local stack did not start (logs in .local/logs/)")
    created = asyncio.run(ensure_topics(KafkaSettings().bootstrap_servers, timeout_s=90))
    typer.echo(f"topics ready{' (created ' + ', '.join(created) + ')' if created else ''}")
    stack("status")


@infra.command("down")
def infra_down() -> None:
    """Stop Kafka and FerretDB (data stays under .local/data)."""
    if stack("down") != 0:
        raise fail("could not stop the local stack")


@infra.command("status")
def infra_status() -> None:
    """Report whether Kafka and FerretDB are up; exit 1 if either is down."""
    raise typer.Exit(0 if stack("status") == 0 else 1)


@infra.command("install")
def infra_install() -> None:
    """Fetch Kafka's jars and build FerretDB without starting anything."""
    if stack("install") != 0:
        raise fail("installing the local stack failed (logs in .local/logs/)")


@app.command()
def serve(
    service: Annotated[Service, typer.Argument(help="Which service to run.")],
    host: Annotated[str, typer.Option(help="Interface for its HTTP side.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: the service's own).")] = None,
) -> None:
    """Run one service in the foreground (health, readiness and metrics on its HTTP port)."""
    command = service_command(service, host, port or DEFAULT_PORTS[service])
    os.execv(command[0], command)


DEMO_CORPUS = Path(__file__).parent / "data" / "demo.jsonl"


def shifted_corpus(source: Path, out: Path, newest_age: timedelta = timedelta(minutes=5)) -> int:
    """Copy a JSONL stream with its ``published_at`` times moved so that the newest is recent."""
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    stamps = [datetime.fromisoformat(r["published_at"].replace("Z", "+00:00")) for r in rows]
    shift = datetime.now(UTC) - newest_age - max(stamps)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row, stamp in zip(rows, stamps, strict=True):
            row["published_at"] = (stamp + shift).isoformat()
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def tellwell_cli(*args: str) -> int:
    """Run another ``tellwell`` command (a service's plugin) as a child process."""
    return subprocess.call(tellwell_argv(*args))


async def story_view_counts() -> tuple[int, int]:
    """(live story views, articles in them) in the configured database."""
    from tellwell.common.mongo import make_mongo_client
    from tellwell.common.settings import MongoSettings
    from tellwell.common.views import STORY_VIEWS

    settings = MongoSettings()
    client = make_mongo_client(settings)
    try:
        views = client[settings.database][STORY_VIEWS]
        docs = [d async for d in views.find({"merged_into": None}, {"article_count": 1})]
        return len(docs), sum(int(d.get("article_count") or 0) for d in docs)
    finally:
        await client.close()


def show_progress(expected_articles: int, timeout_s: float = 120.0) -> None:
    """Print the growing number of story views until the corpus is in or the time is up."""
    deadline = time.monotonic() + timeout_s
    last: tuple[int, int] = (-1, -1)
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        counts = asyncio.run(story_view_counts())
        if counts != last:
            typer.echo(f"  {counts[0]} stories on the feed, covering {counts[1]} articles")
            last, stable_since = counts, time.monotonic()
        if counts[1] >= expected_articles or (counts[0] and time.monotonic() - stable_since > 20):
            return
        time.sleep(2)


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Interface for the services' HTTP sides.")] = "127.0.0.1",
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for each service's /readyz.")] = 120.0,
    demo: Annotated[bool, typer.Option(help="Import the bundled demo corpus once everything is up.")] = False,
    feeds: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Import this feed list and poll it.")
    ] = None,
) -> None:
    """Start the local stack and all five services as separate processes; Ctrl-C stops them."""
    local = LocalStack()
    started_infra = not local.is_up()
    infra_up()

    def on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        with ServiceProcs(env={}, logs=local.logs, host=host) as procs:
            for service in Service:
                procs.start(service, port=DEFAULT_PORTS[service])
            try:
                procs.wait_ready(ready_timeout)
            except RuntimeError as exc:
                raise fail(str(exc)) from None
            for proc in procs.procs.values():
                typer.echo(f"  {proc.name:<10} ready  {proc.url}/readyz")
            if demo or feeds:
                if tellwell_cli("sources", "import") != 0:
                    raise fail("importing the source registry failed")
            if feeds:
                if tellwell_cli("feeds", "import", str(feeds)) != 0:
                    raise fail(f"importing the feed list {feeds} failed")
                typer.echo("polling the feeds (ingest's poller; progress in .local/logs/ingest.log)")
            gateway = f"http://{host}:{DEFAULT_PORTS[Service.gateway]}/"
            if demo:
                corpus = repo_root() / ".local" / "demo" / "demo.jsonl"
                count = shifted_corpus(DEMO_CORPUS, corpus)
                typer.echo(f"importing the demo corpus: {count} real headlines (UCI News Aggregator)")
                if tellwell_cli("import", str(corpus)) != 0:
                    raise fail("importing the demo corpus failed")
                typer.echo(f"stories appear on {gateway} as the pipeline works:")
                show_progress(count)
            typer.secho(f"\nTellWell is up. Open {gateway}  (Ctrl-C stops it)", fg=typer.colors.GREEN)
            while not procs.dead():
                time.sleep(0.5)
            raise fail(f"service(s) exited: {', '.join(procs.dead())} (see .local/logs/)")
    except KeyboardInterrupt:
        typer.echo("\nstopping services ...")
    finally:
        if started_infra:
            infra_down()


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface for the services' HTTP sides.")] = "127.0.0.1",
) -> None:
    """`make demo`: everything up, the bundled corpus imported, the web page's URL printed."""
    up(host=host, demo=True, feeds=None)


@app.command("run")
def run_feeds(
    feeds: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Feed list JSON ({category: [url, ...]}).")
    ],
    host: Annotated[str, typer.Option(help="Interface for the services' HTTP sides.")] = "127.0.0.1",
) -> None:
    """Everything up, polling real feeds (where the network allows) instead of the demo corpus."""
    up(host=host, demo=False, feeds=feeds)


@contract.command("export")
def contract_export(
    out: Annotated[Path, typer.Option(help="Where docs live.")] = Path("docs"),
    check: Annotated[bool, typer.Option(help="Only verify that the committed files are current.")] = False,
    allow_breaking: Annotated[
        bool, typer.Option(help="Overwrite even if the change is incompatible.")
    ] = False,
) -> None:
    """Write docs/schemas/<topic>.json and docs/asyncapi.json; refuse a backward-incompatible change."""
    from tellwell.common.contract import asyncapi_document, json_schemas, snapshot_problems

    schemas, asyncapi = json_schemas(), asyncapi_document()
    files = {out / "schemas" / f"{topic}.json": schema for topic, schema in schemas.items()}
    files[out / "asyncapi.json"] = asyncapi
    committed = (
        {p.stem: json.loads(p.read_text()) for p in (out / "schemas").glob("*.json")}
        if (out / "schemas").exists()
        else {}
    )
    problems = snapshot_problems(committed, schemas)
    if problems and not allow_breaking:
        for p in problems:
            typer.echo(f"  incompatible: {p}", err=True)
        raise fail("backward-incompatible change: add optional fields only, or publish a new .v2 topic")
    rendered = {path: json.dumps(doc, indent=2, sort_keys=True) + "\n" for path, doc in files.items()}
    stale = [p for p, text in rendered.items() if not p.exists() or p.read_text() != text]
    if check:
        if stale:
            raise fail(f"stale: {', '.join(map(str, stale))}: run `tellwell contract export`")
        typer.echo("contract files are current")
        return
    for path, text in rendered.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    typer.echo(f"wrote {len(rendered)} files under {out}/ ({len(stale)} changed)")


bench.command("pipeline")(bench_pipeline)


def load_plugins() -> None:
    """Services add their own commands through the ``tellwell.cli`` entry point group."""
    for entry in sorted(entry_points(group="tellwell.cli"), key=lambda e: e.name):
        try:
            register = entry.load()
        except Exception as exc:  # one broken service package must not take the whole CLI down
            typer.secho(f"warning: {entry.name} commands unavailable: {exc}", err=True, fg="yellow")
            continue
        register(app, {"bench": bench})


def main() -> None:
    load_plugins()
    app()
