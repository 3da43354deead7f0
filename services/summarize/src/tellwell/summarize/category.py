"""Story category: feed hints, category descriptions and (optionally) learned prototypes.

A story is one bag of words (its members' headlines and leads, TF-IDF weighted). Each category has
a *description* (a hand-written keyword list, so that every category of the taxonomy can be
recognised) and, where labelled data exists, a *learned prototype*: the normalised centroid of
labelled stories. A story takes the category whose combined cosine is highest; feed category hints
(``category_hint`` on articles, e.g. "Technology" from a tech feed) add a vote in proportion to the
share of members carrying them. When nothing matches the story is ``general``.

The bundled prototypes (``data/category_prototypes.json``) are learned from the UCI development
stream (business, technology, entertainment, health only); rebuild them with
``tellwell summarize train-category --input uci-head.dev.jsonl``. Pure: no I/O except loading
the bundled file once.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from tellwell.common.events import Category
from tellwell.summarize.text import clean_headline, tokenize

DESCRIPTIONS: dict[Category, str] = {
    Category.world: """world international foreign country countries nation government minister
        president prime war conflict troops military army ceasefire peace talks embassy diplomat
        refugees border united nations un nato eu europe asia africa middle east russia ukraine china
        israel gaza iran syria india pakistan korea japan protest crisis sanctions attack killed
        earthquake flood disaster missing plane search rescue""",
    Category.politics: """politics political election elections vote voters voting poll polls campaign
        candidate party democrats republicans democrat republican congress senate house parliament
        lawmakers legislation bill law governor senator representative mayor white house
        administration policy supreme court ruling obama trump biden cabinet minister referendum
        conservative labour liberal opposition coalition impeachment debate primary""",
    Category.business: """business economy economic market markets stock stocks shares investors
        trading wall street dow nasdaq s&p index bank banks banking federal reserve fed interest rates
        inflation gdp growth earnings profit revenue quarter sales company companies ceo merger
        acquisition deal billion million dollar euro oil prices retail jobs unemployment bonds
        currency imf oecd ipo analyst dividend""",
    Category.technology: """technology tech software hardware internet online web app apps smartphone
        iphone android apple google microsoft facebook twitter amazon samsung computer computers
        chip chips data privacy security cyber hackers hacking surveillance nsa ai artificial
        intelligence startup digital device devices gadget cloud network broadband streaming
        video game games gaming console social media users update launch version""",
    Category.science: """science scientists scientific research researchers study space nasa planet
        planets mars moon astronomers telescope galaxy universe physics climate species fossil
        dinosaur evolution biology chemistry discovery experiment laboratory spacecraft rocket
        orbit satellite asteroid comet genome ocean environment""",
    Category.health: """health medical medicine doctor doctors hospital hospitals patients disease
        diseases virus outbreak infection vaccine vaccines cancer heart diabetes obesity drug drugs
        fda treatment therapy clinical trial cdc who ebola flu hiv aids mental depression
        pregnancy children diet nutrition surgery care insurance obamacare symptoms risk""",
    Category.sports: """sports sport game games match team teams player players coach season league
        championship tournament cup final win wins won score goal goals football soccer basketball
        baseball hockey tennis golf cricket rugby olympic olympics nfl nba mlb nhl fifa uefa
        quarterback striker injury transfer title race""",
    Category.entertainment: """entertainment movie movies film films actor actress star stars
        celebrity hollywood music singer song songs album band concert tour show shows tv
        television series episode premiere box office oscar oscars grammy awards festival
        fashion kardashian beyonce bieber cyrus netflix hbo fans wedding divorce dating
        comedy drama trailer""",
    Category.publications: """study paper papers journal published publication research report
        findings researchers preprint arxiv peer reviewed survey analysis dataset review
        proceedings nature science lancet""",
}

# Feed category names (kite's core list and common RSS sections) to the taxonomy, by substring.
HINTS: tuple[tuple[str, Category], ...] = (
    ("sport", Category.sports),
    ("football", Category.sports),
    ("politic", Category.politics),
    ("election", Category.politics),
    ("business", Category.business),
    ("econom", Category.business),
    ("financ", Category.business),
    ("market", Category.business),
    ("money", Category.business),
    ("tech", Category.technology),
    ("gaming", Category.technology),
    ("ai", Category.technology),
    ("science", Category.science),
    ("space", Category.science),
    ("climate", Category.science),
    ("health", Category.health),
    ("medic", Category.health),
    ("entertain", Category.entertainment),
    ("celebr", Category.entertainment),
    ("movie", Category.entertainment),
    ("film", Category.entertainment),
    ("music", Category.entertainment),
    ("culture", Category.entertainment),
    ("arts", Category.entertainment),
    ("research", Category.publications),
    ("paper", Category.publications),
    ("world", Category.world),
    ("international", Category.world),
    ("europe", Category.world),
    ("asia", Category.world),
    ("africa", Category.world),
    ("middle east", Category.world),
)


def category_of_hint(hint: str | None) -> Category | None:
    """The taxonomy category a feed's category name points to, if any."""
    if not hint:
        return None
    text = hint.strip().lower()
    try:
        return Category(text)
    except ValueError:
        pass
    words = set(text.replace("&", " ").replace("/", " ").replace("-", " ").split())
    for key, category in HINTS:
        if (len(key) <= 3 and key in words) or (len(key) > 3 and key in text):
            return category
    return None


Vector = dict[str, float]


def _normalised(counts: Mapping[str, float]) -> Vector:
    norm = math.sqrt(sum(v * v for v in counts.values()))
    return {k: v / norm for k, v in counts.items()} if norm else {}


def _cosine(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(k, 0.0) for k, v in a.items())


@dataclass(frozen=True)
class Weights:
    """How the evidence combines (tuned by leave-one-story-out on the UCI development stream)."""

    learned: float = 1.0
    description: float = 1.0
    hint: float = 0.5
    min_score: float = 0.02  # below this nothing matched: 'general'


@dataclass
class CategoryModel:
    """Descriptions for every category plus learned prototypes where data exists."""

    idf: dict[str, float] = field(default_factory=dict)
    default_idf: float = 1.0
    learned: dict[Category, Vector] = field(default_factory=dict)
    weights: Weights = field(default_factory=Weights)
    descriptions: dict[Category, Vector] = field(init=False)

    def __post_init__(self) -> None:
        self.descriptions = {c: _normalised(Counter(tokenize(text))) for c, text in DESCRIPTIONS.items()}

    def vector(self, texts: Iterable[str]) -> Vector:
        """The story's TF-IDF bag of words (sublinear term frequency)."""
        counts = Counter(t for text in texts for t in tokenize(clean_headline(text)))
        return _normalised(
            {t: (1.0 + math.log(n)) * self.idf.get(t, self.default_idf) for t, n in counts.items()}
        )

    def scores(self, texts: Sequence[str], hints: Sequence[str | None] = ()) -> dict[Category, float]:
        vec = self.vector(texts)
        w = self.weights
        out: dict[Category, float] = {}
        for category, desc in self.descriptions.items():
            score = w.description * _cosine(vec, desc)
            if category in self.learned:
                score += w.learned * _cosine(vec, self.learned[category])
            out[category] = score
        mapped = [category_of_hint(h) for h in hints]
        if mapped:
            for category, n in Counter(c for c in mapped if c is not None).items():
                out[category] = out.get(category, 0.0) + w.hint * n / len(mapped)
        return out

    def predict(self, texts: Sequence[str], hints: Sequence[str | None] = ()) -> Category:
        """The story's category (``general`` when no evidence reaches ``min_score``)."""
        scores = self.scores(texts, hints)
        best = max(scores, key=lambda c: (scores[c], -list(Category).index(c)))
        return best if scores[best] >= self.weights.min_score else Category.general

    # ------------------------------------------------------------ learning and the bundled file

    @classmethod
    def train(
        cls, stories: Sequence[tuple[Sequence[str], Category]], *, top_terms: int = 800
    ) -> CategoryModel:
        """Prototypes from labelled stories (each a list of headlines): the mean of the stories'
        normalised TF-IDF vectors per category, pruned to its ``top_terms`` heaviest terms."""
        docs = [{t for text in texts for t in tokenize(clean_headline(text))} for texts, _ in stories]
        df = Counter(t for d in docs for t in d)
        n = len(docs)
        idf = {t: math.log((1 + n) / (1 + k)) + 1.0 for t, k in df.items() if k >= 2}
        model = cls(idf=idf, default_idf=math.log(1 + n) + 1.0)
        sums: dict[Category, dict[str, float]] = {}
        for texts, category in stories:
            acc = sums.setdefault(category, {})
            for t, v in model.vector(texts).items():
                if t in idf:
                    acc[t] = acc.get(t, 0.0) + v
        for category, acc in sums.items():
            top = sorted(acc.items(), key=lambda kv: -kv[1])[:top_terms]
            model.learned[category] = _normalised(dict(top))
        return model

    def to_json(self) -> dict[str, Any]:
        return {
            "idf": {t: round(v, 4) for t, v in sorted(self.idf.items()) if self._used(t)},
            "default_idf": round(self.default_idf, 4),
            "learned": {
                c.value: {t: round(v, 5) for t, v in sorted(vec.items())} for c, vec in self.learned.items()
            },
        }

    def _used(self, term: str) -> bool:
        return any(term in vec for vec in self.learned.values()) or any(
            term in vec for vec in self.descriptions.values()
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CategoryModel:
        return cls(
            idf={str(k): float(v) for k, v in data.get("idf", {}).items()},
            default_idf=float(data.get("default_idf", 1.0)),
            learned={Category(c): dict(v) for c, v in data.get("learned", {}).items()},
        )


BUNDLED = "category_prototypes.json"


@cache
def bundled_model() -> CategoryModel:
    """The model shipped with the package (descriptions only if the file is missing)."""
    path = resources.files("tellwell.summarize") / "data" / BUNDLED
    if not path.is_file():
        return CategoryModel()
    return CategoryModel.from_json(json.loads(path.read_text(encoding="utf-8")))
