"""Ingest's commands in the `tellwell` CLI: feeds, sources, API keys, bulk import, the ingest benchmark.

They work on the stores directly (MongoDB, Kafka) through the same code as the API.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from tellwell.common.kafka import make_broker
from tellwell.common.mongo import make_mongo_client
from tellwell.ingest import repository as repo
from tellwell.ingest.domain import ArticleIn, Prepared, prepare, read_feed_list
from tellwell.ingest.feeds import FeedIn, new_feed_doc
from tellwell.ingest.pipeline import Ingestor, IngestResult, kafka_publisher
from tellwell.ingest.registry import (
    BUNDLED_FEEDS,
    BUNDLED_KITE,
    BUNDLED_MBFC,
    load_registry,
)
from tellwell.ingest.settings import Settings

T = TypeVar("T")

feeds = typer.Typer(help="The feed registry.", no_args_is_help=True)
sources = typer.Typer(
    help="The source registry (outlets: lean, factuality, owner group).", no_args_is_help=True
)
apikeys = typer.Typer(help="API keys of the ingest write API (stored hashed).", no_args_is_help=True)


def run(coro_fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    return asyncio.run(coro_fn(*args))


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[repo.DB]:
    client = make_mongo_client(settings.mongo)
    try:
        yield client[settings.mongo.database]
    finally:
        await client.close()


@asynccontextmanager
async def ingestor(settings: Settings) -> AsyncIterator[Ingestor]:
    broker = make_broker(settings.kafka, service="ingest-cli")
    async with database(settings) as db:
        await broker.start()
        try:
            await repo.ensure_indexes(db)
            yield Ingestor(db, kafka_publisher(broker))
        finally:
            await broker.stop()


# ----------------------------------------------------------------------------- feeds


@feeds.command("import")
def feeds_import(
    file: Annotated[
        Path, typer.Argument(help="JSON: {category: [url, ...]} or {category: {feeds: [...]}}.")
    ] = BUNDLED_FEEDS,
    include_aggregators: Annotated[
        bool, typer.Option(help="Also activate search-engine and forum feeds (imported paused otherwise).")
    ] = False,
) -> None:
    """Load a feed list; publishers' own feeds are active, aggregator feeds are added paused."""
    settings = Settings()
    try:
        entries = list(read_feed_list(json.loads(file.read_text())))
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}") from exc
    now = datetime.now(UTC)
    docs: dict[str, dict[str, Any]] = {}
    for e in entries:
        doc = new_feed_doc(
            FeedIn(url=e.url, category=e.category, language=e.language), now, settings.default_interval_s
        )
        if doc["kind"] == "aggregator" and not include_aggregators:
            doc |= {
                "status": "paused",
                "paused_reason": "aggregator feed: publishers' own feeds are preferred",
            }
        docs.setdefault(doc["_id"], doc)

    async def go() -> int:
        async with database(settings) as db:
            await repo.ensure_indexes(db)
            return await repo.add_feeds(db, list(docs.values()))

    added = run(go)
    paused = sum(1 for d in docs.values() if d["status"] == "paused")
    typer.echo(
        f"{len(docs)} feeds in {file.name}: {added} new, {len(docs) - added} already registered, "
        f"{paused} aggregator feeds paused"
    )


@feeds.command("add")
def feeds_add(
    url: str,
    category: Annotated[str | None, typer.Option()] = None,
    interval: Annotated[int | None, typer.Option(help="Seconds between polls.")] = None,
) -> None:
    """Register one feed."""
    settings = Settings()
    try:
        feed = FeedIn(url=url, category=category, interval_s=interval)
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"]) from exc
    doc = new_feed_doc(feed, datetime.now(UTC), settings.default_interval_s)

    async def go() -> int:
        async with database(settings) as db:
            await repo.ensure_indexes(db)
            return await repo.add_feeds(db, [doc])

    typer.echo(f"{doc['_id']} {doc['url']} ({'added' if run(go) else 'already registered'})")


@feeds.command("list")
def feeds_list(status: Annotated[str | None, typer.Option(help="active or paused")] = None) -> None:
    """List feeds with their last poll status."""

    async def go() -> list[dict[str, Any]]:
        async with database(Settings()) as db:
            return await repo.list_feeds(db, status=status, after=None, limit=100_000)

    for f in run(go):
        state = f.get("last_status") or "never polled"
        error = f"  {f['last_error']}" if f.get("last_error") else ""
        typer.echo(f"{f['_id']}  {f['status']:<6}  {state:<12}  {f['url']}{error}")


def _set_status(feed_id: str, status: str, reason: str | None) -> None:
    async def go() -> dict[str, Any] | None:
        async with database(Settings()) as db:
            return await repo.set_feed_status(db, feed_id, status, reason)

    if run(go) is None:
        raise typer.BadParameter(f"no feed {feed_id!r}")
    typer.echo(f"{feed_id} {status}")


@feeds.command("pause")
def feeds_pause(feed_id: str) -> None:
    """Stop polling a feed."""
    _set_status(feed_id, "paused", "paused by an operator")


@feeds.command("resume")
def feeds_resume(feed_id: str) -> None:
    """Poll a paused feed again."""
    _set_status(feed_id, "active", None)


@feeds.command("remove")
def feeds_remove(feed_id: str) -> None:
    """Remove a feed (its articles stay)."""

    async def go() -> bool:
        async with database(Settings()) as db:
            return await repo.delete_feed(db, feed_id)

    if not run(go):
        raise typer.BadParameter(f"no feed {feed_id!r}")
    typer.echo(f"{feed_id} removed")


# ----------------------------------------------------------------------------- sources


@sources.command("import")
def sources_import(
    mbfc: Annotated[Path, typer.Option(help="MBFC ratings CSV.")] = BUNDLED_MBFC,
    kite: Annotated[Path, typer.Option(help="Kite media ownership JSON.")] = BUNDLED_KITE,
) -> None:
    """Seed or refresh the registry from the bundled (or given) ratings and ownership data."""

    async def go() -> tuple[int, int, int, int]:
        async with database(Settings()) as db:
            edited = [s for s in await repo.all_sources(db) if "api" in s.origins]  # editors' changes win
            merged = load_registry(mbfc, kite, edited)  # every domain of an outlet rated as the outlet
            new, changed = await repo.sync_sources(db, merged.values())
            return len(merged), new, changed, sum(1 for s in merged.values() if s.owner_group)

    total, new, changed, grouped = run(go)
    typer.echo(f"{total} sources ({new} new, {changed} updated; {grouped} with an owner group)")


# ----------------------------------------------------------------------------- API keys


@apikeys.command("create")
def apikeys_create(name: Annotated[str, typer.Argument(help="Who or what uses the key.")]) -> None:
    """Create a key; the secret is printed once and only its hash is stored."""

    async def go() -> str:
        async with database(Settings()) as db:
            return await repo.create_api_key(db, name, datetime.now(UTC))

    typer.echo(run(go))


@apikeys.command("list")
def apikeys_list() -> None:
    async def go() -> list[dict[str, Any]]:
        async with database(Settings()) as db:
            return await repo.list_api_keys(db)

    for k in run(go):
        state = "revoked" if k["revoked"] else "active"
        typer.echo(f"{k['_id']}  {state:<7}  {k['created_at']:%Y-%m-%d}  {k['name']}")


@apikeys.command("revoke")
def apikeys_revoke(key_id: str) -> None:
    async def go() -> bool:
        async with database(Settings()) as db:
            return await repo.revoke_api_key(db, key_id)

    if not run(go):
        raise typer.BadParameter(f"no key {key_id!r}")
    typer.echo(f"{key_id} revoked")


# ----------------------------------------------------------------------------- import + bench


def read_jsonl(path: Path, errors: list[str]) -> Iterator[ArticleIn]:
    """Articles of the shared benchmark format; the gold ``story`` label is never read."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                row.pop("story", None)
                yield ArticleIn.model_validate(row)
            except ValidationError as exc:  # name the fields: "title: Value error, the title has ..."
                detail = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'article'}: {e['msg']}" for e in exc.errors()
                )
                errors.append(f"line {number}: {detail[:300]}")
            except ValueError as exc:
                errors.append(f"line {number}: {str(exc).splitlines()[0][:200]}")


def prepared_batches(path: Path, batch_size: int, errors: list[str]) -> Iterator[list[Prepared]]:
    batch: list[ArticleIn] = []
    for article in read_jsonl(path, errors):
        batch.append(article)
        if len(batch) >= batch_size:
            yield _prepare_all(batch)
            batch = []
    if batch:
        yield _prepare_all(batch)


def _prepare_all(batch: list[ArticleIn]) -> list[Prepared]:
    now = datetime.now(UTC)
    return [prepare(a, now=now, content_source="import") for a in batch]


async def import_file(
    path: Path, batch_size: int, progress: Callable[[int], None], rate: float | None = None
) -> tuple[IngestResult, list[str]]:
    """Parse and prepare the next batch on a thread while the current one is stored and published.

    With ``rate`` (articles/s) batches of a quarter second's worth are paced to that rate, as a
    live stream would arrive (the pipeline benchmark replays a stream this way). Smaller batches
    could not keep the pace: one store-and-publish round costs tens of milliseconds on FerretDB.
    """
    settings = Settings()
    if rate:
        batch_size = max(1, min(batch_size, round(rate / 4)))
    total, errors = IngestResult(), list[str]()
    batches = prepared_batches(path, batch_size, errors)
    started, sent = time.monotonic(), 0
    async with ingestor(settings) as ing:
        upcoming = asyncio.create_task(asyncio.to_thread(next, batches, None))
        while (batch := await upcoming) is not None:
            if rate:
                await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
            upcoming = asyncio.create_task(asyncio.to_thread(next, batches, None))
            total.merge(await ing.ingest(batch))
            sent += len(batch)
            progress(len(batch))
    return total, errors


def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL: one article per line.")],
    batch: Annotated[int, typer.Option(min=1, max=5000)] = 500,
    rate: Annotated[
        float | None, typer.Option(min=0.1, help="Articles per second (default: as fast as possible).")
    ] = None,
) -> None:
    """Stream a JSONL file into the same path as the push API (stored, then raw.article)."""
    lines = sum(1 for _ in file.open(encoding="utf-8", errors="replace"))
    with typer.progressbar(length=lines, label=f"importing {file.name}", file=sys.stderr) as bar:
        result, errors = asyncio.run(import_file(file, batch, bar.update, rate))
    for e in errors[:20]:
        typer.echo(f"  skipped {e}", err=True)
    typer.echo(
        f"{len(result.created)} new ({len(result.copies)} marked as copies), "
        f"{len(result.duplicates)} already stored, {len(errors)} invalid lines skipped"
    )


def bench_ingest(
    input: Annotated[Path, typer.Option("--input", exists=True, dir_okay=False, help="JSONL to import.")],
    batch: Annotated[int, typer.Option(min=1, max=5000)] = 500,
    database_name: Annotated[
        str | None, typer.Option("--database", help="Default: a fresh bench database, dropped after.")
    ] = None,
) -> None:
    """JSONL import to raw.article on the running stack; prints one JSON line.

    The articles still go to ``raw.article`` (a running cluster service will take them)."""
    import psutil

    db_name = database_name or f"tellwell_bench_{int(time.time())}"
    os.environ["MONGO_DATABASE"] = db_name
    process = psutil.Process()
    peak = process.memory_info().rss

    def sample(_: int) -> None:
        nonlocal peak
        peak = max(peak, process.memory_info().rss)

    started = time.perf_counter()
    result, errors = asyncio.run(import_file(input, batch, sample))
    elapsed = time.perf_counter() - started
    if database_name is None:  # ours alone: nothing else reads it, so it does not pile up
        asyncio.run(drop_database(db_name))
    articles = len(result.created) + len(result.duplicates)
    typer.echo(
        json.dumps(
            {
                "bench": "ingest",
                "input": input.name,
                "articles": articles,
                "created": len(result.created),
                "copies": len(result.copies),
                "invalid": len(errors),
                "seconds": round(elapsed, 3),
                "articles_per_s": round(articles / elapsed, 1),
                "peak_rss_mb": round(peak / 2**20, 1),
                "batch": batch,
                "database": db_name,
            }
        )
    )


async def drop_database(name: str) -> None:
    async with database(Settings()) as db:
        await db.client.drop_database(name)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Entry point ``tellwell.cli``: add ingest's commands to the `tellwell` CLI."""
    app.add_typer(feeds, name="feeds")
    app.add_typer(sources, name="sources")
    app.add_typer(apikeys, name="apikeys")
    app.command("import")(import_command)
    groups["bench"].command("ingest")(bench_ingest)
