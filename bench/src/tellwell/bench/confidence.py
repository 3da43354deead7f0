"""``tellwell bench confidence``: is the confidence figure right on real stories?

Input: labelled JSONL streams (``shared/data/README.md`` format) and, once, the STS headline pairs.
The gold ``story`` label is read only to group articles into stories (as the cluster service would)
and to score; everything a story is scored on comes from its members' own titles and texts.

Per stream:

* **support**: each gold story's *core claim* is its medoid headline (the member title with the
  highest mean idf-weighted cosine to the other members' titles; truncated titles only when nothing
  else is left). It is checked against every independent report of the story from another outlet
  (score's ``independent_reports`` folds copies and same-outlet articles; the claim's own outlet is
  left out) and against *hard negatives*: articles of other gold stories published within
  ``--window-hours`` of the story that share at least one content word with the claim (half the
  sample the most overlapping ones, half drawn at random; ``--max-positives``/``--max-negatives``
  each, seeded). Precision, recall and F1 of "supports".
* **contradiction**: each positive's lead article perturbed three ways, in its headline and in every
  sentence (within what the checker reads) that states the claim: a figure the claim also states
  changed by >= 30 %; the first named entity the claim and the article share swapped for an entity of
  another gold story; a negation ('not' after an auxiliary, else 'did/does not' + the base verb).
  Contradiction recall per kind and overall (also on the subset whose unperturbed original is judged
  to support), and the false-contradiction rate on the unperturbed positives.
* **calibration**: gold stories scored with ``domain.score_story`` and the registry's real outlet
  ratings (claims: the core claim plus up to two more central, distinct headlines): median
  confidence for stories with >= 5 independent reports of credibility >= 0.7, for one member from
  an unrated outlet, for one member re-attributed to a primary publisher; monotonicity violations
  (a story's most supporting positive, held out, re-added under a credible rated outlet not yet in
  the story lowers the figure) and copy-invariance violations (a copy marked ``copy_of``, one with
  the same fingerprint under another outlet of the same owner group, one more article of the same
  outlet: any of them changes the figure).

Once: **pairs** (headline a as a claim, headline b as a one-headline article; accuracy on the clear
pairs, score >= 4 must support and <= 1.5 must not; Spearman of the support strength with the
score), **loso** (``--grid field=v1,v2`` over ``CorroborationParams``: for each held-out stream the
grid point with the best support F1 at precision >= 0.90 on the other streams and the pairs, and the
held-out figures with it, beside the defaults), **related** (``related.related_metrics``) and
the wall seconds of every section.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import math
import random
import re
import statistics
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer

from tellwell.bench.options import JsonOnly
from tellwell.common.embed import TextEncoder
from tellwell.common.events import GroundedSentence, StoryScored, StorySummary
from tellwell.common.jsonl import read_jsonl
from tellwell.common.sources import Source
from tellwell.common.testing import make_story_summary
from tellwell.score.corroboration import Assessment, Checker, CorroborationParams, Passages, Stance, prepare
from tellwell.score.domain import Member, ScoreParams, independent_reports, is_primary, score_story

# ---------------------------------------------------------------- outlets


def _ratings() -> dict[str, Source]:
    """Outlet ratings by registrable domain: for now ingest's bundled registry (MBFC + kite), as
    ``services/score/calibration/confidence.py`` reads it. The one place the bench gets ratings."""
    from tellwell.ingest.registry import BUNDLED_KITE, BUNDLED_MBFC, load_kite, load_mbfc, merge_sources

    return merge_sources(load_mbfc(BUNDLED_MBFC), load_kite(BUNDLED_KITE))


def _registrable(url: str) -> str | None:
    from tellwell.ingest.registry import registrable_domain

    return registrable_domain(url)


_SLUG = re.compile(r"[^a-z0-9]+")


def outlet_domain(url: str | None, source: str | None, article_id: str) -> str:
    """The article's outlet: the registrable domain of its URL, else a slug of its source name, else
    (no outlet given, as in the GoogleNews streams) an outlet of its own."""
    if url and (domain := _registrable(url)):
        return domain
    if source and (slug := _SLUG.sub("-", source.lower()).strip("-")):
        return f"{slug}.example"
    return f"unknown-{_SLUG.sub('-', article_id.lower())}.example"


# ---------------------------------------------------------------- input


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    title: str
    text: str
    domain: str
    url: str
    published_at: datetime
    story: str

    def member(self, **changes: Any) -> Member:
        m = Member(
            article_id=self.id,
            url=self.url,
            source=self.domain,
            title=self.title,
            published_at=self.published_at,
            text=self.text,
            fingerprint=fingerprint(self.title, self.text),
        )
        return replace(m, **changes) if changes else m


_FOLD_WORD = re.compile(r"\w+")


def fingerprint(title: str, text: str) -> str:
    """As ingest's content fingerprint: equal for texts equal after case and punctuation folding."""
    folded = unicodedata.normalize("NFKC", f"{title}\n{text}").casefold()
    return hashlib.blake2b(" ".join(_FOLD_WORD.findall(folded)).encode(), digest_size=8).hexdigest()


def read_stream(path: Path) -> list[Article]:
    out = []
    for row in read_jsonl(path, required={"id": (str, int), "published_at": datetime, "story": (str, int)}):
        aid = str(row["id"])
        out.append(
            Article(
                id=aid,
                title=" ".join(str(row.get("title") or "").split()),
                text=str(row.get("text") or "").strip(),
                domain=outlet_domain(row.get("url"), row.get("source"), aid),
                url=str(row.get("url") or ""),
                published_at=row["published_at"],
                story=str(row["story"]),
            )
        )
    out.sort(key=lambda a: (a.published_at, a.id))
    return out


# ---------------------------------------------------------------- words (the bench's own, not the checker's)

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\u2019.-]*[A-Za-z]|[A-Za-z]|\d+(?:[.,]\d+)*")
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours out over own same she should so
    some such than that the their theirs them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you your yours
    new says said say after amid over vs via just up get gets got make makes made first one two three
    may might must shall year years week day days time report reports""".split()
)


def content_words(text: str) -> list[str]:
    out = []
    for raw in _TOKEN.findall(text):
        w = raw.lower().replace("\u2019", "'").removesuffix("'s").strip("'.-")
        if len(w) < 2 and not w.isdigit():
            continue
        if w in STOPWORDS:
            continue
        if len(w) > 4 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
        out.append(w)
    return out


def _cosine(a: frozenset[str], b: frozenset[str], idf: Mapping[str, float]) -> float:
    if not a or not b:
        return 0.0
    num = sum(idf.get(w, 1.0) ** 2 for w in a & b)
    den = math.sqrt(sum(idf.get(w, 1.0) ** 2 for w in a) * sum(idf.get(w, 1.0) ** 2 for w in b))
    return num / den if den else 0.0


def _truncated(title: str) -> bool:
    return title.endswith(("...", "…"))


def clean_claim(title: str) -> str:
    t = re.sub(r"\s*(\.\.\.|…)\s*$", "", title).strip()
    return " ".join(t.split())


@dataclass(frozen=True, slots=True)
class Story:
    label: str
    members: tuple[Article, ...]  # publication order
    claim_article: Article
    claim: str
    central: tuple[str, ...]  # the claim, then up to two more central distinct headlines

    @property
    def first(self) -> datetime:
        return self.members[0].published_at

    @property
    def last(self) -> datetime:
        return self.members[-1].published_at


def build_stories(articles: Sequence[Article], idf: Mapping[str, float]) -> list[Story]:
    """Gold stories with their core claim: the medoid headline (see the module docstring)."""
    by_story: dict[str, list[Article]] = defaultdict(list)
    for a in articles:
        by_story[a.story].append(a)
    stories = []
    for label, members in by_story.items():
        words = [frozenset(content_words(m.title)) for m in members]
        centrality = []
        for i, wi in enumerate(words):
            sims = [_cosine(wi, wj, idf) for j, wj in enumerate(words) if j != i]
            centrality.append(sum(sims) / len(sims) if sims else 0.0)

        # the most central title, but a headline of >= 3 content words that is not cut off first
        order = sorted(
            range(len(members)),
            key=lambda i: (
                len(words[i]) < 3,
                _truncated(members[i].title),
                -centrality[i],
                members[i].published_at,
                members[i].id,
            ),
        )
        if not members[order[0]].title:
            continue
        chosen = [order[0]]
        for i in order[1:]:
            if len(chosen) == 3:
                break
            if len(words[i]) >= 3 and all(_cosine(words[i], words[j], idf) < 0.6 for j in chosen):
                chosen.append(i)
        central = tuple(dict.fromkeys(clean_claim(members[i].title) for i in chosen))
        stories.append(
            Story(label, tuple(members), members[order[0]], clean_claim(members[order[0]].title), central)
        )
    stories.sort(key=lambda s: (s.first, s.label))
    return stories


def title_idf(articles: Sequence[Article]) -> dict[str, float]:
    df: Counter[str] = Counter()
    for a in articles:
        df.update(set(content_words(a.title)))
    n = len(articles)
    return {w: math.log((n + 1) / (c + 1)) + 1.0 for w, c in df.items()}


# ---------------------------------------------------------------- perturbations

_NUMBER = re.compile(
    r"(?<![\w.,])(?P<cur>US\$|[$£€])?\s?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<mult>trillion|billion|million|thousand|bln|mln|bn|tn|m|b|k)(?![A-Za-z]))?"
    r"(?P<pct>\s?%|\s?per\s?cent\b|\s?percent\b)?(?![\w])"
)
_MULT = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mln": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "bln": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
}


@dataclass(frozen=True, slots=True)
class Quantity:
    value: float
    percent: bool
    start: int  # of the number part
    end: int
    number: str


def quantities(text: str) -> list[Quantity]:
    out = []
    for m in _NUMBER.finditer(text):
        num = m.group("num")
        mult = (m.group("mult") or "").lower()
        value = float(num.replace(",", "")) * _MULT.get(mult, 1.0)
        if not m.group("cur") and not mult and not m.group("pct") and "." not in num and "," not in num:
            if 1900 <= value <= 2100:  # a year: changing it is another kind of error
                continue
        out.append(Quantity(value, bool(m.group("pct")), m.start("num"), m.end("num"), num))
    return out


def _same(a: Quantity, b: Quantity) -> bool:
    return a.percent == b.percent and abs(a.value - b.value) <= 0.1 * max(a.value, b.value, 1e-9)


def changed_number(number: str) -> str:
    """The number scaled by 1.5 (2 when rounding leaves less than +30 %), written as the original."""
    value = float(number.replace(",", ""))
    decimals = len(number.split(".")[1]) if "." in number else 0
    for factor in (1.5, 2.0, 3.0):
        new = math.floor(value * factor * 10**decimals + 0.5) / 10**decimals
        if value == 0 or new >= 1.3 * value:
            break
    if value == 0:
        new = 5.0
    text = f"{new:,.{decimals}f}" if "," in number else f"{new:.{decimals}f}"
    return text


def _replace_quantities(text: str, target: Quantity) -> tuple[str, int]:
    parts, last, n = [], 0, 0
    for q in quantities(text):
        if _same(q, target):
            parts += [text[last : q.start], changed_number(q.number)]
            last, n = q.end, n + 1
    parts.append(text[last:])
    return "".join(parts), n


def perturb_figure(claim: str, title: str, text: str) -> tuple[str, str] | None:
    """Change a figure the claim states wherever the article states it; None if it states none."""
    article = quantities(f"{title}\n{text}")
    for f in quantities(claim):
        if any(_same(f, q) for q in article):
            new_title, a = _replace_quantities(title, f)
            new_text, b = _replace_quantities(text, f)
            if a + b:
                return new_title, new_text
    return None


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?\"\u201d])\s+(?=[\"\u201c(']?[A-Z0-9])|\n+", text) if s.strip()]


def _title_case(sentence: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][\w'-]*", sentence) if len(w) > 3]
    return bool(words) and sum(w[0].isupper() for w in words) >= 0.8 * len(words)


@dataclass
class Lexicon:
    """What the stream says about words: which are names (capitalised mid-sentence in sentence-case
    text, rarely lower case), how often each lower-case form occurs (to find base verb forms)."""

    names: set[str] = field(default_factory=set)
    vocab: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, articles: Iterable[Article]) -> Lexicon:
        cap: Counter[str] = Counter()
        low: Counter[str] = Counter()
        vocab: Counter[str] = Counter()
        for a in articles:
            for sentence in [a.title, *_sentences(a.text[:3000])]:
                tokens = re.findall(r"[A-Za-z][\w'\u2019-]*", sentence)
                vocab.update(t.lower() for t in tokens)
                if _title_case(sentence):
                    continue
                for t in tokens[1:]:
                    key = t.lower().removesuffix("'s").removesuffix("\u2019s")
                    if t[0].isupper():
                        cap[key] += 1
                    else:
                        low[key] += 1
        names = {w for w, c in cap.items() if c >= 2 and low[w] <= 0.1 * c and w not in STOPWORDS}
        return cls(names, vocab)

    def is_name(self, token: str) -> bool:
        key = token.lower().removesuffix("'s").removesuffix("\u2019s")
        if key in STOPWORDS:
            return False
        return key in self.names or (len(token) >= 2 and token.isupper() and token.isalpha())

    def entities(self, text: str) -> list[str]:
        """Maximal runs of name tokens (titles such as 'Gov.' left out), in order of appearance."""
        out, run = [], list[str]()
        for m in re.finditer(r"[A-Za-z][\w'\u2019&.-]*\w|[A-Za-z]|\S", text):
            t = m.group(0)
            bare = t.rstrip(".")
            if t[0].isalpha() and t[0].isupper() and bare.lower() not in _TITLES and self.is_name(bare):
                run.append(re.sub(r"(['\u2019]s|\.)$", "", t))
                continue
            if run:
                out.append(" ".join(run))
            run = []
        if run:
            out.append(" ".join(run))
        return list(dict.fromkeys(out))


_TITLES = frozenset(
    """gov sen rep mr mrs ms dr prof president pres minister prime st jr sr inc corp co ltd llc gen
    col capt lt sgt rev sir lord lady king queen prince princess judge chief ceo""".split()
)


def _shape(entity: str) -> tuple[int, bool]:
    return len(entity.split()), entity.replace(" ", "").isupper()


def _contains(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE) is not None


def _swap(text: str, old: str, new: str) -> str:
    out = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, text, flags=re.IGNORECASE)
    last_old, last_new = old.split()[-1], new.split()[-1]
    if " " in old and len(last_old) > 3:  # 'Chris Weitz' ... 'Weitz said': the surname too
        out = re.sub(rf"(?<!\w){re.escape(last_old)}(?!\w)", last_new, out)
    return out


def perturb_actor(
    claim: str,
    title: str,
    text: str,
    lexicon: Lexicon,
    replacement: Callable[[str], str | None],
    prominence: Mapping[str, int],
) -> tuple[str, str, str, str] | None:
    """Swap the main actor (of the entities the claim and the article share, the one most of the
    story's headlines name; the first on a tie) for an entity of another story."""
    body = f"{title}\n{text}"
    shared = [e for e in lexicon.entities(claim) if _actor_like(e) and _contains(body, e)]
    for entity in sorted(shared, key=lambda e: -prominence.get(e.lower(), 0)):
        if new := replacement(entity):
            return _swap(title, entity, new), _swap(text, entity, new), entity, new
    return None


_AUX = frozenset("is are was were will would has have had can could should may might must shall".split())
_IRREGULAR = {
    "said": "say", "told": "tell", "took": "take", "made": "make", "won": "win", "lost": "lose",
    "hit": "hit", "set": "set", "got": "get", "gave": "give", "went": "go", "came": "come",
    "found": "find", "saw": "see", "left": "leave", "met": "meet", "led": "lead", "held": "hold",
    "sold": "sell", "bought": "buy", "paid": "pay", "kept": "keep", "ran": "run", "fell": "fall",
    "rose": "rise", "shot": "shoot", "struck": "strike", "began": "begin", "broke": "break",
    "chose": "choose", "drew": "draw", "drove": "drive", "flew": "fly", "grew": "grow", "knew": "know",
    "sent": "send", "spent": "spend", "stood": "stand", "thought": "think", "wrote": "write",
    "caught": "catch", "brought": "bring", "built": "build", "sank": "sink", "shook": "shake",
}  # fmt: skip
_NOUN_BEFORE = frozenset("the a an of for in on to with and by from his her its their this that".split())
_HAVE_OBJECT = frozenset("a an the no its his her their some more many any two three".split())
_NOT_VERBS = frozenset(
    """news series species politics economics physics sales earnings shares stocks prices rates
    times means ties odds arms goods jobs results talks plans fans years days weeks months hours
    officials sources police""".split()
)
# 'X said it will buy Y': the reporting verb is not the claim's verb
_REPORTING = frozenset("said says say told tells announced announces reported reports added adds".split())


def _base_form(word: str, vocab: Counter[str], past: bool) -> str | None:
    w = word.lower()
    if past:
        cands = [w[:-3] + "y"] if w.endswith("ied") else []
        cands += [w[:-1], w[:-2]]
        if len(w) > 4 and w[-3] == w[-4]:
            cands.append(w[:-3])
    else:
        cands = [w[:-3] + "y"] if w.endswith("ies") else []
        if w.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
            cands.append(w[:-2])
        cands.append(w[:-1])
    known = [c for c in cands if vocab[c] > 0]
    if known:
        return max(known, key=lambda c: vocab[c])
    # no stream to look the form up in (a bare Lexicon): the regular form; else no verb ('speed')
    return None if vocab else cands[-1 if past else 0]


def negate(sentence: str, lexicon: Lexicon) -> str | None:
    """The sentence with its first verb negated, or None when no verb is found."""
    tokens = list(re.finditer(r"[A-Za-z][\w'\u2019-]*", sentence))
    if any(
        t.group(0).lower() in {"not", "never"} or t.group(0).lower().endswith(("n't", "n\u2019t"))
        for t in tokens
    ):
        return None  # already negative: negating it again says nothing clear
    for i, m in enumerate(tokens):
        t = m.group(0)
        low = t.lower()
        nxt = tokens[i + 1].group(0).lower() if i + 1 < len(tokens) else ""
        if low in _AUX and nxt not in {"not", "no", "never"}:
            if i == 0 and sentence.rstrip().endswith("?"):
                continue
            title_case = t[0].isupper() and _title_case(sentence)
            if low in {"has", "have", "had"} and (nxt in _HAVE_OBJECT or nxt[:1].isdigit()):
                # 'has a new director' -> 'does not have a new director'
                aux = {"has": "does", "have": "do", "had": "did"}[low]
                phrase = f"{aux} not have"
                if t[0].isupper():
                    phrase = (
                        " ".join(p.capitalize() for p in phrase.split())
                        if title_case
                        else phrase.capitalize()
                    )
                return f"{sentence[: m.start()]}{phrase}{sentence[m.end() :]}"
            return f"{sentence[: m.end()]} {'Not' if title_case else 'not'}{sentence[m.end() :]}"
        if i == 0 or lexicon.is_name(t) or low in STOPWORDS or low in _NOT_VERBS or low in _REPORTING:
            continue
        if "-" in low:
            continue
        if sentence[m.end() : m.end() + 1] == ":":  # 'MH370 News: ...' is a label, not a verb
            continue
        prev = tokens[i - 1].group(0).lower()
        base, aux = None, ""
        if low in _IRREGULAR:
            base, aux = _IRREGULAR[low], "did"
        elif len(low) >= 5 and low.endswith("ed") and prev not in _NOUN_BEFORE:
            base, aux = _base_form(low, lexicon.vocab, past=True), "did"
        elif (
            len(low) >= 4
            and low.endswith("s")
            and not low.endswith(("ss", "us", "is", "'s", "\u2019s"))
            and prev not in _NOUN_BEFORE
            and i >= 1
        ):
            base, aux = _base_form(low, lexicon.vocab, past=False), "does"
        if base:
            phrase = f"{aux} not {base}"
            if t[0].isupper():
                title_case = _title_case(sentence)
                phrase = (
                    " ".join(p.capitalize() for p in phrase.split()) if title_case else phrase.capitalize()
                )
            return f"{sentence[: m.start()]}{phrase}{sentence[m.end() :]}"
    return None


def states_claim(sentence: str, claim_words: frozenset[str]) -> bool:
    words = set(content_words(sentence))
    return bool(claim_words) and len(claim_words & words) >= 0.5 * len(claim_words)


def perturb_negation(
    claim: str, title: str, text: str, lexicon: Lexicon, max_chars: int
) -> tuple[str, str] | None:
    """Negate the sentences that state the claim: the headline (of a headline-only article, or when
    it states the claim) and every sentence of the text the checker reads that states it; when none
    does, the headline and the text sentence of the first five closest to the claim."""
    claim_words = frozenset(content_words(claim))
    head, tail = text[:max_chars], text[max_chars:]
    parts = re.split(r"((?<=[.!?\"\u201d])\s+|\n+)", head)
    targets = [k for k, s in enumerate(parts) if k % 2 == 0 and s.strip() and states_claim(s, claim_words)]
    negate_title = bool(title) and (not text.strip() or states_claim(title, claim_words))
    if not targets and not negate_title:
        sentences = [k for k in range(0, len(parts), 2) if parts[k].strip()][:5]
        overlap = {k: len(claim_words & set(content_words(parts[k]))) for k in sentences}
        best = max(sentences, key=lambda k: (overlap[k], -k), default=None)
        if best is not None and overlap[best]:
            targets = [best]
        negate_title = bool(title)
    done = False
    new_title = title
    if negate_title and (n := negate(title, lexicon)):
        new_title, done = n, True
    for k in targets:
        if n := negate(parts[k], lexicon):
            parts[k], done = n, True
    return (new_title, "".join(parts) + tail) if done else None


# ---------------------------------------------------------------- the checker under test


class CachedEncoder:
    """An encoder that remembers every text it embedded (the sections and grid points re-read the
    same sentences; the cache keeps the bench within minutes)."""

    def __init__(self, inner: TextEncoder) -> None:
        self.inner = inner
        self.dim: int = inner.dim
        self._cache: dict[str, np.ndarray] = {}
        self.seconds = 0.0

    def encode(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            started = time.perf_counter()
            vectors = self.inner.encode(missing)
            self.seconds += time.perf_counter() - started
            for t, v in zip(missing, vectors, strict=True):
                self._cache[t] = np.asarray(v, dtype=np.float32)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


@dataclass(frozen=True, slots=True)
class Judge:
    """The checker under test with one set of parameters (one ``Checker``, so one vector cache,
    for every grid point)."""

    checker: Checker
    params: CorroborationParams

    def assess(self, claims: Sequence[str], docs: Sequence[Passages]) -> list[list[Assessment]]:
        """``out[doc][claim]``; the docs are taken as the reports of one story."""
        if not claims or not docs:
            return [[] for _ in docs]
        return self.checker.assess(claims, docs, params=self.params)

    def score(
        self, summary: StorySummary, members: Sequence[Member], sources: Mapping[str, Source], now: datetime
    ) -> float:
        return float(self.view(summary, members, sources, now).confidence.value)

    def view(
        self, summary: StorySummary, members: Sequence[Member], sources: Mapping[str, Source], now: datetime
    ) -> StoryScored:
        params = ScoreParams(corroboration=self.params)
        return score_story(summary, members, sources, now=now, params=params, checker=self.checker)


# ---------------------------------------------------------------- tasks (built once, judged per grid point)


@dataclass(frozen=True, slots=True)
class Doc:
    passages: tuple[Passages, ...]  # one report's origin articles (a report supports if one does)
    kind: str  # "positive" | "negative" | "figure" | "actor" | "negation"
    ref: int = -1  # a perturbed copy: the positive it was made from (and replaces in the story)
    title: str = ""
    note: str = ""
    article_id: str = ""  # the report's lead article (a perturbed copy: its original's)


@dataclass(frozen=True, slots=True)
class Task:
    """One gold story's claim with the documents it is checked against. ``own`` is the claim's own
    article: a member of the story, so part of every call's story context, but never scored."""

    story: Story
    own: Passages
    positives: tuple[Doc, ...]
    extras: tuple[Doc, ...]  # hard negatives, then perturbed copies of positives
    positive_members: tuple[tuple[Member, ...], ...]  # per positive: the report's origin members
    positive_ids: tuple[frozenset[str], ...]  # per positive: every article of the report


KINDS = ("figure", "actor", "negation")


@dataclass
class Options:
    max_positives: int = 20
    max_negatives: int = 20
    max_origins: int = 3
    window_hours: float = 24.0
    limit_stories: int = 0
    calibration_stories: int = 40
    calibration_members: int = 40
    seed: int = 7
    max_chars: int = 4000


def _prepare(a: Article | Member, max_chars: int) -> Passages:
    return prepare(a.title, "", a.text, max_chars)


def _entity_pool(stories: Sequence[Story], lexicon: Lexicon) -> dict[str, list[tuple[str, int]]]:
    """Each story's entities with the number of member headlines naming them, most named first."""
    pool = {}
    for s in stories:
        counts: Counter[str] = Counter()
        for m in s.members:
            counts.update(e.lower() for e in lexicon.entities(m.title))
        spelled: dict[str, str] = {}
        for m in s.members:
            for e in lexicon.entities(m.title):
                spelled.setdefault(e.lower(), e)
        pool[s.label] = [(spelled[e], c) for e, c in counts.most_common()]
    return pool


_LABELS = frozenset("update video watch photos photo exclusive breaking live report analysis opinion".split())
_DEMONYM = re.compile(r"^[A-Z][a-z]+(?:ian|ean|ese|ish|ic|i)$")


def _actor_like(entity: str) -> bool:
    """A name that can stand as an actor: not a headline label ('UPDATE', 'VIDEO') and not a single
    nationality adjective ('Russian', 'Chinese')."""
    words = entity.split()
    if any(w.lower() in _LABELS for w in words):
        return False
    return not (len(words) == 1 and _DEMONYM.match(entity))


def _pick(options: Sequence[str], key: str) -> str:
    return options[int(hashlib.blake2b(key.encode(), digest_size=4).hexdigest(), 16) % len(options)]


def build_tasks(
    articles: Sequence[Article], stories: Sequence[Story], sources: Mapping[str, Source], opt: Options
) -> tuple[list[Task], dict[str, int]]:
    idf = title_idf(articles)
    lexicon = Lexicon.of(articles)
    pool = _entity_pool(stories, lexicon)
    # other stories' most named entities (named by >= 2 headlines), swap candidates
    pool = {label: [(e, c) for e, c in ents if _actor_like(e)] for label, ents in pool.items()}
    prominent = {
        label: [e for e, c in ents[:3] if c >= 2] or [e for e, _ in ents[:1]] for label, ents in pool.items()
    }
    lower_case = not lexicon.names
    window = timedelta(hours=opt.window_hours)
    title_words = {a.id: frozenset(content_words(a.title)) for a in articles}
    sp = ScoreParams()
    tasks = []
    notes = Counter[str]()
    for s in stories:
        rng = random.Random(f"{opt.seed}/{s.label}")
        members = [a.member() for a in s.members]
        reports, _ = independent_reports(members, sources, sp)
        positives = [r for r in reports if s.claim_article.id not in {m.article_id for m in r.articles}]
        if len(positives) > opt.max_positives:
            positives = rng.sample(positives, opt.max_positives)
            positives.sort(key=lambda r: (r.lead.published_at, r.lead.article_id))
        claim_words = frozenset(content_words(s.claim))
        total = sum(idf.get(w, 1.0) for w in claim_words) or 1.0
        candidates = []
        seen = set()
        for a in articles:
            if a.story == s.label or not (s.first - window <= a.published_at <= s.last + window):
                continue
            shared = claim_words & title_words[a.id]
            if not shared and a.text:
                shared = claim_words & frozenset(content_words(a.text[:600]))
            if not shared:
                continue
            key = (a.story, fingerprint(a.title, a.text))
            if key in seen:
                continue
            seen.add(key)
            candidates.append((sum(idf.get(w, 1.0) for w in shared) / total, a))
        # half the most overlapping (the hard ones), half at random among the rest
        candidates.sort(key=lambda x: (-x[0], x[1].published_at, x[1].id))
        half = opt.max_negatives // 2
        negatives = [a for _, a in candidates[:half]]
        rest = [a for _, a in candidates[half:]]
        negatives += rng.sample(rest, min(len(rest), opt.max_negatives - len(negatives)))

        story_text = " ".join(m.title for m in s.members)
        prominence = {e.lower(): c for e, c in pool[s.label]}

        def replacement(entity: str, label: str = s.label, text: str = story_text) -> str | None:
            options = [
                e
                for other, ents in sorted(prominent.items())
                if other != label
                for e in ents
                if not _contains(text, e) and e.lower() != entity.lower()
            ]
            options = list(dict.fromkeys(options))
            alike = [e for e in options if _shape(e) == _shape(entity)]
            same_length = [e for e in options if _shape(e)[0] == _shape(entity)[0]]
            choice = alike or same_length or options
            return _pick(choice, f"{label}/{entity}") if choice else None

        pos_docs: list[Doc] = []
        pos_members = []
        pos_ids = []
        for r in positives:
            origins = tuple(r.origins[: opt.max_origins])
            pos_members.append(origins)
            pos_ids.append(frozenset(m.article_id for m in r.articles))
            pos_docs.append(
                Doc(
                    tuple(_prepare(m, opt.max_chars) for m in origins),
                    "positive",
                    title=origins[0].title,
                    article_id=origins[0].article_id,
                )
            )
        extras = [
            Doc((_prepare(a, opt.max_chars),), "negative", title=a.title, article_id=a.id) for a in negatives
        ]
        for i, origins in enumerate(pos_members):
            lead = origins[0]
            made: dict[str, tuple[str, str, str] | None] = {}
            fig = perturb_figure(s.claim, lead.title, lead.text)
            made["figure"] = (*fig, "") if fig else None
            neg = perturb_negation(s.claim, lead.title, lead.text, lexicon, opt.max_chars)
            made["negation"] = (*neg, "") if neg else None
            if lower_case:
                low = _lowercase_actor(s, lead, sorted(pool), idf)
                made["actor"] = (*low, "lower-case fallback") if low else None
            else:
                swapped = perturb_actor(s.claim, lead.title, lead.text, lexicon, replacement, prominence)
                made["actor"] = (swapped[0], swapped[1], f"{swapped[2]} -> {swapped[3]}") if swapped else None
            for kind in KINDS:
                got = made[kind]
                if got is None:
                    notes[kind] += 1
                    continue
                title, text, note = got
                extras.append(
                    Doc((prepare(title, "", text, opt.max_chars),), kind, ref=i, title=title, note=note)
                )
        own = _prepare(s.claim_article, opt.max_chars)
        tasks.append(Task(s, own, tuple(pos_docs), tuple(extras), tuple(pos_members), tuple(pos_ids)))
    out = {f"{k}_not_applicable": n for k, n in sorted(notes.items())}
    if lower_case:
        out["actor_lowercase_fallback"] = 1
    return tasks, out


def _lowercase_actor(
    s: Story, lead: Member, labels: Sequence[str], idf: Mapping[str, float]
) -> tuple[str, str] | None:
    """Lower-cased, lemmatised streams write no name in capitals: the claim's most specific word
    that most of the story's headlines share stands for the actor, swapped for a word no story uses."""
    counts: Counter[str] = Counter()
    for m in s.members:
        counts.update(set(content_words(m.title)))
    words = [w for w in content_words(s.claim) if counts[w] >= 0.3 * len(s.members)]
    word = max(words, key=lambda w: (idf.get(w, 1.0), w)) if words else None
    if not word or not _contains(f"{lead.title} {lead.text}", word):
        return None
    others = [label for label in labels if label != s.label]
    if not others:
        return None
    new = "zorblax" + _SLUG.sub("", _pick(others, s.label).lower())[:4]
    return _swap(lead.title, word, new), _swap(lead.text, word, new)


# ---------------------------------------------------------------- judging


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else None
    if f1 is None and (p is not None or r is not None):
        f1 = 0.0
    return {"precision": _r(p), "recall": _r(r), "f1": _r(f1)}


def _report_stance(row: Sequence[Assessment]) -> tuple[Stance, float]:
    """A report supports when one of its articles does (as ``domain.confidence`` counts it)."""
    if any(a.stance is Stance.supports for a in row):
        stance = Stance.supports
    elif any(a.stance is Stance.contradicts for a in row):
        stance = Stance.contradicts
    else:
        stance = Stance.silent
    return stance, max((a.strength for a in row), default=0.0)


def _story_call(
    judge: Judge, claim: str, context: Sequence[Doc], own: Passages, extra: Doc | None = None
) -> tuple[list[tuple[Stance, float]], tuple[Stance, float] | None]:
    """One ``assess`` call on a story: the claim's own article, the reports in ``context`` and, when
    given, one more document (a hard negative, or a perturbed copy standing in for its original):
    the checker sees it among the story's reports, as the service would."""
    docs = [own, *(p for d in context for p in d.passages)]
    if extra is not None:
        docs += extra.passages
    out = judge.assess([claim], docs)
    it = iter(out[1:])
    rows = [_report_stance([next(it)[0] for _ in d.passages]) for d in context]
    last = _report_stance([next(it)[0] for _ in extra.passages]) if extra is not None else None
    return rows, last


def judge_tasks(judge: Judge, tasks: Sequence[Task], examples: int = 0) -> dict[str, Any]:
    """Support and contradiction figures of one checker on the prepared tasks."""
    tp = fp = fn = tn = 0
    false_contra = unperturbed = 0
    per_kind: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
    misses: dict[str, list[dict[str, str]]] = defaultdict(list)
    strengths: list[list[float | None]] = []  # per task and positive: its strength when it supports
    calls: dict[tuple[str, str], Stance] = {}  # (story label, report's lead article) -> stance: the audit

    def keep(kind: str, **item: str) -> None:
        if len(misses[kind]) < examples:
            misses[kind].append({k: v[:160] for k, v in item.items() if v})

    for task in tasks:
        claim = task.story.claim
        if judge.checker.encoder is not None:  # embed the story's sentences in one batch
            judge.assess(
                [claim], [task.own, *(p for d in (*task.positives, *task.extras) for p in d.passages)]
            )
        rows, _ = _story_call(judge, claim, task.positives, task.own)
        strengths.append([sg if st is Stance.supports else None for st, sg in rows])
        for d, (st, _) in zip(task.positives, rows, strict=True):
            calls[(task.story.label, d.article_id)] = st
            unperturbed += 1
            false_contra += st is Stance.contradicts
            if st is Stance.contradicts:
                keep("false_contradiction", claim=claim, report=d.title)
            if st is Stance.supports:
                tp += 1
            else:
                fn += 1
                keep("missed_support", claim=claim, report=d.title, stance=st.value)
        for d in task.extras:
            context = [p for k, p in enumerate(task.positives) if k != d.ref]
            _, got = _story_call(judge, claim, context, task.own, d)
            assert got is not None
            st = got[0]
            if d.kind == "negative":
                calls[(task.story.label, d.article_id)] = st
                if st is Stance.supports:
                    fp += 1
                    keep("false_support", claim=claim, report=d.title)
                else:
                    tn += 1
                continue
            c = per_kind[d.kind]
            c["perturbed"] += 1
            c["detected"] += st is Stance.contradicts
            c["still_supports"] += st is Stance.supports
            if rows[d.ref][0] is Stance.supports:
                c["of_supported"] += 1
                c["detected_of_supported"] += st is Stance.contradicts
                if st is not Stance.contradicts:
                    keep(f"missed_{d.kind}", claim=claim, perturbed=d.title, swap=d.note, stance=st.value)
    support = {
        "positives": tp + fn,
        "negatives": fp + tn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        **_prf(tp, fp, fn),
    }
    kinds = {}
    for k, c in per_kind.items():
        kinds[k] = {
            "perturbed": c["perturbed"],
            "detected": c["detected"],
            "recall": _r(c["detected"] / c["perturbed"]) if c["perturbed"] else None,
            "still_supports": c["still_supports"],
            "of_supported": c["of_supported"],
            "recall_of_supported": _r(c["detected_of_supported"] / c["of_supported"])
            if c["of_supported"]
            else None,
        }
    n_pert = sum(c["perturbed"] for c in per_kind.values())
    n_det = sum(c["detected"] for c in per_kind.values())
    n_sup = sum(c["of_supported"] for c in per_kind.values())
    n_sup_det = sum(c["detected_of_supported"] for c in per_kind.values())
    contradiction = {
        "by_kind": kinds,
        "recall": _r(n_det / n_pert) if n_pert else None,
        "recall_of_supported": _r(n_sup_det / n_sup) if n_sup else None,
        "perturbed": n_pert,
        "of_supported": n_sup,
        "false_contradictions": false_contra,
        "unperturbed": unperturbed,
        "false_contradiction_rate": _r(false_contra / unperturbed) if unperturbed else None,
    }
    return {
        "support": support,
        "contradiction": contradiction,
        "examples": dict(misses),
        "_strengths": strengths,
        "_calls": calls,
    }


# ---------------------------------------------------------------- audited support labels


def read_audit(path: Path) -> dict[str, dict[tuple[str, str], bool]]:
    """Hand labels of sampled support decisions, by stream: (story label, report's lead article) ->
    whether the report states the story's core claim (bench/data/support-audit.jsonl)."""
    out: dict[str, dict[tuple[str, str], bool]] = defaultdict(dict)
    fields = {"stream": str, "story": (str, int), "article_id": (str, int), "states": bool}
    for row in read_jsonl(path, required=fields):
        out[row["stream"]][(str(row["story"]), str(row["article_id"]))] = row["states"]
    return dict(out)


def audit_figures(
    calls: Mapping[tuple[str, str], Stance], labels: Mapping[tuple[str, str], bool]
) -> dict[str, Any]:
    """Support precision/recall against the hand labels ("does this report state the claim?"),
    rather than against the gold story label (a report of the same story need not state its core
    claim; one of another story may)."""
    tp = fp = fn = tn = 0
    for key, states in labels.items():
        st = calls.get(key)
        if st is None:
            continue
        said = st is Stance.supports
        tp += said and states
        fp += said and not states
        fn += states and not said
        tn += not said and not states
    counts = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    return {"labelled": len(labels), "matched": tp + fp + fn + tn, **counts, **_prf(tp, fp, fn)}


# ---------------------------------------------------------------- calibration

PRIMARY_OUTLETS = ("nature.com", "nasa.gov", "sec.gov", "who.int", "europa.eu")


def _summary(story_id: str, claims: Sequence[str], members: Sequence[Member]) -> StorySummary:
    ids = [m.article_id for m in members]
    return make_story_summary(
        story_id=story_id[:24] or "story",
        title=claims[0],
        summary=[GroundedSentence(text=c, article_ids=ids[:1]) for c in claims],
        body=[[GroundedSentence(text=c, article_ids=ids[:1]) for c in claims]],
        member_ids=ids,
    )


def _own_claims(a: Article) -> list[str]:
    """A one-member story's summary: its headline and up to two first sentences of its text."""
    out = [clean_claim(a.title)] + [s.strip() for s in _sentences(a.text)[:2]]
    return [c for c in dict.fromkeys(out) if c][:3]


def calibrate(
    judge: Judge,
    tasks: Sequence[Task],
    ratings: Mapping[str, Source],
    opt: Options,
    donors: Sequence[int | None],
) -> dict[str, Any]:
    credible = sorted(
        (s for s in ratings.values() if s.credibility >= 0.85 and not is_primary(s) and "." in s.domain),
        key=lambda s: s.domain,
    )
    by_group: dict[str, list[Source]] = defaultdict(list)
    for src in ratings.values():
        if src.owner_group:
            by_group[src.owner_group].append(src)
    rated = set(ratings)
    big, single_unrated, single_primary = [], [], []
    mono_checked = mono_viol = mono_skipped = mono_not_corroborating = 0
    copy_checked: Counter[str] = Counter()
    copy_viol: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    primary_is_primary = 0
    for t_i, task in enumerate(tasks[: opt.calibration_stories]):
        s = task.story
        rng = random.Random(f"{opt.seed}/cal/{s.label}")
        arts = list(s.members[: opt.calibration_members])
        if s.claim_article not in arts:
            arts[-1] = s.claim_article
        members = [a.member() for a in arts]
        sources = {m.source: ratings[m.source] for m in members if m.source in ratings}
        now = max(m.published_at for m in members) + timedelta(hours=1)
        summary = _summary(s.label, s.central, members)
        params = ScoreParams(corroboration=judge.params)
        base = judge.score(summary, members, sources, now)
        reports, _ = independent_reports(members, sources, params)
        n_credible = sum(
            1
            for r in reports
            if max((sources.get(m.source) or Source(domain=m.source)).credibility for m in r.origins) >= 0.7
        )
        if n_credible >= 5:
            big.append(base)

        # one member, from an unrated outlet (the claim's article, re-attributed when its outlet is rated)
        lone = s.claim_article
        lone_domain = lone.domain if lone.domain not in rated else f"unrated-{t_i}.example"
        one = [lone.member(source=lone_domain)]
        single_unrated.append(judge.score(_summary(s.label, _own_claims(lone), one), one, {}, now))
        pd = PRIMARY_OUTLETS[t_i % len(PRIMARY_OUTLETS)]
        psrc = ratings.get(pd) or Source(domain=pd)
        primary_is_primary += is_primary(psrc)
        one_p = [lone.member(source=pd, url=f"https://www.{pd}/{lone.id}")]
        single_primary.append(
            judge.score(_summary(s.label, _own_claims(lone), one_p), one_p, {pd: psrc}, now)
        )

        # monotonicity: the most supporting positive held out, then re-added under a new credible outlet
        donor_i = donors[t_i] if t_i < len(donors) else None
        if donor_i is None:
            mono_skipped += 1
        elif len(members) >= 2:
            donor_ids = task.positive_ids[donor_i]  # the whole report: its copies would fold the re-added one
            donor = task.positive_members[donor_i][0]
            rest = [m for m in members if m.article_id not in donor_ids]
            if rest:
                in_story = {m.source for m in rest}
                groups = {(sources.get(d) or Source(domain=d)).group_key for d in in_story}
                fresh = [c for c in credible if c.domain not in in_story and c.group_key not in groups]
                if fresh:
                    outlet = fresh[rng.randrange(len(fresh))]
                    src2 = {**{k: v for k, v in sources.items() if k in in_story}, outlet.domain: outlet}
                    view_b = judge.view(_summary(s.label, s.central, rest), rest, src2, now)
                    before = view_b.confidence.value
                    added = replace(
                        donor,
                        article_id=f"{donor.article_id}-re",
                        source=outlet.domain,
                        url=f"https://www.{outlet.domain}/{donor.article_id}",
                        copy_of=None,
                    )
                    view = judge.view(_summary(s.label, s.central, [*rest, added]), [*rest, added], src2, now)
                    after = view.confidence.value
                    core = set(view.confidence.core or [])
                    report = next(r for r in view.confidence.reports if added.article_id in r.article_ids)
                    corroborates = bool(core & set(report.supports)) and not report.contradicts
                    if corroborates:
                        mono_checked += 1
                    else:
                        mono_not_corroborating += 1  # the checker does not read it as corroborating
                    if corroborates and after < before:
                        mono_viol += 1
                        if len(examples) < 3:
                            examples.append(
                                {
                                    "kind": "monotonicity",
                                    "claim": s.claim[:120],
                                    "added": donor.title[:120],
                                    "outlet": outlet.domain,
                                    "before": before,
                                    "after": after,
                                    "changed": [
                                        (b.sources, b.supports, b.contradicts, a.supports, a.contradicts)
                                        for b in view_b.confidence.reports
                                        for a in view.confidence.reports
                                        if a.report_id == b.report_id
                                        and (a.supports, a.contradicts) != (b.supports, b.contradicts)
                                    ][:5],
                                    "core": [view_b.confidence.core, view.confidence.core],
                                }
                            )

        # copy invariance: three kinds of copy of a (non-claim) member
        target = next((m for m in members if m.article_id != s.claim_article.id), members[0])
        tsrc = sources.get(target.source) or Source(domain=target.source)
        sibling = next(
            (x for x in by_group.get(tsrc.owner_group or "", []) if x.domain != target.source), None
        )
        copies: dict[str, tuple[Member, dict[str, Source]]] = {
            "same_fingerprint": (
                replace(target, article_id=f"{target.article_id}-syn", url=f"{target.url}#syn",
                        source=f"syndicator-{t_i}.example"),
                {},
            ),
            "copy_of": (
                replace(target, article_id=f"{target.article_id}-copy", url=f"{target.url}#copy",
                        source=f"copier-{t_i}.example", copy_of=target.article_id),
                {},
            ),
            "same_outlet": (
                replace(target, article_id=f"{target.article_id}-again", url=f"{target.url}#again"),
                {},
            ),
        }  # fmt: skip
        if sibling is not None:
            copies["owner_group"] = (
                replace(target, article_id=f"{target.article_id}-sib", source=sibling.domain,
                        url=f"https://www.{sibling.domain}/{target.article_id}"),
                {sibling.domain: sibling},
            )  # fmt: skip
        for kind, (extra, extra_sources) in copies.items():
            ms = [*members, extra]
            value = judge.score(_summary(s.label, s.central, ms), ms, {**sources, **extra_sources}, now)
            copy_checked[kind] += 1
            if value != base:
                copy_viol[kind] += 1
                if len(examples) < 6:
                    examples.append(
                        {
                            "kind": f"copy:{kind}",
                            "claim": s.claim[:120],
                            "copied": target.title[:120],
                            "before": base,
                            "after": value,
                        }
                    )

    def med(xs: Sequence[float]) -> float | None:
        return round(statistics.median(xs), 1) if xs else None

    return {
        "stories": min(len(tasks), opt.calibration_stories),
        "median_credible_5plus": med(big),
        "n_credible_5plus": len(big),
        "median_single_unrated": med(single_unrated),
        "n_single_unrated": len(single_unrated),
        "median_single_primary": med(single_primary),
        "n_single_primary": len(single_primary),
        "primary_outlets_recognised": primary_is_primary,
        "monotonicity_checked": mono_checked,
        "monotonicity_skipped_added_not_corroborating": mono_not_corroborating,
        "monotonicity_violations": mono_viol,
        "monotonicity_skipped_no_supporting_report": mono_skipped,
        "copy_checked": dict(copy_checked),
        "copy_invariance_violations": sum(copy_viol.values()),
        "copy_violations_by_kind": dict(copy_viol),
        "examples": examples,
    }


# ---------------------------------------------------------------- pairs


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson correlation of the ranks (ties get their average rank)."""

    def ranks(v: Sequence[float]) -> np.ndarray:
        a = np.asarray(v, dtype=float)
        order = np.argsort(a, kind="mergesort")
        r = np.empty(len(a))
        r[order] = np.arange(1, len(a) + 1)
        for value in np.unique(a):
            tie = a == value
            if tie.sum() > 1:
                r[tie] = r[tie].mean()
        return r

    if len(x) < 2:
        return None
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def read_pairs(path: Path) -> list[tuple[float, str, str]]:
    rows = read_jsonl(path, required={"score": float, "a": str, "b": str})
    return [(row["score"], row["a"].strip(), row["b"].strip()) for row in rows]


def judge_pairs(judge: Judge, pairs: Sequence[tuple[float, str, str]], chunk: int = 64) -> dict[str, Any]:
    """Each pair on its own: headline a as the claim, headline b as the one article of a story."""
    docs = [prepare(b, "", "") for _, _, b in pairs]
    if judge.checker.encoder is not None:  # embed in batches; the per-pair calls then find the vectors
        for i in range(0, len(pairs), chunk):
            judge.assess([a for _, a, _ in pairs[i : i + chunk]], docs[i : i + chunk])
    decisions: list[tuple[float, bool, float]] = []
    for (score, a, _), doc in zip(pairs, docs, strict=True):
        v = judge.assess([a], [doc])[0][0]
        decisions.append((score, v.stance is Stance.supports, v.strength))
    pos = [d for d in decisions if d[0] >= 4.0]
    neg = [d for d in decisions if d[0] <= 1.5]
    tp = sum(1 for d in pos if d[1])
    fp = sum(1 for d in neg if d[1])
    rho = spearman([d[2] for d in decisions], [d[0] for d in decisions])
    return {
        "pairs": len(decisions),
        "clear": len(pos) + len(neg),
        "clear_accuracy": _r((tp + len(neg) - fp) / (len(pos) + len(neg))) if pos or neg else None,
        "must_support": len(pos),
        "supported": tp,
        "must_not": len(neg),
        "wrongly_supported": fp,
        "spearman": _r(rho),
        "_tp": tp,
        "_fp": fp,
        "_fn": len(pos) - tp,
    }


# ---------------------------------------------------------------- grid / leave one stream out


def parse_grid(specs: Sequence[str]) -> dict[str, list[Any]]:
    known = {f.name: f for f in fields(CorroborationParams)}
    defaults = CorroborationParams()
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or name not in known:
            raise typer.BadParameter(
                f"--grid {spec!r}: expected FIELD=v1,v2 with FIELD one of {sorted(known)}"
            )
        kind = type(getattr(defaults, name))
        grid[name] = [
            kind(v) if kind is not bool else v.lower() in {"1", "true", "yes"} for v in values.split(",")
        ]
    return grid


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    names = sorted(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))]


def _pooled(figures: Iterable[tuple[int, int, int]]) -> dict[str, float | None]:
    tp = fp = fn = 0
    for a, b, c in figures:
        tp, fp, fn = tp + a, fp + b, fn + c
    return _prf(tp, fp, fn)


def loso(
    per_point: Sequence[tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any] | None]],
    streams: Sequence[str],
    min_precision: float = 0.90,
    audit: Mapping[str, Mapping[tuple[str, str], bool]] | None = None,
) -> dict[str, Any]:
    """For each held-out stream, the point with the best pooled F1 at pooled precision >= 0.90 on the
    other streams (+ the clear pairs), and the held-out stream's figures with it."""

    def counts(figs: Mapping[str, Any]) -> tuple[int, int, int]:
        s = figs["support"]
        return int(s["tp"]), int(s["fp"]), int(s["fn"])

    def pick(exclude: str | None) -> int:
        best, best_key = 0, (-1.0, -1.0, -1.0)
        for i, (_, by_stream, pairs) in enumerate(per_point):
            figs = [counts(by_stream[s]) for s in streams if s != exclude]
            if pairs is not None:
                figs.append((pairs["_tp"], pairs["_fp"], pairs["_fn"]))
            pooled = _pooled(figs)
            p, f1 = pooled["precision"] or 0.0, pooled["f1"] or 0.0
            key = (1.0 if p >= min_precision else 0.0, f1 if p >= min_precision else p, -i)
            if key > best_key:
                best, best_key = i, key
        return best

    def brief(figs: Mapping[str, Any], stream: str) -> dict[str, Any]:
        s, c = figs["support"], figs["contradiction"]
        out = {
            "precision": s["precision"],
            "recall": s["recall"],
            "f1": s["f1"],
            "contradiction_recall": c["recall"],
            "contradiction_recall_of_supported": c["recall_of_supported"],
            "false_contradiction_rate": c["false_contradiction_rate"],
        }
        if audit and stream in audit:
            a = audit_figures(figs["_calls"], audit[stream])
            out["audited"] = {k: a[k] for k in ("precision", "recall", "f1")}
        return out

    fitted = pick(None)
    out: dict[str, Any] = {
        "points": len(per_point),
        "min_precision": min_precision,
        "fitted_all": {"params": per_point[fitted][0]},
        "held_out": {},
    }
    for s in streams:
        out["fitted_all"][s] = brief(per_point[fitted][1][s], s)
    if len(streams) > 1:
        for s in streams:
            chosen = pick(s)
            out["held_out"][s] = {
                "params": per_point[chosen][0],
                "held_out": brief(per_point[chosen][1][s], s),
                "default": brief(per_point[0][1][s], s),
            }
    return out


# ---------------------------------------------------------------- related


def related_section(path: Path) -> dict[str, Any]:
    try:
        module = importlib.import_module("tellwell.bench.related")
        metrics = module.related_metrics
    except Exception as exc:  # another helper's module: the bench runs without it
        return {"error": f"{type(exc).__name__}: {exc}"}
    try:
        return dict(metrics(path))
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


# ---------------------------------------------------------------- the run


TARGETS = {
    "support_f1": 0.85,
    "support_precision": 0.90,
    "contradiction_recall": 0.80,
    "false_contradiction_rate": 0.02,
    "median_credible_5plus": 80.0,
    "median_single_unrated": 45.0,
    "clear_pair_accuracy": 0.85,
}


def _meets(stream: Mapping[str, Any]) -> dict[str, bool | None]:
    s, c, cal = stream["support"], stream["contradiction"], stream["calibration"]

    def ge(x: float | None, t: float) -> bool | None:
        return None if x is None else x >= t

    def le(x: float | None, t: float) -> bool | None:
        return None if x is None else x <= t

    return {
        "support": None if s["f1"] is None else bool(ge(s["f1"], 0.85) and ge(s["precision"], 0.90)),
        "contradiction": None
        if c["recall"] is None
        else bool(ge(c["recall"], 0.80) and le(c["false_contradiction_rate"], 0.02)),
        "credible_5plus": ge(cal["median_credible_5plus"], 80.0),
        "single_unrated": le(cal["median_single_unrated"], 45.0),
        "zero_violations": cal["monotonicity_violations"] == 0 and cal["copy_invariance_violations"] == 0,
    }


def _donors(figs: Mapping[str, Any], tasks: Sequence[Task]) -> list[int | None]:
    """Per task, the positive the checker supports most strongly (the calibration holds it out and
    re-adds it under a new outlet); None when the checker supports none: nothing corroborates."""
    out: list[int | None] = []
    for strengths, _task in zip(figs["_strengths"], tasks, strict=True):
        supported = [i for i, sg in enumerate(strengths) if sg is not None]
        out.append(max(supported, key=lambda i: (strengths[i], -i)) if supported else None)
    return out


def run(
    inputs: Sequence[Path],
    pairs_path: Path | None = None,
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    encoder: TextEncoder | Literal[False] | None = None,
    options: Options | None = None,
    examples: int = 3,
    related: bool = True,
    audit_path: Path | None = None,
) -> dict[str, Any]:
    """The whole bench: one dict (the JSON line)."""
    audit = read_audit(audit_path) if audit_path else {}
    opt = options or Options()
    started = time.perf_counter()
    if encoder is None:
        from tellwell.common.embed import Encoder

        encoder = Encoder(max_seq_length=64)  # as the score service runs it
    cached = CachedEncoder(encoder) if encoder is not False else None
    defaults = CorroborationParams()
    opt.max_chars = defaults.max_chars
    judge = Judge(Checker(defaults, encoder=cached or False), defaults)
    t0 = time.perf_counter()
    ratings = _ratings()
    result: dict[str, Any] = {
        "bench": "confidence",
        "encoder": type(encoder).__name__ if encoder is not False else "none (words only)",
        "options": {k: getattr(opt, k) for k in Options.__dataclass_fields__},
        "streams": {},
        "timing_s": {"ratings": round(time.perf_counter() - t0, 2)},
    }
    all_tasks: dict[str, list[Task]] = {}
    default_figs: dict[str, dict[str, Any]] = {}
    for path in inputs:
        name = path.name.removesuffix(".jsonl")
        timing: dict[str, float] = {}
        t = time.perf_counter()
        articles = read_stream(path)
        stories = build_stories(articles, title_idf(articles))
        stories = [s for s in stories if len(s.members) >= 2]
        if opt.limit_stories:
            stories = stories[: opt.limit_stories]
        tasks, notes = build_tasks(articles, stories, ratings, opt)
        all_tasks[name] = tasks
        timing["build"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        figs = judge_tasks(judge, tasks, examples)
        default_figs[name] = figs
        timing["support_contradiction"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        cal = calibrate(judge, tasks, ratings, opt, _donors(figs, tasks))
        timing["calibration"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        rel = related_section(path) if related else {"skipped": True}
        timing["related"] = round(time.perf_counter() - t, 2)
        stream = {
            "articles": len(articles),
            "stories": len(stories),
            "rated_articles": sum(1 for a in articles if a.domain in ratings),
            "support": figs["support"],
            "contradiction": {**figs["contradiction"], "not_applicable": notes},
            "calibration": cal,
            "related": rel,
            "examples": figs["examples"],
            "timing_s": timing,
        }
        if name in audit:
            stream["audited_support"] = audit_figures(figs["_calls"], audit[name])
        stream["targets_met"] = _meets(stream)
        result["streams"][name] = stream
    pairs = read_pairs(pairs_path) if pairs_path else []
    pair_figs: dict[str, Any] | None = None
    if pairs:
        t = time.perf_counter()
        pair_figs = judge_pairs(judge, pairs)
        result["pairs"] = {k: v for k, v in pair_figs.items() if not k.startswith("_")}
        result["pairs"]["target_met"] = (pair_figs["clear_accuracy"] or 0.0) >= 0.85
        result["timing_s"]["pairs"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    points = grid_points(grid) if grid else []
    per_point: list[tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, Any] | None]] = [
        ({}, default_figs, pair_figs)
    ]
    for point in points:
        j = Judge(judge.checker, replace(defaults, **point))
        per_point.append(
            (
                point,
                {n: judge_tasks(j, ts) for n, ts in all_tasks.items()},
                judge_pairs(j, pairs) if pairs else None,
            )
        )
    result["loso"] = loso(per_point, list(all_tasks), audit=audit)
    result["loso"]["grid"] = {k: list(v) for k, v in (grid or {}).items()}
    result["timing_s"]["loso"] = round(time.perf_counter() - t, 2)
    result["timing_s"]["encoder"] = round(cached.seconds, 2) if cached else 0.0
    result["timing_s"]["total"] = round(time.perf_counter() - started, 2)
    result["targets"] = TARGETS
    return result


def bench_confidence(
    input: Annotated[
        list[Path],
        typer.Option("--input", exists=True, dir_okay=False, help="Labelled JSONL stream (repeat)."),
    ],
    pairs: Annotated[
        Path | None, typer.Option("--pairs", exists=True, dir_okay=False, help="STS headline pairs JSONL.")
    ] = None,
    audit: Annotated[
        Path | None,
        typer.Option(
            "--audit",
            exists=True,
            dir_okay=False,
            help="Hand labels of sampled support decisions (bench/data/support-audit.jsonl).",
        ),
    ] = None,
    json_only: JsonOnly = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the JSON line to this file.")] = None,
    grid: Annotated[
        list[str] | None, typer.Option("--grid", help="CorroborationParams FIELD=v1,v2 (repeat) for loso.")
    ] = None,
    limit_stories: Annotated[
        int, typer.Option(help="At most this many gold stories per stream (0: all).")
    ] = 0,
    calibration_stories: Annotated[int, typer.Option(help="Stories per stream in calibration.")] = 40,
    max_positives: Annotated[int, typer.Option(help="Independent reports checked per claim.")] = 20,
    max_negatives: Annotated[int, typer.Option(help="Hard negatives checked per claim.")] = 20,
    window_hours: Annotated[
        float, typer.Option(help="Hard negatives published within this of the story.")
    ] = 24.0,
    seed: Annotated[int, typer.Option(help="Seed of every sample.")] = 7,
    encoder: Annotated[
        str, typer.Option(help="minilm (the service's), hash (no model) or none (words only).")
    ] = "minilm",
    examples: Annotated[int, typer.Option(help="Failure examples kept per kind and stream.")] = 3,
) -> None:
    """Support, contradiction, calibration, paraphrase pairs and leave-one-stream-out figures of the
    confidence score on labelled streams; prints one JSON line."""
    enc: TextEncoder | Literal[False] | None = None
    if encoder == "hash":
        from tellwell.common.embed import HashEncoder

        enc = HashEncoder()
    elif encoder == "none":
        enc = False
    elif encoder != "minilm":
        raise typer.BadParameter(f"--encoder {encoder!r}: minilm, hash or none")
    opt = Options(
        max_positives=max_positives,
        max_negatives=max_negatives,
        window_hours=window_hours,
        limit_stories=limit_stories,
        calibration_stories=calibration_stories,
        seed=seed,
    )
    result = run(
        input,
        pairs,
        grid=parse_grid(grid or []),
        encoder=enc,
        options=opt,
        examples=examples,
        audit_path=audit,
    )
    line = json.dumps(result, ensure_ascii=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(line + "\n", encoding="utf-8")
    if not json_only:
        for name, s in result["streams"].items():
            sup, con, cal = s["support"], s["contradiction"], s["calibration"]
            typer.echo(
                f"{name}: support P {sup['precision']} R {sup['recall']} F1 {sup['f1']}; contradiction "
                f"recall {con['recall']} false {con['false_contradiction_rate']}; median conf 5+ credible "
                f"{cal['median_credible_5plus']} single unrated {cal['median_single_unrated']}; violations "
                f"{cal['monotonicity_violations']}/{cal['copy_invariance_violations']}",
                err=True,
            )
    typer.echo(line)
