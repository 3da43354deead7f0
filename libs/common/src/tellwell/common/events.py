"""Event contracts: one frozen pydantic model per topic, sharing one envelope.

Every message on a TellWell topic is JSON of one of these models. Compatibility rules:
adding an optional field is compatible; renaming, removing or retyping a field is not and goes
to a new ``.v2`` topic. ``tests/common/test_contract.py`` enforces this against the snapshot
committed under ``docs/schemas/``.

Example::

    from tellwell.common.events import RawArticle, parse_event
    event = parse_event(message_bytes)          # any topic's payload, dispatched on ``type``
    assert isinstance(event, RawArticle)
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from tellwell.common.topics import Topic

SCHEMA_VERSION = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class Lean(StrEnum):
    """Political lean of a source, on the registry's five-point scale."""

    left = "left"
    lean_left = "lean_left"
    center = "center"  # type: ignore[assignment]  # shadows str.center; the domain word wins
    lean_right = "lean_right"
    right = "right"
    unrated = "unrated"


class Category(StrEnum):
    """The fixed story taxonomy."""

    world = "world"
    politics = "politics"
    business = "business"
    technology = "technology"
    science = "science"
    health = "health"
    sports = "sports"
    entertainment = "entertainment"
    publications = "publications"
    general = "general"


class ChangeKind(StrEnum):
    """What happened to a story's membership."""

    created = "created"
    grew = "grew"
    merged = "merged"


class Model(BaseModel):
    """Base of every nested contract model: immutable, strict about unknown fields on output."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(Model):
    """The envelope every TellWell message carries."""

    event_id: UUID = Field(default_factory=uuid4, description="Unique per message; redeliveries keep it.")
    schema_version: int = Field(default=SCHEMA_VERSION, description="Payload schema version.")
    occurred_at: AwareDatetime = Field(
        default_factory=utcnow, description="When the producer emitted it (UTC)."
    )
    producer: str = Field(description="Service that emitted the event, e.g. 'ingest'.")
    trace_id: str = Field(default_factory=lambda: uuid4().hex, description="Carried across the pipeline.")


# ---------------------------------------------------------------- raw.article


class RawArticle(Event):
    """One stored article. Emitted by **ingest** after the article is durably stored in MongoDB.

    Topic ``raw.article``, key ``article_id``. Re-emitted unchanged on replays; consumers must be
    idempotent on ``article_id``. A syndicated copy (wire story, reprint) carries ``copy_of``.
    """

    type: Literal[Topic.raw_article] = Topic.raw_article
    article_id: str = Field(description="Stable id derived from the canonical URL.")
    url: str = Field(description="Canonical URL (tracking parameters removed, rel=canonical honoured).")
    source: str = Field(description="Registrable domain of the publisher, e.g. 'reuters.com'.")
    source_name: str | None = Field(default=None, description="Display name of the source.")
    title: str
    text: str = Field(default="", description="Clean main text; may be empty for headline-only items.")
    lead: str = Field(default="", description="First paragraph or feed summary.")
    language: str = Field(default="und", description="BCP-47 primary language tag, 'und' when unknown.")
    published_at: AwareDatetime
    fetched_at: AwareDatetime
    authors: list[str] = Field(default_factory=list)
    fingerprint: str = Field(
        description="Hash of the normalised title and text, 16 hex digits: equal for identical texts."
    )
    copy_of: str | None = Field(default=None, description="article_id of the origin when this is a copy.")
    category_hint: str | None = Field(default=None, description="Category suggested by the feed.")
    feed_id: str | None = None
    content_source: Literal["page", "feed", "push", "import"] = Field(
        default="page",
        description="Where the text came from: fetched page, feed summary, push API, bulk import.",
    )


# ---------------------------------------------------------------- story.cluster


class RelatedStory(Model):
    """A story near but below the join threshold.

    Cluster sets ``story_id`` and ``score``; score fills the display fields from the related
    story's current view (absent until that story has a view).
    """

    story_id: str
    score: float = Field(ge=-1.0, le=1.0)
    title: str | None = None
    summary: str | None = Field(default=None, description="The related story's first summary sentence.")
    confidence: float | None = Field(default=None, ge=0.0, le=100.0)
    source_count: int | None = Field(default=None, ge=0)
    category: Category | None = None
    last_published_at: AwareDatetime | None = None


class StoryCluster(Event):
    """A story's membership changed. Emitted by **cluster**.

    Topic ``story.cluster`` (compacted), key ``story_id``. ``version`` increases by one with every
    change; consumers ignore versions they have applied. On ``merged`` the surviving story lists
    the absorbed ids in ``merged_from``; each absorbed story gets a final event with
    ``merged_into`` set.
    """

    type: Literal[Topic.story_cluster] = Topic.story_cluster
    story_id: str
    version: int = Field(ge=1)
    change: ChangeKind
    member_ids: list[str] = Field(description="All member article ids, oldest first.")
    added_ids: list[str] = Field(default_factory=list, description="Members added by this change.")
    merged_from: list[str] = Field(default_factory=list, description="Story ids absorbed by this change.")
    merged_into: str | None = Field(default=None, description="Set on a story that was absorbed.")
    language: str = "und"
    first_published_at: AwareDatetime
    last_published_at: AwareDatetime
    related: list[RelatedStory] = Field(default_factory=list)


# ---------------------------------------------------------------- story.summary


class GroundedSentence(Model):
    """A sentence of generated text with the member articles it was taken from."""

    text: str
    article_ids: list[str] = Field(min_length=1)


class Perspective(Model):
    """What one source (or one lean group) said: its angle, linked to its article."""

    source: str = Field(description="Source domain, or a lean group name when grouped.")
    source_name: str | None = None
    lean: Lean = Lean.unrated
    article_id: str
    url: str
    text: str


class GapKind(StrEnum):
    """Kinds of 'What's missing' items."""

    lean_not_covering = "lean_not_covering"
    single_source_claim = "single_source_claim"
    conflicting_figures = "conflicting_figures"
    no_primary_source = "no_primary_source"
    single_source_story = "single_source_story"


class Gap(Model):
    """One item of What's missing."""

    kind: GapKind
    text: str
    article_ids: list[str] = Field(default_factory=list)


REWRITE_PREFIX = "llm:"


def is_rewrite(method: str) -> bool:
    """A language-model rewrite of a summary (method ``llm:<model>``), not the extractive summary."""
    return method.startswith(REWRITE_PREFIX)


def summary_rank(version: int, method: str) -> tuple[int, int]:
    """How the summaries of one story order, for every service: by the cluster version summarised,
    then a language-model rewrite above the extractive summary of the same version (never the
    reverse). Summarize stores by it; score derives its view versions from it."""
    return version, int(is_rewrite(method))


class StorySummary(Event):
    """The neutral account of a story. Emitted by **summarize**.

    Topic ``story.summary`` (compacted), key ``story_id``. ``version`` is the ``story.cluster``
    version that was summarised; a summary of an older version never replaces a newer one, and a
    rewrite (``method`` ``llm:*``) ranks above the extractive summary of its version
    (``summary_rank``).
    """

    type: Literal[Topic.story_summary] = Topic.story_summary
    story_id: str
    version: int = Field(ge=1)
    title: str
    summary: list[GroundedSentence] = Field(description="2-4 sentences: what happened.")
    body: list[list[GroundedSentence]] = Field(description="1-3 paragraphs of sentences.")
    category: Category
    perspectives: list[Perspective] = Field(default_factory=list)
    missing: list[Gap] = Field(default_factory=list)
    method: str = Field(description="How the text was made, e.g. 'extractive-v1'.")
    member_ids: list[str] = Field(
        default_factory=list, description="The members of the summarised cluster version, oldest first."
    )
    merged_into: str | None = Field(default=None, description="Set when the story was absorbed.")
    language: str = "und"
    first_published_at: AwareDatetime | None = None
    last_published_at: AwareDatetime | None = None
    related: list[RelatedStory] = Field(default_factory=list, description="As clustering left them.")


# ---------------------------------------------------------------- story.scored


class CollapsedArticle(Model):
    """A member article that did not count as an independent report, and why."""

    article_id: str
    into_report: str
    reason: Literal["copy", "same_source", "same_owner"]


class IndependentReport(Model):
    """One independent voice: an origin article with its copies, sources and owner group."""

    report_id: str
    article_ids: list[str]
    sources: list[str]
    owner_group: str | None = None
    credibility: float = Field(ge=0.0, le=1.0, description="Weight from the source's factuality.")
    primary: bool = Field(default=False, description="The report is the primary source itself.")
    supports: list[int] = Field(default_factory=list, description="Indexes into Confidence.claims.")
    contradicts: list[int] = Field(
        default_factory=list,
        description="Indexes into Confidence.claims that the report states differently (e.g. other figures).",
    )


class Confidence(Model):
    """The confidence figure with everything needed to recompute it."""

    value: float = Field(ge=0.0, le=100.0, description="Percent.")
    method: str
    claims: list[str] = Field(description="The claims that were checked (v3: the title's event first).")
    core: list[int] | None = Field(
        default=None,
        description="Indexes into claims that count as core facts (v3: the title's event and claims that "
        "two independent reports or a primary source state); derivable from reports.",
    )
    reports: list[IndependentReport]
    collapsed: list[CollapsedArticle] = Field(default_factory=list)
    single_source: bool = False
    explanation: str = ""


class LeanDistribution(Model):
    """Coverage by lean over independent reports with a rated lean."""

    left: float = Field(ge=0.0, le=1.0, description="Share of left + lean_left.")
    center: float = Field(ge=0.0, le=1.0)
    right: float = Field(ge=0.0, le=1.0, description="Share of right + lean_right.")
    unrated: int = Field(ge=0, description="Independent reports whose lean is unrated.")
    counts: dict[Lean, int] = Field(default_factory=dict)


class Blindspot(Model):
    """Set when a story is covered almost only by one side."""

    side: Literal["left", "center", "right"]
    share: float = Field(ge=0.0, le=1.0)


class ArticleRef(Model):
    """A member article as the story page lists it."""

    article_id: str
    url: str
    title: str
    source: str
    source_name: str | None = None
    lean: Lean = Lean.unrated
    published_at: AwareDatetime
    copy_of: str | None = None


StoryChangeKind = Literal[
    "created",
    "sources_added",
    "sources_removed",
    "confidence",
    "title",
    "summary",
    "figures",
    "category",
    "merged",
]


class StoryChange(Model):
    """One thing a reader would notice changed since the story's previous version."""

    kind: StoryChangeKind
    text: str = Field(description="In a reader's words, e.g. '+3 sources: Reuters, BBC, AP'.")
    before: str | None = Field(default=None, description="The old value (a title, a figure, a percent).")
    after: str | None = None
    sources: list[str] = Field(default_factory=list, description="Domains added or removed.")
    claims: list[str] = Field(
        default_factory=list, description="For 'confidence': the claims whose support changed."
    )
    story_id: str | None = Field(default=None, description="For 'merged': the story it was merged into.")


class StoryScored(Event):
    """The full story view: what the feed and the story page show. Emitted by **score**.

    Topic ``story.scored`` (compacted), key ``story_id``; a new subscriber reading from offset 0
    gets the latest view of every live story. A story absorbed by a merge gets a last event with
    ``merged_into`` set: follow that id.
    """

    type: Literal[Topic.story_scored] = Topic.story_scored
    story_id: str
    version: int = Field(ge=1, description="Increases with every new view of the story.")
    cluster_version: int = Field(ge=1)
    merged_into: str | None = None
    title: str
    summary: list[GroundedSentence]
    body: list[list[GroundedSentence]]
    category: Category
    language: str = "und"
    perspectives: list[Perspective] = Field(default_factory=list)
    missing: list[Gap] = Field(default_factory=list)
    confidence: Confidence
    lean: LeanDistribution
    source_count: int = Field(ge=0)
    article_count: int = Field(ge=0)
    blindspot: Blindspot | None = None
    hotness: float = Field(ge=0.0)
    first_published_at: AwareDatetime
    last_published_at: AwareDatetime
    articles: list[ArticleRef] = Field(default_factory=list)
    related: list[RelatedStory] = Field(default_factory=list)
    changes: list[StoryChange] | None = Field(
        default=None,
        description="What changed since the previous version of the story ('created' for the first); "
        "absent on views scored before story history existed.",
    )


AnyEvent = Annotated[RawArticle | StoryCluster | StorySummary | StoryScored, Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter[RawArticle | StoryCluster | StorySummary | StoryScored] = TypeAdapter(AnyEvent)

EVENT_BY_TOPIC: dict[Topic, type[Event]] = {
    Topic.raw_article: RawArticle,
    Topic.story_cluster: StoryCluster,
    Topic.story_summary: StorySummary,
    Topic.story_scored: StoryScored,
}


def parse_event(data: bytes | str) -> RawArticle | StoryCluster | StorySummary | StoryScored:
    """Parse any TellWell message, dispatching on its ``type`` field."""
    return EVENT_ADAPTER.validate_json(data)


__all__ = [
    "EVENT_ADAPTER",
    "EVENT_BY_TOPIC",
    "REWRITE_PREFIX",
    "AnyEvent",
    "ArticleRef",
    "Blindspot",
    "Category",
    "ChangeKind",
    "CollapsedArticle",
    "Confidence",
    "Event",
    "Gap",
    "GapKind",
    "GroundedSentence",
    "IndependentReport",
    "Lean",
    "LeanDistribution",
    "Perspective",
    "RawArticle",
    "RelatedStory",
    "StoryChange",
    "StoryChangeKind",
    "StoryCluster",
    "StoryScored",
    "StorySummary",
    "is_rewrite",
    "parse_event",
    "summary_rank",
]
