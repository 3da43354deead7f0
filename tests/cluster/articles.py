"""Articles for the cluster tests: two stories told in headlines (a missing plane, oil prices)."""

from datetime import UTC, datetime, timedelta

from tellwell.cluster.batch import ArticleIn
from tellwell.cluster.domain import Params

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
PARAMS = Params()


def article(
    aid: str, title: str, *, minutes: float = 0, copy_of: str | None = None, lang: str = "en"
) -> ArticleIn:
    """A headline-only article from ``example.com``, ``minutes`` after ``T0``."""
    return ArticleIn(
        article_id=aid,
        title=title,
        text="",
        lead="",
        language=lang,
        published_at=T0 + timedelta(minutes=minutes),
        source="example.com",
        copy_of=copy_of,
    )


PLANE = [
    article("p1", "Malaysia Airlines plane missing over South China Sea", minutes=0),
    article("p2", "Malaysia Airlines plane missing: search over South China Sea", minutes=5),
    article("p3", "Search for missing Malaysia Airlines plane widens", minutes=10),
]
OIL = [
    article("o1", "Oil prices fall as OPEC output rises", minutes=3),
    article("o2", "Oil prices fall further as OPEC output rises again", minutes=8),
]
