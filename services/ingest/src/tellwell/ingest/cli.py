"""Ingest's commands in the `tellwell` CLI: feeds, sources, API keys, bulk import.

They work on the stores directly (MongoDB, Kafka) through the same code as the API.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError

from tellwell.common.http import field_errors
from tellwell.common.jsonl import JsonlError, numbered_jsonl
from tellwell.common.kafka import make_broker
from tellwell.common.mongo import open_database
from tellwell.ingest import repository as repo
from tellwell.ingest.domain import ArticleIn, Prepared, feed_list_entries, prepare
from tellwell.ingest.feeds import FeedIn, FeedRefused, check_feed_address, new_feed_doc
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


def fail(message: str) -> NoReturn:
    """One line on stderr and exit 2, as the `tellwell` CLI reports bad input (no usage box)."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


def describe(
    exc: ValidationError, body: Any, *, root: str = "input", names: Mapping[str, str] | None = None
) -> str:
    """``exc`` as one line: ``title: field required; lang: should have at most 35 characters``.

    ``root`` names the whole input (``article: should be an object``), ``names`` the CLI's own
    names of fields (``interval_s`` is ``--interval``)."""
    errors = field_errors(exc.errors(), body=body, root=root, request_loc=False)
    return "; ".join(f"{(names or {}).get(e['field'], e['field'])}: {e['message']}" for e in errors)


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[repo.DB]:
    client, db = open_database(settings.mongo)
    try:
        yield db
    finally:
        await client.close()


def on_database(query: Callable[[repo.DB], Awaitable[T]]) -> T:
    """``query`` run on the database the environment's settings name."""

    async def go() -> T:
        async with database(Settings()) as db:
            return await query(db)

    return run(go)


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


ADDRESS_CHECKS = 32  # DNS lookups at once: the bundled list has ~1000 feeds on ~550 hosts
SKIPPED_SHOWN = 20


@feeds.command("import")
def feeds_import(
    file: Annotated[
        Path, typer.Argument(help="JSON: {category: [url, ...]} or {category: {feeds: [...]}}.")
    ] = BUNDLED_FEEDS,
    include_aggregators: Annotated[
        bool, typer.Option(help="Also activate search-engine and forum feeds (imported paused otherwise).")
    ] = False,
) -> None:
    """Load a feed list; publishers' own feeds are active, aggregator feeds are added paused.

    Entries `feeds add` would refuse (not a fetchable URL, a non-public address) are skipped and
    listed on stderr; the others are imported.
    """
    settings = Settings()
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc}") from exc
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{file} is not a JSON object of categories")
    now = datetime.now(UTC)
    docs: dict[str, dict[str, Any]] = {}
    written: dict[str, str] = {}  # canonical URL -> as in the file, to name a refused feed
    skipped: list[str] = []
    for raw in feed_list_entries(data):
        try:
            feed = FeedIn.model_validate(raw)
        except ValidationError as exc:
            skipped.append(f"{str(raw['url'])[:200]}: {describe(exc, raw)}")
            continue
        doc = new_feed_doc(feed, now, settings.default_interval_s)
        if doc["kind"] == "aggregator" and not include_aggregators:
            doc |= {
                "status": "paused",
                "paused_reason": "aggregator feed: publishers' own feeds are preferred",
            }
        docs.setdefault(doc["_id"], doc)
        written.setdefault(doc["url"], str(raw["url"])[:200])

    async def go() -> tuple[dict[str, str], int]:
        refused = await refused_addresses([d["url"] for d in docs.values()], settings.fetch_allow_hosts)
        accepted = [d for d in docs.values() if d["url"] not in refused]
        async with database(settings) as db:
            await repo.ensure_indexes(db)
            return refused, await repo.add_feeds(db, accepted)

    refused, added = run(go)
    skipped += [f"{written[url]}: url: {reason}" for url, reason in refused.items()]
    kept = [d for d in docs.values() if d["url"] not in refused]
    paused = sum(1 for d in kept if d["status"] == "paused")
    if skipped:
        typer.echo(f"skipped {len(skipped)} feeds:", err=True)
        for line in skipped[:SKIPPED_SHOWN]:
            typer.echo(f"  {line}", err=True)
        if len(skipped) > SKIPPED_SHOWN:
            typer.echo(f"  and {len(skipped) - SKIPPED_SHOWN} more", err=True)
    typer.echo(
        f"{len(kept)} feeds in {file.name}: {added} new, {len(kept) - added} already registered, "
        f"{paused} aggregator feeds paused, {len(skipped)} skipped"
    )


async def refused_addresses(urls: list[str], allow_hosts: list[str]) -> dict[str, str]:
    """``{url: reason}`` for the feeds ``check_feed_address`` refuses: one check per host (a feed
    list has several feeds of one site), ``ADDRESS_CHECKS`` at a time."""
    by_host: dict[str, list[str]] = {}
    for url in urls:
        by_host.setdefault(urlsplit(url).hostname or url, []).append(url)
    # getaddrinfo runs on the default executor (cores + 4 threads): a lookup queued behind
    # the others would spend its timeout waiting, and a feed whose lookup times out is accepted.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(ADDRESS_CHECKS, thread_name_prefix="resolve")
    )
    gate = asyncio.Semaphore(ADDRESS_CHECKS)
    refused: dict[str, str] = {}

    async def check(same_host: list[str]) -> None:
        async with gate:
            try:
                await check_feed_address(same_host[0], allow_hosts=allow_hosts)
            except FeedRefused as exc:
                refused.update(dict.fromkeys(same_host, str(exc)))

    await asyncio.gather(*(check(same_host) for same_host in by_host.values()))
    return {url: refused[url] for url in urls if url in refused}  # in the list's order


@feeds.command("add")
def feeds_add(
    url: str,
    category: Annotated[str | None, typer.Option()] = None,
    interval: Annotated[int | None, typer.Option(help="Seconds between polls.")] = None,
) -> None:
    """Register one feed; one at a non-public address is refused, as `POST /v1/feeds` refuses it.

    ``INGEST_FETCH_ALLOW_HOSTS`` lets intranet hosts through, as it does for the API and the poller.
    """
    settings = Settings()
    given = {"url": url, "category": category, "interval_s": interval}
    try:
        feed = FeedIn.model_validate(given)
    except ValidationError as exc:
        fail(describe(exc, given, names={"category": "--category", "interval_s": "--interval"}))
    doc = new_feed_doc(feed, datetime.now(UTC), settings.default_interval_s)

    async def go() -> int:
        await check_feed_address(feed.url, allow_hosts=settings.fetch_allow_hosts)
        async with database(settings) as db:
            await repo.ensure_indexes(db)
            return await repo.add_feeds(db, [doc])

    try:
        added = run(go)
    except FeedRefused as exc:
        fail(f"url: {exc}")
    typer.echo(f"{doc['_id']} {doc['url']} ({'added' if added else 'already registered'})")


@feeds.command("list")
def feeds_list(status: Annotated[str | None, typer.Option(help="active or paused")] = None) -> None:
    """List feeds with their last poll status."""

    for f in on_database(lambda db: repo.list_feeds(db, status=status, after=None, limit=100_000)):
        state = f.get("last_status") or "never polled"
        error = f"  {f['last_error']}" if f.get("last_error") else ""
        typer.echo(f"{f['_id']}  {f['status']:<6}  {state:<12}  {f['url']}{error}")


def _set_status(feed_id: str, status: str, reason: str | None) -> None:
    if on_database(lambda db: repo.set_feed_status(db, feed_id, status, reason)) is None:
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
    if not on_database(lambda db: repo.delete_feed(db, feed_id)):
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
    typer.echo(on_database(lambda db: repo.create_api_key(db, name, datetime.now(UTC))))


@apikeys.command("list")
def apikeys_list() -> None:
    for k in on_database(repo.list_api_keys):
        state = "revoked" if k["revoked"] else "active"
        typer.echo(f"{k['_id']}  {state:<7}  {k['created_at']:%Y-%m-%d}  {k['name']}")


@apikeys.command("revoke")
def apikeys_revoke(key_id: str) -> None:
    if not on_database(lambda db: repo.revoke_api_key(db, key_id)):
        raise typer.BadParameter(f"no key {key_id!r}")
    typer.echo(f"{key_id} revoked")


# ----------------------------------------------------------------------------- import


def read_articles(path: Path, errors: list[str]) -> Iterator[ArticleIn]:
    """Articles of the shared benchmark format; the gold ``story`` label is never read. A line that
    is not a valid article is named in ``errors`` and the rest are read."""
    skipped: list[JsonlError] = []
    for number, row in numbered_jsonl(path, skipped=skipped):
        errors.extend(f"line {e.line}: {e.message}" for e in skipped)
        skipped.clear()
        row.pop("story", None)
        try:
            yield ArticleIn.model_validate(row)
        except ValidationError as exc:  # "title: the title has no text once HTML markup is removed"
            errors.append(f"line {number}: {describe(exc, row, root='article')[:300]}")
    errors.extend(f"line {e.line}: {e.message}" for e in skipped)


def prepared_batches(path: Path, batch_size: int, errors: list[str]) -> Iterator[list[Prepared]]:
    batch: list[ArticleIn] = []
    for article in read_articles(path, errors):
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


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Entry point ``tellwell.cli``: add ingest's commands to the `tellwell` CLI."""
    app.add_typer(feeds, name="feeds")
    app.add_typer(sources, name="sources")
    app.add_typer(apikeys, name="apikeys")
    app.command("import")(import_command)
