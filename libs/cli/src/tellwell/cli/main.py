"""`tellwell`: run the local infrastructure, serve the services, export the event contract.

Services are started as separate processes (``uvicorn tellwell.<service>.app:app``); this
package never imports them, so each stays independently deployable.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from tellwell.cli.pipeline import bench_pipeline
from tellwell.cli.procs import (
    LocalStack,
    Service,
    ServiceProcs,
    StopSignals,
    repo_root,
    service_address,
    service_command,
    tellwell_argv,
)
from tellwell.common.jsonl import JsonlError, read_jsonl
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


HostsOption = Annotated[
    str | None,
    typer.Option(help="Interface for the services' HTTP sides (default: <SERVICE>_HOST, else 127.0.0.1)"),
]
LogsOption = Annotated[Path | None, typer.Option(help="Folder of the services' logs (default .local/logs)")]


@app.command()
def serve(
    service: Annotated[Service, typer.Argument(help="Which service to run.")],
    host: Annotated[
        str | None, typer.Option(help="Interface for its HTTP side (default: <SERVICE>_HOST, else 127.0.0.1)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: <SERVICE>_PORT, else the service's own).")
    ] = None,
) -> None:
    """Run one service in the foreground (health, readiness and metrics on its HTTP port)."""
    try:
        address = service_address(service, host, port)
    except ValueError as exc:
        raise fail(str(exc)) from None
    command = service_command(service, *address)
    os.execv(command[0], command)


DEMO_CORPUS = Path(__file__).parent / "data" / "demo.jsonl"


def shifted_corpus(source: Path, out: Path, newest_age: timedelta = timedelta(minutes=5)) -> int:
    """Copy a JSONL stream with its ``published_at`` times moved so that the newest is recent."""
    rows = list(read_jsonl(source, required={"published_at": datetime}))
    stamps: list[datetime] = [r["published_at"] for r in rows]
    shift = datetime.now(UTC) - newest_age - max(stamps, default=datetime.now(UTC))
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for row, stamp in zip(rows, stamps, strict=True):
            row["published_at"] = (stamp + shift).isoformat()
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def tellwell_cli(*args: str) -> int:
    """Run another ``tellwell`` command (a service's plugin) as a child process."""
    return subprocess.call(tellwell_argv(*args))


async def watch_progress(expected_articles: int, timeout_s: float) -> None:
    """Print the growing number of story views until the corpus is in or the time is up."""
    from tellwell.common.mongo import make_mongo_client
    from tellwell.common.settings import MongoSettings
    from tellwell.common.views import STORY_VIEWS

    settings = MongoSettings()
    client = make_mongo_client(settings)
    try:
        views = client[settings.database][STORY_VIEWS]
        deadline = time.monotonic() + timeout_s
        last: tuple[int, int] = (-1, -1)
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            docs = [d async for d in views.find({"merged_into": None}, {"article_count": 1})]
            counts = len(docs), sum(int(d.get("article_count") or 0) for d in docs)
            if counts != last:
                typer.echo(f"  {counts[0]} stories on the feed, covering {counts[1]} articles")
                last, stable_since = counts, time.monotonic()
            if counts[1] >= expected_articles or (counts[0] and time.monotonic() - stable_since > 20):
                return
            await asyncio.sleep(2)
    finally:
        await client.close()


def show_progress(expected_articles: int, timeout_s: float = 120.0) -> None:
    progress = watch_progress(expected_articles, timeout_s)
    try:
        asyncio.run(progress)
    finally:
        progress.close()  # a Ctrl-C before it started: no "coroutine was never awaited" warning


@app.command()
def up(
    host: HostsOption = None,
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for each service's /readyz.")] = 120.0,
    demo: Annotated[bool, typer.Option(help="Import the bundled demo corpus once everything is up.")] = False,
    feeds: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Import this feed list and poll it.")
    ] = None,
    stack: Annotated[
        bool,
        typer.Option(
            help="Start the local stack (Kafka + FerretDB) if it is down; --no-stack uses the broker "
            "and store KAFKA_BOOTSTRAP_SERVERS and MONGO_URL name."
        ),
    ] = True,
    logs: LogsOption = None,
) -> None:
    """Start the local stack and all five services as separate processes; Ctrl-C stops them.

    Ports: <SERVICE>_PORT (e.g. GATEWAY_PORT), else each service's own.

    Ctrl-C or SIGTERM is a stop: it prints what was stopped and exits 0. A service that dies is an error.
    """
    try:
        addresses = {service: service_address(service, host) for service in Service}
    except ValueError as exc:
        raise fail(str(exc)) from None
    local = LocalStack()
    started_infra = False
    stopped: list[str] = []
    with StopSignals() as stop:
        try:
            if stack:
                started_infra = not local.is_up()
                infra_up()
            else:
                asyncio.run(ensure_topics(KafkaSettings().bootstrap_servers, timeout_s=90))
            with ServiceProcs(env={}, logs=logs or local.logs) as procs:
                try:
                    supervise(procs, addresses, ready_timeout=ready_timeout, demo=demo, feeds=feeds)
                except BaseException:
                    if stop.received is None:
                        raise
                    typer.echo(f"\nstopping services ({stop.received.name}) ...")
                finally:
                    stopped = list(procs.procs)
        except BaseException:
            # Whatever the interrupt broke midway (a start-up wait, an import, an event loop being
            # built) is part of the stop, not a failure to report.
            if stop.received is None:
                raise
        finally:
            if started_infra:
                infra_down()
    what = ", ".join(stopped) if stopped else "nothing was running yet"
    typer.echo(f"stopped: {what}{' and the local stack' if started_infra else ''}")


def supervise(
    procs: ServiceProcs,
    addresses: dict[Service, tuple[str, int]],
    *,
    ready_timeout: float,
    demo: bool,
    feeds: Path | None,
) -> None:
    """Start the services, import what was asked, then watch them; returns never (a stop or an error)."""
    for service, (host, port) in addresses.items():
        procs.start(service, host=host, port=port)
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
        typer.echo("polling the feeds (ingest's poller; progress in the ingest log)")
    gateway = f"{procs.procs[Service.gateway.value].url}/"
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
    dead = ", ".join(f"{name} ({procs.procs[name].exit_status()})" for name in procs.dead())
    raise fail(f"service(s) exited: {dead} (see {procs.logs}/)")


@app.command()
def demo(
    host: HostsOption = None,
    stack: Annotated[
        bool, typer.Option(help="Start the local stack if it is down (--no-stack: use KAFKA_*/MONGO_*).")
    ] = True,
    logs: LogsOption = None,
) -> None:
    """`make demo`: everything up, the bundled corpus imported, the web page's URL printed."""
    up(host=host, demo=True, feeds=None, stack=stack, logs=logs)


@app.command("run")
def run_feeds(
    feeds: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Feed list JSON ({category: [url, ...]}).")
    ],
    host: HostsOption = None,
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
    try:
        app()
    except JsonlError as exc:  # a bad input line: one line saying where, not a traceback
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise SystemExit(2) from None
