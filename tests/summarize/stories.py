"""Real-shaped multi-source stories for the summarize tests (written for the tests, in the style
of wire copy, broadcaster and partisan outlets: datelines, bylines, newsletter plugs, credits)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from tellwell.common.events import Lean
from tellwell.summarize.domain import Article

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

WIRE = (
    "SANTIAGO (Reuters) - A magnitude 7.1 earthquake struck central Chile on Monday, killing at least "
    "12 people and damaging hundreds of homes, the country's disaster agency said. "
    "The quake hit at 3:42 a.m. local time about 40 km (25 miles) north of the port city of "
    "Valparaiso, according to the U.S. Geological Survey. "
    "President Gabriel Boric said rescue teams were searching collapsed buildings in the region. "
    '"We are deploying every resource we have," Boric told reporters in Santiago. '
    "A tsunami warning issued by the navy was lifted two hours later.\n"
    "Reporting by Natalia Ramos; Editing by Peter Graff"
)

QUAKE = [
    Article(
        article_id="a-reuters",
        url="https://www.reuters.com/world/americas/chile-quake",
        source="reuters.com",
        source_name="Reuters",
        lean=Lean.center,
        title="Magnitude 7.1 earthquake kills 12 in central Chile - Reuters",
        text=WIRE,
        published_at=T0,
        category_hint="World",
    ),
    Article(  # a syndicated copy of the wire story
        article_id="a-copy",
        url="https://www.usnews.com/news/world/articles/chile-quake",
        source="usnews.com",
        source_name="U.S. News",
        lean=Lean.lean_left,
        title="Magnitude 7.1 Earthquake Kills 12 in Central Chile | U.S. News",
        text="By Reuters\n" + WIRE + "\nSign up for our newsletter to get the latest world news.",
        published_at=T0 + timedelta(minutes=20),
        copy_of="a-reuters",
    ),
    Article(
        article_id="a-bbc",
        url="https://www.bbc.co.uk/news/world-latin-america-1",
        source="bbc.co.uk",
        source_name="BBC News",
        lean=Lean.lean_left,
        title="Chile earthquake: Rescuers search rubble after deadly quake",
        lead=(
            "Rescuers in Chile are searching through rubble after a powerful earthquake struck "
            "the centre of the country."
        ),
        text=(
            "By Jane Doe\n"
            "Rescuers in Chile are searching through rubble after a powerful earthquake struck "
            "the centre of the country. "
            "At least 15 people were killed, officials in Valparaiso said, "
            "a higher toll than the national figure. "
            "Residents of Vina del Mar spent the night outside, fearing aftershocks. "
            "The region was last hit by a major quake in 2010, when more than 500 people died.\n"
            "Follow us on Twitter for the latest updates."
        ),
        published_at=T0 + timedelta(minutes=45),
    ),
    Article(
        article_id="a-fox",
        url="https://www.foxnews.com/world/chile-earthquake",
        source="foxnews.com",
        source_name="Fox News",
        lean=Lean.right,
        title="You won't believe the damage from Chile's massive quake!",
        text=(
            "A massive earthquake rocked Chile early Monday, leaving buildings in ruins "
            "across the Valparaiso region. "
            "Chile's interior minister said the government would declare a state of catastrophe "
            "in the region. "
            "Engineers said older adobe homes suffered the worst damage.\n"
            "Click here to get the Fox News app."
        ),
        published_at=T0 + timedelta(hours=1),
    ),
]


def one_per_outlet(slug: str, rows: Iterable[Mapping[str, str]]) -> list[Article]:
    """An article per row (its ``source`` and other fields), a minute apart, each at
    ``https://<source>/<slug>`` with the id ``<first letter of slug><row>``."""
    return [
        Article(
            article_id=f"{slug[0]}{i}",
            url=f"https://{row['source']}/{slug}",
            published_at=T0 + timedelta(minutes=i),
            **row,
        )
        for i, row in enumerate(rows)
    ]


def headlines(*titles: str) -> list[Article]:
    """Headlines without text, one outlet each, five minutes apart."""
    return [
        Article(
            article_id=f"h{i}",
            url=f"https://outlet{i}.example/story",
            source=f"outlet{i}.example",
            title=title,
            published_at=T0 + timedelta(minutes=5 * i),
        )
        for i, title in enumerate(titles)
    ]


HEADLINES_ONLY = [
    Article(
        article_id=f"h{i}",
        url=f"https://{src}/story/{i}",
        source=src,
        title=title,
        published_at=T0 + timedelta(minutes=7 * i),
    )
    for i, (src, title) in enumerate(
        [
            ("cnbc.com", "Men's Wearhouse buying Jos. A. Bank Clothiers for $1.8 billion - CNBC"),
            ("reuters.com", "Men's Wearhouse to buy Jos. A. Bank for $1.8 billion - Reuters"),
            ("wsj.com", "Men's Wearhouse Agrees to Buy Jos. A. Bank for $1.8 Billion"),
            ("forbes.com", "Jos. A. Bank Finally Says Yes: What Happens Next?"),
            ("bizjournals.com", "Jos. A. Bank accepts Men's Wearhouse offer, ending takeover battle  ..."),
        ]
    )
]
