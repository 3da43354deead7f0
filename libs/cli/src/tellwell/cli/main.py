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
import sys
import time
from enum import StrEnum
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

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


class Service(StrEnum):
    ingest = "ingest"
    cluster = "cluster"
    summarize = "summarize"
    score = "score"
    gateway = "gateway"


DEFAULT_PORTS = {
    Service.gateway: 8000,
    Service.ingest: 8001,
    Service.cluster: 8002,
    Service.summarize: 8003,
    Service.score: 8004,
}


def repo_root() -> Path:
    """The checkout this CLI runs from (``TELLWELL_ROOT`` overrides)."""
    if root := os.environ.get("TELLWELL_ROOT"):
        return Path(root)
    for parent in Path(__file__).resolve().parents:
        if (parent / "deploy" / "local" / "stack.sh").exists():
            return parent
    raise typer.BadParameter("cannot find deploy/local: run from a TellWell checkout or set TELLWELL_ROOT")


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


def service_command(service: Service, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        f"tellwell.{service.value}.app:app",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "20",
    ]


@app.command()
def serve(
    service: Annotated[Service, typer.Argument(help="Which service to run.")],
    host: Annotated[str, typer.Option(help="Interface for its HTTP side.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: the service's own).")] = None,
) -> None:
    """Run one service in the foreground (health, readiness and metrics on its HTTP port)."""
    command = service_command(service, host, port or DEFAULT_PORTS[service])
    os.execv(command[0], command)


def wait_ready(url: str, timeout_s: float) -> bool:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Interface for the services' HTTP sides.")] = "127.0.0.1",
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for each service's /readyz.")] = 60.0,
) -> None:
    """Start the local stack and all five services as separate processes; Ctrl-C stops them."""
    started_infra = stack("status") != 0
    infra_up()
    logs = repo_root() / ".local" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs: dict[Service, subprocess.Popen[bytes]] = {}

    def stop_all(*_: object) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=25)
            except subprocess.TimeoutExpired:
                proc.kill()

    def on_sigterm(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        for service in Service:
            with open(logs / f"{service.value}.log", "ab") as log_file:
                procs[service] = subprocess.Popen(
                    service_command(service, host, DEFAULT_PORTS[service]),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
        for service, proc in procs.items():
            url = f"http://{host}:{DEFAULT_PORTS[service]}/readyz"
            if not wait_ready(url, ready_timeout):
                state = "exited" if proc.poll() is not None else "not ready"
                raise fail(f"{service.value} {state} (see .local/logs/{service.value}.log)")
            typer.echo(f"  {service.value:<10} ready  {url}")
        gateway = f"http://{host}:{DEFAULT_PORTS[Service.gateway]}/"
        typer.secho(f"\nTellWell is up. Gateway: {gateway}  (Ctrl-C stops it)", fg=typer.colors.GREEN)
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        dead = [s.value for s, p in procs.items() if p.poll() is not None]
        raise fail(f"service(s) exited: {', '.join(dead)} (see .local/logs/)")
    except KeyboardInterrupt:
        typer.echo("\nstopping services ...")
    finally:
        stop_all()
        if started_infra:
            infra_down()


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
