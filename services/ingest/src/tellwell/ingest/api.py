"""Ingest's write API (behind API keys): push articles, manage feeds, edit the source registry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tellwell.common.events import Lean
from tellwell.common.http import HTTPProblem, field_errors, invalid_request
from tellwell.common.sources import Source, credibility_weight
from tellwell.ingest import repository as repo
from tellwell.ingest.domain import ArticleIn, prepare
from tellwell.ingest.feeds import FeedIn, FeedRefused, check_feed_address, new_feed_doc
from tellwell.ingest.pipeline import Ingestor
from tellwell.ingest.registry import registrable_domain, unrated_source


def get_db(request: Request) -> repo.DB:
    return request.app.state.db  # type: ignore[no-any-return]


def get_ingestor(request: Request) -> Ingestor:
    return request.app.state.ingestor  # type: ignore[no-any-return]


DBDep = Annotated[repo.DB, Depends(get_db)]
IngestorDep = Annotated[Ingestor, Depends(get_ingestor)]


async def require_key(
    db: DBDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    secret = x_api_key or (
        authorization[7:] if authorization and authorization.lower().startswith("bearer ") else None
    )
    if not secret:
        raise HTTPProblem(401, "An API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'.")
    key = await repo.verify_api_key(db, secret.strip())
    if key is None:
        raise HTTPProblem(401, "The API key is not valid or was revoked.")
    return key


router = APIRouter(prefix="/v1", dependencies=[Depends(require_key)])

# ----------------------------------------------------------------------------- articles


class ArticleOutcome(BaseModel):
    article_id: str
    status: Literal["created", "duplicate"]
    copy_of: str | None = None


class PushResult(BaseModel):
    created: int
    duplicates: int
    copies: int
    articles: list[ArticleOutcome]


@router.post("/articles", status_code=202, response_model=PushResult, tags=["articles"])
async def push_articles(
    request: Request,
    ingestor: IngestorDep,
    body: Annotated[ArticleIn | list[ArticleIn], Body(description="One article or a batch.")],
) -> PushResult:
    """Store one article or a batch and emit ``raw.article`` for each new one."""
    items = body if isinstance(body, list) else [body]
    limit: int = request.app.state.settings.max_batch
    if not items:
        raise HTTPProblem(422, "The batch is empty.")
    if len(items) > limit:
        raise HTTPProblem(413, f"At most {limit} articles per request; got {len(items)}.")
    now = datetime.now(UTC)
    prepared = [prepare(item, now=now, content_source="push") for item in items]
    result = await ingestor.ingest(prepared)
    created = set(result.created)
    outcomes = [
        ArticleOutcome(
            article_id=p.article_id,
            status="created" if p.article_id in created else "duplicate",
            copy_of=result.copies.get(p.article_id),
        )
        for p in prepared
    ]
    return PushResult(
        created=len(created),
        duplicates=len(prepared) - len(created),
        copies=len(result.copies),
        articles=outcomes,
    )


@router.get("/articles/{article_id}", tags=["articles"])
async def get_article(article_id: str, db: DBDep) -> dict[str, Any]:
    doc = await repo.get_article(db, article_id)
    if doc is None:
        raise HTTPProblem(404, f"No article {article_id!r}.")
    doc["article_id"] = doc.pop("_id")
    return doc


# ----------------------------------------------------------------------------- feeds


class FeedOut(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(validation_alias="_id")
    url: str
    category: str | None = None
    language: str | None = None
    kind: str
    interval_s: int
    status: str
    paused_reason: str | None = None
    last_status: str | None = None
    last_error: str | None = None
    last_http_status: int | None = None
    last_fetched_at: datetime | None = None
    next_poll_at: datetime | None = None
    failures: int = 0
    entries_seen: int = 0
    articles_added: int = 0


class FeedPage(BaseModel):
    feeds: list[FeedOut]
    next_after: str | None


@router.post("/feeds", status_code=201, response_model=FeedOut, tags=["feeds"])
async def add_feed(feed: FeedIn, db: DBDep, request: Request) -> FeedOut:
    """Register a feed; one at a non-public address (see ``check_feed_address``) is a 422."""
    config = request.app.state.settings
    try:
        await check_feed_address(feed.url, allow_hosts=config.fetch_allow_hosts)
    except FeedRefused as exc:
        raise invalid_request([{"field": "url", "message": str(exc)}]) from None
    doc = new_feed_doc(feed, datetime.now(UTC), config.default_interval_s)
    if not await repo.add_feeds(db, [doc]):
        raise HTTPProblem(
            409, f"The feed {doc['url']} is already registered as {doc['_id']}.", feed_id=doc["_id"]
        )
    return FeedOut.model_validate(doc)


@router.get("/feeds", response_model=FeedPage, tags=["feeds"])
async def list_feeds(
    db: DBDep,
    status: Annotated[Literal["active", "paused"] | None, Query()] = None,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FeedPage:
    docs = await repo.list_feeds(db, status=status, after=after, limit=limit)
    return FeedPage(
        feeds=[FeedOut.model_validate(d) for d in docs],
        next_after=docs[-1]["_id"] if len(docs) == limit else None,
    )


async def _feed_or_404(db: repo.DB, feed_id: str) -> dict[str, Any]:
    doc = await repo.get_feed(db, feed_id)
    if doc is None:
        raise HTTPProblem(404, f"No feed {feed_id!r}.")
    return doc


@router.get("/feeds/{feed_id}", response_model=FeedOut, tags=["feeds"])
async def get_feed(feed_id: str, db: DBDep) -> FeedOut:
    return FeedOut.model_validate(await _feed_or_404(db, feed_id))


@router.post("/feeds/{feed_id}/pause", response_model=FeedOut, tags=["feeds"])
async def pause_feed(feed_id: str, db: DBDep) -> FeedOut:
    await _feed_or_404(db, feed_id)
    return FeedOut.model_validate(await repo.set_feed_status(db, feed_id, "paused", "paused by an operator"))


@router.post("/feeds/{feed_id}/resume", response_model=FeedOut, tags=["feeds"])
async def resume_feed(feed_id: str, db: DBDep) -> FeedOut:
    await _feed_or_404(db, feed_id)
    return FeedOut.model_validate(await repo.set_feed_status(db, feed_id, "active"))


@router.delete("/feeds/{feed_id}", status_code=204, tags=["feeds"])
async def remove_feed(feed_id: str, db: DBDep) -> None:
    if not await repo.delete_feed(db, feed_id):
        raise HTTPProblem(404, f"No feed {feed_id!r}.")


# ----------------------------------------------------------------------------- sources


class SourcePage(BaseModel):
    sources: list[Source]
    next_after: str | None


class SourcePatch(BaseModel):
    """Fields of a source an editor may change; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    country: str | None = None
    lean: Lean | None = None
    factuality: (
        Literal["very_high", "high", "mostly_factual", "mixed", "low", "very_low", "unrated"] | None
    ) = None
    credibility: float | None = Field(default=None, ge=0.0, le=1.0)
    owner_group: str | None = None
    owner: str | None = None
    typology: str | None = None


def _domain(raw: str) -> str:
    domain = registrable_domain(raw)
    if domain is None:
        raise HTTPProblem(422, f"{raw!r} is not a registrable domain.")
    return domain


@router.get("/sources", response_model=SourcePage, tags=["sources"])
async def list_sources(
    db: DBDep,
    after: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SourcePage:
    sources = await repo.list_sources(db, after=after, limit=limit)
    return SourcePage(sources=sources, next_after=sources[-1].domain if len(sources) == limit else None)


@router.get("/sources/{domain}", response_model=Source, tags=["sources"])
async def get_source(domain: str, db: DBDep) -> Source:
    source = await repo.get_source(db, _domain(domain))
    if source is None:
        raise HTTPProblem(404, f"No source {domain!r} in the registry.")
    return source


@router.patch("/sources/{domain}", response_model=Source, tags=["sources"])
async def edit_source(domain: str, patch: SourcePatch, db: DBDep) -> Source:
    """Edit a source (creating it as unrated first if it is new); the change is marked ``api``."""
    key = _domain(domain)
    current = await repo.get_source(db, key)
    if current is None:
        current = unrated_source(key)
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("factuality") is not None and "credibility" not in changes:
        changes["credibility"] = credibility_weight(changes["factuality"])
    origins = sorted({*current.origins, "api"})
    try:
        updated = Source.model_validate(current.model_dump() | changes | {"origins": origins})
    except ValidationError as exc:  # e.g. an explicit null for a field a source must have
        raise invalid_request(field_errors(exc.errors(), body=changes, request_loc=False)) from None
    await repo.replace_source(db, updated)
    return updated
