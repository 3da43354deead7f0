"""Related stories: other stories on the same thread, found by the specific named entities they share.

A story's *entities* are the names its own text keeps repeating: capitalised runs and acronyms
(``text.entities``) of its title, summary sentences and member headlines, kept when the title names
them or at least two members do, without stop-entities (weekdays, months, generic words such as
'US', 'Report', 'New'). A headline in Title Case capitalises every word, so its runs are not names:
it only votes for the names found elsewhere and adds its acronyms. A single word the story also
writes in lower case is no name ('Sales', 'House'), and a name only a few of a big story's headlines
mention is a passing mention, not its subject (``MIN_SHARE``).

Two stories are related when they share at least one *specific* entity and their publication
spans lie within ``WINDOW`` of each other. Specific means: not a stop-entity, and named by at most
``max_df_share`` of the stories the index holds (an entity every story names, like a country in a
national feed, tells nothing). Candidates are ranked by the summed inverse document frequency of the
entities they share (a rare shared name outweighs several common ones), ties by time gap, then id:
the same index and story give the same list. Category alone never relates two stories; a candidate
cluster proposes (a story scored just below its join threshold) is shown only when it passes the
same test. A story without such a neighbour shows no Related section.

Pure: ``EntityIndex`` is an in-memory inverted index (entity -> stories) that the pipeline keeps in
step with the ``story_entities`` collection (repository.py). On the local store (FerretDB 1.x on
SQLite) every query other than by ``_id`` scans the whole collection (an ``$in`` on 5,000
``story_views`` takes ~1.6 s), so one query per story is not affordable; a lookup in memory takes
microseconds.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tellwell.common.events import RelatedStory, StoryScored
from tellwell.score.text import STOPWORDS
from tellwell.score.text import entities as capitalised_runs

MAX_RELATED = 10
MAX_ENTITIES = 24  # per story, most named first
MIN_SHARE = 0.1  # of a story's headlines that must name an entity (besides its title)
WINDOW = timedelta(days=7)

_MONTHS = "january february march april may june july august september october november december"
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday"
#: Capitalised words that name no particular subject: places and bodies every story may mention,
#: headline furniture, titles, corporate suffixes, time words.
STOP_ENTITIES = frozenset(
    f"""{_MONTHS} {_WEEKDAYS} jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    us u.s usa u.s.a america american americans uk u.k eu un
    world global international national international state states government city county
    new report reports update updated updates breaking exclusive live video videos photo photos watch
    review analysis opinion editorial interview first last top best more latest today tonight week
    weekend year years day days morning night time times people man woman men women
    inc corp corporation co ltd llc plc group company companies holdings nyse nasdaq ceo cfo
    president minister governor senator mayor chief officer official officials police
    i i'm it's he she they we you this that these those what why how who when where which
    here there his her their our your my its is are was be will can could would should
    north south east west northern southern eastern western
    news press media online daily post times herald tribune journal
    mr mrs ms dr st jr sr la de le el et al vs
    one two three four five six seven eight nine ten
    q1 q2 q3 q4 am pm gmt est pst utc tv ipo ap afp""".split()
)

_WORD = re.compile(r"[\w][\w'\u2019&.-]*")
_POSSESSIVE = re.compile(r"['\u2019]s?$")


@dataclass(frozen=True, slots=True)
class Entry:
    """What the index holds of one story."""

    story_id: str
    version: int
    entities: tuple[str, ...]
    first_published_at: datetime
    last_published_at: datetime
    merged_into: str | None = None


@dataclass(frozen=True, slots=True)
class RelatedParams:
    window: timedelta = WINDOW
    max_related: int = MAX_RELATED
    max_df_share: float = 0.05  # an entity named by more of the indexed stories is not specific
    min_df_cap: int = 3  # ... but an entity of up to this many stories always may be
    horizon: timedelta = timedelta(days=21)  # entries older than this behind the newest are dropped
    capacity: int = 200_000


# ---------------------------------------------------------------- a story's entities


def _normal(word: str) -> str:
    return _POSSESSIVE.sub("", word.strip(".\u2019'-&").lower())


def _clean(entity: str) -> str:
    return " ".join(w for w in (_normal(w) for w in entity.split()) if w)


def title_case(text: str) -> bool:
    """Whether a text capitalises (nearly) every longer word, as many headlines do."""
    words = [w for w in _WORD.findall(text)[1:] if len(w) >= 4 and w[0].isalpha()]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.6 * len(words)


@functools.lru_cache(maxsize=100_000)  # a story's headlines come back at every version
def text_entities(text: str) -> tuple[tuple[str, ...], bool, frozenset[str]]:
    """The cleaned capitalised runs of one text, whether it is in Title Case (its runs are then
    mere words: only its capitalised single words are kept, for ``story_entities`` to check), and
    the words it writes in lower case (evidence that a word is no name)."""
    words = _WORD.findall(text)
    lower = frozenset(_normal(w) for w in words if w[0].islower())
    if title_case(text):  # its capitalised words are mostly not names: only acronyms are
        found = [_normal(w) for w in words if len(w) >= 2 and w.isupper() and w.isalpha()]
        return tuple(dict.fromkeys(w for w in found if w and w not in STOPWORDS)), True, lower
    return tuple(dict.fromkeys(e for e in map(_clean, capitalised_runs(text)) if e)), False, lower


def _names(found: Iterable[str], common: frozenset[str] | set[str]) -> list[str]:
    """Entities without stop-entities, figures, and single words the story also writes in lower case
    ('sales', 'house'). The words of a several-word name are not names of their own: 'Jos. A. Bank'
    and 'Bank of England' share no subject ('Snowden' alone is named by Snowden stories anyway)."""
    return [
        e
        for e in dict.fromkeys(found)
        if e not in STOP_ENTITIES and not e.isdigit() and not (" " not in e and e in common)
    ]


def story_entities(
    title: str,
    sentences: Sequence[str],
    headlines: Sequence[str],
    *,
    limit: int = MAX_ENTITIES,
    min_share: float = MIN_SHARE,
) -> tuple[str, ...]:
    """The entities of a story: those its title names or that at least two members' headlines, and
    at least ``min_share`` of them, name (each distinct headline counts once; a name a big story
    mentions in passing is not its subject), most named first (ties: the order first seen)."""
    heads = list(dict.fromkeys(headlines))
    parsed = {t: text_entities(t) for t in dict.fromkeys([title, *sentences, *heads])}
    common: set[str] = set().union(*(lower for _, _, lower in parsed.values()))
    from_title = set(_names(parsed[title][0], common))
    votes: Counter[str] = Counter()
    order: dict[str, int] = {}
    for text in (title, *sentences):
        for e in _names(parsed[text][0], common):
            order.setdefault(e, len(order))
    for headline in heads:
        names = _names(parsed[headline][0], common)
        lowered = f" {' '.join(_normal(w) for w in _WORD.findall(headline))} "
        # a Title Case headline (or one whose run swallowed the name, or that starts with it) still
        # names the story's known entities
        names += [e for e in order if f" {e} " in lowered]
        for e in dict.fromkeys(names):
            votes[e] += 1
            order.setdefault(e, len(order))
    floor = max(2.0, min_share * len(heads))
    lowered_title = f" {' '.join(_normal(w) for w in _WORD.findall(title))} "
    from_title.update(e for e in order if f" {e} " in lowered_title)  # 'Snowden speaks at SXSW'
    kept = [e for e in order if e in from_title or votes[e] >= floor]
    kept.sort(key=lambda e: (-votes[e] - (e in from_title), order[e]))
    return tuple(kept[:limit])


def view_entities(view: StoryScored) -> tuple[str, ...]:
    """``story_entities`` of a stored view (its title, summary and member headlines)."""
    return story_entities(view.title, [s.text for s in view.summary], [a.title for a in view.articles])


def entry_of(view: StoryScored, entities: Sequence[str] | None = None) -> Entry:
    return Entry(
        story_id=view.story_id,
        version=view.version,
        entities=tuple(view_entities(view) if entities is None else entities),
        first_published_at=view.first_published_at,
        last_published_at=view.last_published_at,
        merged_into=view.merged_into,
    )


# ---------------------------------------------------------------- the index


@dataclass(frozen=True, slots=True)
class Neighbour:
    story_id: str
    weight: float  # summed idf of the shared specific entities
    share: float  # that weight over the story's own specific weight, in [0, 1]
    shared: tuple[str, ...]


class EntityIndex:
    """Recent stories by entity. Holds one entry per story (its newest version); a merged story is
    kept (so that an old version cannot come back) but is never anyone's neighbour."""

    def __init__(self, params: RelatedParams | None = None) -> None:
        self.params = params or RelatedParams()
        self.entries: dict[str, Entry] = {}
        self.postings: dict[str, set[str]] = {}
        self._live = 0
        self._newest: datetime | None = None
        self._pruned_at: datetime | None = None

    def __len__(self) -> int:
        return self._live

    def add(self, entry: Entry) -> None:
        """Keep ``entry`` unless a newer version of the story is held."""
        held = self.entries.get(entry.story_id)
        if held is not None:
            if held.version > entry.version:
                return
            self._unpost(held)
        self.entries[entry.story_id] = entry
        if entry.merged_into is None:
            self._live += 1
            for e in entry.entities:
                self.postings.setdefault(e, set()).add(entry.story_id)
        if self._newest is None or entry.last_published_at > self._newest:
            self._newest = entry.last_published_at
        self._prune()

    def _unpost(self, entry: Entry) -> None:
        if entry.merged_into is not None:
            return
        self._live -= 1
        for e in entry.entities:
            ids = self.postings.get(e)
            if ids is not None:
                ids.discard(entry.story_id)
                if not ids:
                    del self.postings[e]

    def _prune(self) -> None:
        newest = self._newest
        assert newest is not None
        over = len(self.entries) > self.params.capacity
        if not over and self._pruned_at is not None and newest - self._pruned_at < timedelta(hours=1):
            return
        self._pruned_at = newest
        cutoff = newest - self.params.horizon
        old = sorted(self.entries.values(), key=lambda x: (x.last_published_at, x.story_id))
        excess = len(self.entries) - self.params.capacity
        for i, entry in enumerate(old):
            if entry.last_published_at >= cutoff and i >= excess:
                break
            self._unpost(entry)
            del self.entries[entry.story_id]

    def df(self, entity: str) -> int:
        return len(self.postings.get(entity, ()))

    def specific(self, entity: str) -> bool:
        p = self.params
        return entity not in STOP_ENTITIES and self.df(entity) <= max(
            p.min_df_cap, p.max_df_share * self._live
        )

    def idf(self, entity: str) -> float:
        return math.log((self._live + 1) / (self.df(entity) + 1)) + 1.0

    def neighbours(
        self,
        story_id: str,
        entities: Sequence[str],
        first_published_at: datetime,
        last_published_at: datetime,
        *,
        proposed: Iterable[str] = (),
        extra: Mapping[str, Entry] | None = None,
    ) -> list[Neighbour]:
        """The stories sharing a specific entity with this one within the window, best first, at
        most ``max_related``. ``proposed`` ids (cluster's candidates) are checked the same way;
        ``extra`` holds entries of proposed stories the index lacks."""
        p = self.params
        own = [e for e in dict.fromkeys(entities) if self.specific(e)]
        if not own:
            return []
        weights = {e: self.idf(e) for e in own}
        total = sum(weights.values())
        ids: set[str] = set()
        for e in own:
            ids |= self.postings.get(e, set())
        ids.update(proposed)
        ids.discard(story_id)
        lo, hi = first_published_at - p.window, last_published_at + p.window
        found: list[tuple[float, float, str, Neighbour]] = []
        for sid in ids:
            entry = self.entries.get(sid) or (extra or {}).get(sid)
            if entry is None or entry.merged_into is not None or entry.story_id == story_id:
                continue
            if entry.last_published_at < lo or entry.first_published_at > hi:
                continue
            theirs = set(entry.entities)
            shared = tuple(e for e in own if e in theirs)
            if not shared:
                continue
            weight = sum(weights[e] for e in shared)
            gap = abs((entry.last_published_at - last_published_at).total_seconds())
            found.append((-weight, gap, sid, Neighbour(sid, weight, min(1.0, weight / total), shared)))
        found.sort(key=lambda t: t[:3])
        return [n for *_, n in found[: p.max_related]]


def related_stories(neighbours: Sequence[Neighbour], views: Mapping[str, StoryScored]) -> list[RelatedStory]:
    """The related list shown: the neighbours whose current view is readable (a merged one resolved
    to its survivor by the caller), with ``score`` their shared share."""
    out: list[RelatedStory] = []
    for n in neighbours:
        view = views.get(n.story_id)
        if view is not None and view.merged_into is None:
            out.append(RelatedStory(story_id=view.story_id, score=round(n.share, 4)))
    return out


__all__ = [
    "MAX_RELATED",
    "STOP_ENTITIES",
    "WINDOW",
    "EntityIndex",
    "Entry",
    "Neighbour",
    "RelatedParams",
    "entry_of",
    "related_stories",
    "story_entities",
    "text_entities",
    "title_case",
    "view_entities",
]
