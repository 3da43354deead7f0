"""A story's history: what a reader would notice changed from one version of its view to the next.

Pure: ``snapshot_of`` keeps what of a view a reader compares (title, summary, category, confidence
and the support of each claim, the sources, the summary's figures, a merge), and ``story_changes``
says what changed between two snapshots, in words (``StoryChange``). Score computes the changes
when it writes a version, stores them in the story's history and sends them on ``story.scored``;
the gateway lists them (``/v1/stories/{id}/versions``, ``/stories/{id}/history``).

Example::

    changes = story_changes(previous_snapshot, snapshot_of(view))
    # [StoryChange(kind='sources_added', text='+3 sources: Reuters, BBC, AP', ...),
    #  StoryChange(kind='confidence', text='Confidence 62 % → 81 %: ...', ...)]
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from tellwell.common.events import StoryChange, StoryScored
from tellwell.common.figures import agree, quantities
from tellwell.common.views import prose

#: Names listed in a change before "and N more".
NAMED = 5
#: Confidence moves smaller than this many points are rounding, not news.
CONFIDENCE_STEP = 1.0
#: Claims named in a confidence change.
CLAIMS_NAMED = 3


class Snapshot(BaseModel):
    """What a reader compares between two versions of a story."""

    version: int
    title: str
    summary: str
    category: str
    confidence: float
    support: dict[str, int] = Field(description="Claim -> independent reports stating it.")
    sources: dict[str, str] = Field(description="Domain -> the outlet's name.")
    figures: list[str] = Field(description="The summary's figures, as written.")
    merged_into: str | None = None


def snapshot_of(view: StoryScored) -> Snapshot:
    summary = prose(view.summary)
    confidence = view.confidence
    support = {
        claim: sum(1 for report in confidence.reports if i in report.supports)
        for i, claim in enumerate(confidence.claims)
    }
    sources: dict[str, str] = {}
    for article in view.articles:
        sources.setdefault(article.source, article.source_name or article.source)
    return Snapshot(
        version=view.version,
        title=view.title,
        summary=summary,
        category=view.category.value,
        confidence=confidence.value,
        support=support,
        sources=sources,
        figures=[q.text for q in quantities(summary, years=False)],
        merged_into=view.merged_into,
    )


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:NAMED])
    return shown + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _sources_changes(old: Snapshot, new: Snapshot) -> list[StoryChange]:
    out = []
    added = sorted(set(new.sources) - set(old.sources), key=lambda d: new.sources[d].lower())
    removed = sorted(set(old.sources) - set(new.sources), key=lambda d: old.sources[d].lower())
    if added:
        names = [new.sources[d] for d in added]
        text = f"+{_plural(len(added), 'source')}: {_names(names)}"
        out.append(StoryChange(kind="sources_added", text=text, sources=added))
    if removed:
        names = [old.sources[d] for d in removed]
        text = f"\u2212{_plural(len(removed), 'source')}: {_names(names)}"
        out.append(StoryChange(kind="sources_removed", text=text, sources=removed))
    return out


def _confidence_change(old: Snapshot, new: Snapshot) -> StoryChange | None:
    if abs(new.confidence - old.confidence) < CONFIDENCE_STEP:
        return None
    moved = [
        (claim, old.support.get(claim, 0), count)
        for claim, count in new.support.items()
        if count != old.support.get(claim, 0)
    ]
    moved.sort(key=lambda m: -abs(m[2] - m[1]))
    why = [
        f"“{claim}” now stated by {_plural(after, 'report')} (was {before})"
        for claim, before, after in moved[:CLAIMS_NAMED]
    ]
    text = f"Confidence {old.confidence:.0f} % → {new.confidence:.0f} %"
    if why:
        text += ": " + "; ".join(why)
    elif new.sources != old.sources:
        text += ": the sources changed"
    return StoryChange(
        kind="confidence",
        text=text,
        before=f"{old.confidence:.0f}",
        after=f"{new.confidence:.0f}",
        claims=[claim for claim, _, _ in moved[:CLAIMS_NAMED]],
    )


def _figures_change(old: Snapshot, new: Snapshot) -> StoryChange | None:
    """Figures the summary states now that it did not before (and the other way), rounding aside."""
    old_q = [q for f in old.figures for q in quantities(f, years=False)]
    new_q = [q for f in new.figures for q in quantities(f, years=False)]
    gone = [q.text for q in old_q if not any(agree(q, n) for n in new_q)]
    came = [q.text for q in new_q if not any(agree(q, o) for o in old_q)]
    if not gone or not came:  # a figure only added or only dropped is the summary's rewrite
        return None
    text = f"Figures revised: {', '.join(gone)} → {', '.join(came)}"
    return StoryChange(kind="figures", text=text, before=", ".join(gone), after=", ".join(came))


def story_changes(old: Snapshot | None, new: Snapshot) -> list[StoryChange]:
    """What changed from ``old`` (the previous version; None for a story's first) to ``new``."""
    if old is None:
        text = f"First published, from {_plural(len(new.sources), 'source')}"
        return [StoryChange(kind="created", text=text, after=new.title, sources=sorted(new.sources))]
    out: list[StoryChange] = []
    if new.merged_into and new.merged_into != old.merged_into:
        out.append(StoryChange(kind="merged", text="Merged into another story", story_id=new.merged_into))
        return out
    out += _sources_changes(old, new)
    confidence = _confidence_change(old, new)
    if confidence is not None:
        out.append(confidence)
    if new.title != old.title:
        text = f"Title rewritten: “{old.title}” → “{new.title}”"
        out.append(StoryChange(kind="title", text=text, before=old.title, after=new.title))
    if new.summary != old.summary:
        out.append(
            StoryChange(kind="summary", text="Summary rewritten", before=old.summary, after=new.summary)
        )
    figures = _figures_change(old, new)
    if figures is not None:
        out.append(figures)
    if new.category != old.category:
        text = f"Category: {old.category} → {new.category}"
        out.append(StoryChange(kind="category", text=text, before=old.category, after=new.category))
    return out


# ---------------------------------------------------------------- the stored history (score's)

#: One document per story (``_id`` = story id), written by score, read by the gateway.
STORY_HISTORY = "story_history"
#: Versions a story's history keeps; older ones leave first (counted in ``dropped``).
HISTORY_MAX = 200


class Entry(BaseModel):
    """One version of a story as its history lists it."""

    version: int
    at: AwareDatetime
    title: str
    confidence: float
    source_count: int
    changes: list[StoryChange]


class History(BaseModel):
    """A story's versions, oldest first, and the snapshot of the newest (what the next one is
    compared with). Stored as one JSON string: FerretDB 1.x cannot store nested arrays."""

    story_id: str
    version: int
    last: Snapshot
    entries: list[Entry]
    dropped: int = 0

    def to_document(self) -> dict[str, Any]:
        """``versions`` beside the JSON: what a story page shows ("updated N times") without it."""
        versions = len(self.entries) + self.dropped
        return {
            "_id": self.story_id,
            "version": self.version,
            "versions": versions,
            "history": self.model_dump_json(),
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> History:
        return cls.model_validate_json(doc["history"])

    def entry(self, version: int) -> Entry | None:
        return next((e for e in reversed(self.entries) if e.version == version), None)


def changes_for(history: History | None, snapshot: Snapshot) -> list[StoryChange]:
    """The changes of a version (its ``snapshot``) against the history stored so far (a redelivered
    version gets the changes it was stored with; a version older than the history's newest, none:
    it is stale)."""
    if history is None:
        return story_changes(None, snapshot)
    if history.version == snapshot.version:
        entry = history.entry(snapshot.version)
        return list(entry.changes) if entry is not None else []
    if history.version > snapshot.version:
        return []
    return story_changes(history.last, snapshot)


def with_version(
    history: History | None, view: StoryScored, at: datetime, snapshot: Snapshot | None = None
) -> History | None:
    """The history with ``view`` (which carries its ``changes``; ``snapshot`` is its snapshot when
    the caller has it) appended; None when it holds this version or a newer one already."""
    if history is not None and history.version >= view.version:
        return None
    entry = Entry(
        version=view.version,
        at=at,
        title=view.title,
        confidence=view.confidence.value,
        source_count=view.source_count,
        changes=view.changes or [],
    )
    entries = [*(history.entries if history else []), entry]
    dropped = history.dropped if history else 0
    if len(entries) > HISTORY_MAX:
        dropped += len(entries) - HISTORY_MAX
        entries = entries[-HISTORY_MAX:]
    return History(
        story_id=view.story_id,
        version=view.version,
        last=snapshot or snapshot_of(view),
        entries=entries,
        dropped=dropped,
    )


__all__ = [
    "HISTORY_MAX",
    "STORY_HISTORY",
    "Entry",
    "History",
    "Snapshot",
    "changes_for",
    "snapshot_of",
    "story_changes",
    "with_version",
]
