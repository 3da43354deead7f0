"""The API's request and response shapes (documentation in the OpenAPI schema).

Responses are sent as pre-serialised bytes; these models describe them for clients.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tellwell.common.events import ArticleRef, Category
from tellwell.common.history import Entry
from tellwell.common.sources import Source
from tellwell.gateway.domain import LeanFilter, Sort


class FeedParams(BaseModel):
    """Query string of the feed (API and web page). Empty values count as absent."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sort: Sort = Field(
        default="hot",
        description="`hot` (ranking), `new` (newest article first) or `relevance` (best matches of `q` "
        "first; without `q` the same as `hot`).",
    )
    category: Category | None = Field(default=None, description="Only stories of this category.")
    lean: LeanFilter | None = Field(
        default=None,
        description="`left`, `center`, `right`: stories with coverage from that side; "
        "`blindspot`: stories covered almost only by one side.",
    )
    min_confidence: float | None = Field(default=None, ge=0, le=100, description="Percent, 0-100.")
    since: str | None = Field(
        default=None,
        max_length=40,
        description="Newest article at or after this time: ISO 8601 (`2026-03-02T10:00:00Z`) "
        "or a look-back (`90m`, `24h`, `7d`).",
    )
    source: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[a-z0-9][a-z0-9.-]*\.[a-z0-9-]+$",
        description="Only stories covered by this source domain, e.g. `reuters.com`.",
    )
    language: str | None = Field(
        default=None,
        pattern=r"^([a-z]{2,3}|und)$",
        description="Only stories in this language: an ISO 639 code as articles carry it (`en`, `de`; "
        "`und` for undetermined).",
    )
    q: str | None = Field(
        default=None,
        max_length=200,
        description="Words (at most 8): a story matches when each starts a word of its title, summary "
        "or entity names, ignoring case and accents (`chil quake` finds 'Quake hits central Chile').",
    )
    cursor: str | None = Field(
        default=None, max_length=512, description="`next_cursor` of the previous page, as returned."
    )
    limit: int | None = Field(default=None, ge=1, le=100, description="Stories per page (default 20).")

    @field_validator("*", mode="before")
    @classmethod
    def blank_is_absent(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("source", "language", mode="before")
    @classmethod
    def lower_domain(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class LeanShares(BaseModel):
    left: float
    center: float
    right: float
    unrated: int


class StoryCard(BaseModel):
    """A story's compact facts, as the feed lists it (and the stream announces it)."""

    id: str
    version: int
    title: str
    summary: str
    category: Category
    language: str = Field(description="ISO 639 code of the story's articles (`und`: undetermined).")
    confidence: float = Field(description="Percent of independent, credible corroboration.")
    lean: LeanShares
    blindspot: str | None
    source_count: int
    article_count: int
    sources: list[str] = Field(
        description="At most five source domains, most credible first; the story lists every source."
    )
    hotness: float
    first_published_at: str
    last_published_at: str
    updated_at: str
    merged_into: str | None
    url: str = Field(description="This story in the API.")
    page_url: str = Field(description="This story's web page.")


class FeedPage(BaseModel):
    items: list[StoryCard]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


class VersionsPage(BaseModel):
    story_id: str
    items: list[Entry] = Field(description="The story's versions, newest first, each with what changed.")
    next_cursor: str | None = Field(description="Pass as `cursor` for older versions; null at the end.")
    dropped: int = Field(description="Versions older than the history keeps (it holds the last 200).")


class ArticlesPage(BaseModel):
    story_id: str
    items: list[ArticleRef]


class SourcesPage(BaseModel):
    items: list[Source]
    next_cursor: str | None


class CategoryCount(BaseModel):
    id: Category
    label: str
    count: int = Field(description="Live stories in this category.")
