"""An article as its readers take it from ingest's ``articles`` collection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """The fields of a stored article that summarize and score both read. Each service's own
    article type (``summarize.domain.Article``, ``score.domain.Member``) adds what only it needs.

    Example Snippet::

        @dataclass(frozen=True)
        class Article(StoredArticle):
            lean: Lean = Lean.unrated
    """

    article_id: str
    url: str
    source: str
    title: str
    published_at: datetime
    text: str = ""
    lead: str = ""
    source_name: str | None = None
