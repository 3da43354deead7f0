"""Scoring a story: independence, corroboration, confidence, lean, blindspot, hotness, the view.

Pure functions on plain data: no I/O, no clock (``now`` is passed in). ``score_story`` turns a
``StorySummary``, its member articles and their sources into the ``StoryScored`` view; ``recompute``
derives the confidence figure from a ``Confidence`` payload alone. docs/score.md explains the
formulas and why they have the properties the tests pin.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from tellwell.common.articles import StoredArticle
from tellwell.common.events import (
    ArticleRef,
    Blindspot,
    CollapsedArticle,
    Confidence,
    Gap,
    GapKind,
    IndependentReport,
    Lean,
    LeanDistribution,
    RelatedStory,
    StoryScored,
    StorySummary,
    summary_rank,
)
from tellwell.common.sources import Source
from tellwell.score.corroboration import (
    Checker,
    CorroborationParams,
    PassageCache,
    Passages,
    Stance,
    prepare,
)

# ---------------------------------------------------------------- inputs and parameters


@dataclass(frozen=True, slots=True)
class Member(StoredArticle):
    """A member article as score reads it from ingest's ``articles`` collection."""

    language: str = "und"
    copy_of: str | None = None
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class ScoreParams:
    """Everything tunable about scoring (the service builds it from ``Settings``)."""

    revision: int = 1  # bump to make a replay of story.summary overwrite every view (see view_version)
    blindspot_share: float = 0.8
    blindspot_min_reports: int = 3
    hotness_half_life_h: float = 6.0
    copy_jaccard: float = 0.8  # word 5-gram Jaccard above which two texts are one report
    copy_min_chars: int = 150  # shorter texts (headlines, teasers) are compared by fingerprint only
    corroboration: CorroborationParams = field(default_factory=CorroborationParams)


HOTNESS_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
MAX_RELATED = 10

# ---------------------------------------------------------------- confidence: the formula

METHOD = "corroboration-v3"


@dataclass(frozen=True, slots=True)
class Method:
    """The constants of one confidence method; ``recompute`` looks them up by name."""

    silent_weight: float  # a report silent on the core facts counts this much against them
    breadth_tau: float  # corroborating credibility mass at which breadth reaches 1 - 1/e
    primary_strength: float  # how far one primary source alone carries breadth
    core_facts: bool = False  # v3: the title's event and claims >= 2 reports make; disputes multiply


METHODS: dict[str, Method] = {
    "corroboration-v1": Method(silent_weight=0.5, breadth_tau=1.5, primary_strength=0.99),
    # v2: silence weighs 0.05 (most reports of a big story are silent on any one headline-sized claim;
    # breadth, not silence, keeps a claim only one voice states low)
    "corroboration-v2": Method(silent_weight=0.05, breadth_tau=1.5, primary_strength=0.99),
    # v3: confidence is about the core facts (claim 0 is the title's event; another claim is core when
    # two independent reports or a primary source state it), a one-source detail no longer dilutes it
    METHOD: Method(silent_weight=0.1, breadth_tau=1.5, primary_strength=0.99, core_facts=True),
}


@dataclass(frozen=True, slots=True)
class ClaimScore:
    """How one claim fares: its share, breadth and their product (v3: its dispute)."""

    share: float
    breadth: float
    support: float  # M: the credibility of the secondary reports that state it
    primary: float  # P: the strength of a primary source that states it
    score: float
    core: bool = True
    dispute: float = 0.0  # v3: contradicting weight / (supporting + contradicting) weight


@dataclass(frozen=True, slots=True)
class Breakdown:
    claims: tuple[ClaimScore, ...]
    value: float
    share: float = 0.0  # v3: of the story as a whole
    breadth: float = 0.0
    dispute: float = 0.0  # v3: the weight of reports that give the event otherwise, of all stating it


def core_claims(n_claims: int, reports: Sequence[IndependentReport]) -> list[int]:
    """v3's core facts: claim 0 (the event the title states) and every claim that at least two
    independent reports, or one primary source, state."""
    out = []
    for k in range(n_claims):
        backers = [r for r in reports if k in r.supports]
        if k == 0 or len(backers) >= 2 or any(r.primary for r in backers):
            out.append(k)
    return out


def _breakdown_v3(m: Method, n_claims: int, reports: Sequence[IndependentReport]) -> Breakdown:
    core = set(core_claims(n_claims, reports))
    support = against = silent = mass = primary = 0.0
    for r in reports:
        w = r.credibility
        states_core = bool(core & set(r.supports))
        disputes_event = 0 in r.contradicts
        # a report that states the event with another figure corroborates half and disputes half
        part = 0.5 * w if states_core and disputes_event else w if states_core else 0.0
        if part:
            support += part
            if r.primary:
                primary = max(primary, m.primary_strength * part)
            else:
                mass += part
        if disputes_event:
            against += w - part
        elif not states_core:
            silent += w
    den = support + against + m.silent_weight * silent
    share = support / den if den > 0 else 0.0
    breadth = 1.0 - (1.0 - primary) * math.exp(-mass / m.breadth_tau)
    scores = []
    for k in range(n_claims):
        s_k = sum(r.credibility for r in reports if k in r.supports)
        c_k = sum(r.credibility for r in reports if k in r.contradicts and k not in r.supports)
        m_k = sum(r.credibility for r in reports if k in r.supports and not r.primary)
        p_k = max(
            (m.primary_strength * r.credibility for r in reports if k in r.supports and r.primary),
            default=0.0,
        )
        b_k = 1.0 - (1.0 - p_k) * math.exp(-m_k / m.breadth_tau)
        share_k = s_k / (s_k + c_k) if s_k + c_k > 0 else 0.0
        scores.append(
            ClaimScore(share_k, b_k, m_k, p_k, share_k * b_k, k in core, c_k / (s_k + c_k) if c_k else 0.0)
        )
    dispute = against / (support + against) if against else 0.0
    return Breakdown(tuple(scores), round(100.0 * share * breadth, 1), share, breadth, dispute)


def breakdown(method: str, n_claims: int, reports: Sequence[IndependentReport]) -> Breakdown:
    """The confidence formula (docs/score.md).

    v3 (``core_facts``), with w = a report's credibility: a report *corroborates* when it states at
    least one core fact (``core_claims``) and *disputes* when it contradicts the title's event (claim
    0); one that does both (the event with another figure) counts w/2 each way. ``S`` = corroborating
    weight, ``C`` = disputing weight, ``N = Σ w`` over the silent rest;
    ``share = S / (S + C + silent_weight·N)``; ``breadth = 1 - (1 - P)·exp(-M / tau)`` with ``M`` =
    S over secondary reports and ``P = max primary_strength·w`` over primary ones;
    ``value = 100 · share · breadth``.

    v1/v2, claim by claim, then averaged: ``share = S / (S + C + silent_weight·N)``, ``breadth`` as
    above per claim, ``score = share · breadth``; ``value = 100 · mean(score)``.
    """
    try:
        m = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown confidence method {method!r}") from None
    if n_claims <= 0 or not reports:
        return Breakdown((), 0.0)
    if m.core_facts:
        return _breakdown_v3(m, n_claims, reports)
    scores = []
    for k in range(n_claims):
        support = against = silent = mass = primary = 0.0
        for r in reports:
            if k in r.supports:
                support += r.credibility
                if r.primary:
                    primary = max(primary, m.primary_strength * r.credibility)
                else:
                    mass += r.credibility
            elif k in r.contradicts:
                against += r.credibility
            else:
                silent += r.credibility
        den = support + against + m.silent_weight * silent
        share = support / den if den > 0 else 0.0
        breadth = 1.0 - (1.0 - primary) * math.exp(-mass / m.breadth_tau)
        scores.append(ClaimScore(share, breadth, mass, primary, share * breadth))
    return Breakdown(tuple(scores), round(100.0 * sum(c.score for c in scores) / n_claims, 1))


def recompute(confidence: Confidence) -> float:
    """The confidence figure from its payload alone: claims, reports (credibility, primary, supports,
    contradicts) and the method. Equals ``confidence.value`` for every view score produces."""
    return breakdown(confidence.method, len(confidence.claims), confidence.reports).value


# ---------------------------------------------------------------- primary sources

# Preprint servers and official publishers that the registry does not type as journals.
PRIMARY_DOMAINS = frozenset(
    {"arxiv.org", "biorxiv.org", "medrxiv.org", "ssrn.com", "europa.eu", "un.org", "who.int", "sec.gov"}
)
# Second-level labels of government domains: nasa.gov, gov.uk, gouv.fr, gc.ca, bund.de, go.jp ...
_GOVERNMENT_LABELS = frozenset({"gov", "gouv", "gob", "govt", "mil", "gc", "bund", "go", "admin"})


def is_primary(source: Source) -> bool:
    """Whether an outlet publishes primary material (a paper, a filing, an official statement) rather
    than reporting on it: a journal or government body by the registry's media type, a government
    domain, an international organisation (``.int``) or a preprint server."""
    domain = source.domain
    labels = domain.split(".")
    if domain in PRIMARY_DOMAINS or labels[-1] == "int" or _GOVERNMENT_LABELS & set(labels):
        return True
    kind = (source.media_type or "").lower()
    return "journal" in kind or "government" in kind


# ---------------------------------------------------------------- independence


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


_SHINGLE_WORD = re.compile(r"\w+")
_SKETCH = 32
_SKETCH_MIN = 12  # two texts with Jaccard >= 0.8 share ~26 of 32 sketch values; 12 is far below


def _shingles(text: str) -> frozenset[int]:
    w = _SHINGLE_WORD.findall(text[:800].lower())  # copies agree from their first paragraph
    return frozenset(map(hash, zip(w, w[1:], w[2:], w[3:], w[4:], strict=False)))


def copy_groups(members: Sequence[Member], params: ScoreParams) -> list[list[Member]]:
    """Members grouped with their copies, origin first: marked by ingest (``copy_of``), equal
    fingerprints, or near-identical texts (word 5-gram Jaccard ≥ ``copy_jaccard``)."""
    uf = _UnionFind()
    ids = {m.article_id for m in members}
    targets = {m.copy_of for m in members if m.copy_of}
    by_fingerprint: dict[str, str] = {}
    for m in members:
        uf.find(m.article_id)
        if m.copy_of:
            uf.union(m.article_id, m.copy_of if m.copy_of in ids else f"origin:{m.copy_of}")
        if m.fingerprint and m.fingerprint.strip("0"):
            first = by_fingerprint.setdefault(m.fingerprint, m.article_id)
            uf.union(m.article_id, first)
    # Exact Jaccard only for pairs whose bottom-32 sketches (a MinHash in miniature) agree enough and
    # whose sizes allow it: 50-article stories would otherwise spend most of their time here.
    long = []
    for m in members:
        if len(m.text) >= params.copy_min_chars:
            shingles = _shingles(m.text)
            if shingles:
                long.append((m.article_id, shingles, frozenset(sorted(shingles)[:_SKETCH])))
    for i, (a, sa, ka) in enumerate(long):
        for b, sb, kb in long[i + 1 :]:
            if len(ka & kb) < _SKETCH_MIN or min(len(sa), len(sb)) < params.copy_jaccard * max(
                len(sa), len(sb)
            ):
                continue
            inter = len(sa & sb)
            if inter >= params.copy_jaccard * (len(sa) + len(sb) - inter):
                uf.union(a, b)
    groups: dict[str, list[Member]] = defaultdict(list)
    for m in members:
        groups[uf.find(m.article_id)].append(m)

    def origin_first(m: Member) -> tuple[bool, bool, datetime, str]:
        return (m.article_id not in targets, m.copy_of is not None, m.published_at, m.article_id)

    return [sorted(g, key=origin_first) for g in groups.values()]


@dataclass(frozen=True, slots=True)
class Report:
    """One independent voice: its copy groups (each origin first), in publication order."""

    groups: tuple[tuple[Member, ...], ...]
    voice: str

    @property
    def lead(self) -> Member:
        return self.groups[0][0]

    @property
    def origins(self) -> list[Member]:
        return [g[0] for g in self.groups]

    @property
    def articles(self) -> list[Member]:
        return [m for g in self.groups for m in g]


Reason = Literal["copy", "same_source", "same_owner"]


def source_of(sources: Mapping[str, Source], domain: str) -> Source:
    return sources.get(domain) or Source(domain=domain)


def independent_reports(
    members: Sequence[Member], sources: Mapping[str, Source], params: ScoreParams
) -> tuple[list[Report], list[CollapsedArticle]]:
    """Collapse members into independent reports: copies into their origin, then every origin of one
    voice (one outlet, or the outlets of one owner group) into one report."""
    by_voice: dict[str, list[tuple[Member, ...]]] = defaultdict(list)
    for copies in copy_groups(members, params):
        by_voice[source_of(sources, copies[0].source).group_key].append(tuple(copies))
    reports = []
    for voice, groups in by_voice.items():
        groups.sort(key=lambda g: (g[0].published_at, g[0].article_id))
        reports.append(Report(tuple(groups), voice))
    reports.sort(key=lambda r: (r.lead.published_at, r.lead.article_id))
    collapsed = []
    for r in reports:
        for group in r.groups:
            for i, m in enumerate(group):
                if m is r.lead:
                    continue
                reason: Reason = (
                    "copy" if i > 0 else "same_source" if m.source == r.lead.source else "same_owner"
                )
                collapsed.append(
                    CollapsedArticle(article_id=m.article_id, into_report=r.lead.article_id, reason=reason)
                )
    return reports, collapsed


# ---------------------------------------------------------------- confidence of a story


MAX_CLAIMS = 8  # the title and a summary of 2-4 sentences; a runaway one must not multiply the work


def claims_of(summary: StorySummary) -> list[str]:
    """The claims checked: the event the title states first, then the summary's sentences (core facts
    among them are those two independent reports or a primary source state: ``core_claims``)."""
    title = summary.title.strip()
    texts = [title] if title else []
    for s in summary.summary:
        text = s.text.strip()
        if text and text not in texts:
            texts.append(text)
    return texts[:MAX_CLAIMS]


def confidence(
    claims: Sequence[str],
    reports: Sequence[Report],
    collapsed: Sequence[CollapsedArticle],
    sources: Mapping[str, Source],
    params: ScoreParams,
    cache: PassageCache | None = None,
    checker: Checker | None = None,
) -> Confidence:
    """Check every claim against every report's origin articles and weigh the result."""
    cp = params.corroboration
    checker = checker or Checker(cp, encoder=False)
    prepared: dict[str, Passages] = {}
    for m in (m for r in reports for m in r.origins):
        key = (m.article_id, m.fingerprint, len(m.text))
        found = cache.get(key) if cache is not None else None
        if found is None:
            found = prepare(m.title, m.lead, m.text, cp.max_chars)
            if cache is not None:
                cache.put(key, found)
        prepared[m.article_id] = found
    ids = list(prepared)
    stances = dict(zip(ids, checker.assess(claims, [prepared[i] for i in ids], params=cp), strict=True))
    out: list[IndependentReport] = []
    for r in reports:
        supports: set[int] = set()
        contradicts: set[int] = set()
        for m in r.origins:
            for k, a in enumerate(stances[m.article_id]):
                if a.stance is Stance.supports:
                    supports.add(k)
                elif a.stance is Stance.contradicts:
                    contradicts.add(k)
        origin_sources = [source_of(sources, m.source) for m in r.origins]
        out.append(
            IndependentReport(
                report_id=r.lead.article_id,
                article_ids=[m.article_id for m in r.articles],
                sources=sorted({m.source for m in r.articles}),
                owner_group=source_of(sources, r.lead.source).owner_group,
                credibility=max(s.credibility for s in origin_sources),
                primary=any(is_primary(s) for s in origin_sources),
                supports=sorted(supports),
                contradicts=sorted(contradicts - supports),
            )
        )
    b = breakdown(METHOD, len(claims), out)
    return Confidence(
        value=b.value,
        method=METHOD,
        claims=list(claims),
        core=core_claims(len(claims), out) if claims else [],
        reports=out,
        collapsed=list(collapsed),
        single_source=len(out) == 1,
        explanation=explain(len(claims), out, collapsed, [r.lead.source for r in reports], sources, b),
    )


def single_source_claims(conf: Confidence, names: Mapping[str, str]) -> list[Gap]:
    """What's missing: the claims only one (secondary) report states; they are not core facts."""
    core = set(conf.core or [])
    out = []
    for k, text in enumerate(conf.claims):
        backers = [r for r in conf.reports if k in r.supports]
        if k in core or len(backers) != 1 or len(conf.reports) < 2:
            continue
        source = backers[0].sources[0] if backers[0].sources else ""
        out.append(
            Gap(
                kind=GapKind.single_source_claim,
                text=f"Only {names.get(source, source)} reports: {text}",
                article_ids=list(backers[0].article_ids),
            )
        )
    return out


def explain(
    n_claims: int,
    reports: Sequence[IndependentReport],
    collapsed: Sequence[CollapsedArticle],
    lead_sources: Sequence[str],
    sources: Mapping[str, Source],
    b: Breakdown,
) -> str:
    """The figure in words: who counts, who was collapsed, and how the parts multiply."""
    if not reports:
        return "No member article could be read, so nothing corroborates the story."
    core = core_claims(n_claims, reports)
    if len(reports) == 1:
        r = reports[0]
        name = source_of(sources, lead_sources[0]).name or lead_sources[0]
        kind = (
            "it is the primary source itself (a paper, filing or official statement)"
            if r.primary
            else "it is a secondary report, and nothing independent confirms it"
        )
        return (
            f"Single-source story: only {name} reports it ({len(r.article_ids)} article(s), credibility "
            f"{r.credibility:.2f}); {kind}. It states {len(set(r.supports) & set(core))} of the "
            f"{len(core)} core fact(s). Confidence {b.value:.1f}%."
        )
    corroborating = [r for r in reports if set(r.supports) & set(core)]
    reasons = Counter(c.reason for c in collapsed)
    folded = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(reasons.items()))
    disputed = [
        f"claim {k + 1} stated otherwise by {n} report(s)"
        for k in range(n_claims)
        if (n := sum(1 for r in reports if k in r.contradicts))
    ]
    details = n_claims - len(core)
    return (
        f"{len(corroborating)} of {len(reports)} independent reports corroborate the core facts"
        + (f" ({len(collapsed)} articles collapsed: {folded})" if collapsed else "")
        + f": the title's event and {len(core) - 1} more claim(s) that two or more reports state"
        + (f"; {details} claim(s) only one report makes do not count" if details else "")
        + (f"; {'; '.join(disputed)}" if disputed else "")
        + f". Credibility-weighted share {b.share:.2f} x breadth {b.breadth:.2f} = {b.value:.1f}%."
    )


# ---------------------------------------------------------------- lean, blindspot, hotness

_SIDE = {
    Lean.left: "left",
    Lean.lean_left: "left",
    Lean.center: "center",
    Lean.lean_right: "right",
    Lean.right: "right",
}


def report_lean(report: Report, sources: Mapping[str, Source]) -> Lean:
    """The lean of the report's lead outlet, else of its first rated origin outlet."""
    for m in report.origins:
        lean = source_of(sources, m.source).lean
        if lean is not Lean.unrated:
            return lean
    return Lean.unrated


def lean_distribution(reports: Sequence[Report], sources: Mapping[str, Source]) -> LeanDistribution:
    counts = Counter(report_lean(r, sources) for r in reports)
    sides = Counter({"left": 0, "center": 0, "right": 0})
    for lean, n in counts.items():
        if lean in _SIDE:
            sides[_SIDE[lean]] += n
    rated = sum(sides.values())

    def share(side: str) -> float:
        return round(sides[side] / rated, 4) if rated else 0.0

    return LeanDistribution(
        left=share("left"),
        center=share("center"),
        right=share("right"),
        unrated=counts.get(Lean.unrated, 0),
        counts=dict(counts),
    )


def blindspot(lean: LeanDistribution, params: ScoreParams) -> Blindspot | None:
    """Covered almost only by the left or only by the right (a centre-only story is no blindspot)."""
    rated = sum(n for lean_, n in lean.counts.items() if lean_ is not Lean.unrated)
    if rated < params.blindspot_min_reports:
        return None
    for side, value in (("left", lean.left), ("right", lean.right)):
        if value >= params.blindspot_share:
            return Blindspot(side=side, share=value)  # type: ignore[arg-type]
    return None


def hotness(arrivals: Sequence[datetime], now: datetime, half_life_h: float) -> float:
    """``ln Σ exp((t_r - epoch) / τ)`` over the independent reports' arrival times; τ = half-life / ln 2.

    The decayed arrival rate at any query time t is ``exp(hotness - (t - epoch)/τ) / τ`` (sources per
    hour), so ordering by the stored figure is ordering by the rate now, for every story at once,
    without rewriting views as time passes. Arrivals are clamped to [epoch, now]: a story dated in
    the future cannot stay on top.
    """
    if not arrivals:
        return 0.0
    tau = half_life_h / math.log(2)
    xs = [max(0.0, (min(t, now) - HOTNESS_EPOCH).total_seconds() / 3600.0 / tau) for t in arrivals]
    top = max(xs)
    return round(top + math.log(sum(math.exp(x - top) for x in xs)), 6)


# ---------------------------------------------------------------- the view


LLM_VERSION_STEP = 50  # a language-model summary of a cluster version ranks above its extractive one


def view_version(cluster_version: int, params: ScoreParams, method: str = "") -> int:
    """``cluster_version x 100 + revision`` (+ 50 for a language-model summary, ``llm:*``): a
    redelivered summary yields the same version (so it is ignored), a newer cluster version always a
    higher one, the ``llm:`` rewrite of a version one above its extractive summary (never the
    reverse, as summarize stores them), and a scorer release with a higher ``revision`` (1..49)
    re-scores every story on a replay."""
    _, rewrite = summary_rank(cluster_version, method)
    return cluster_version * 100 + LLM_VERSION_STEP * rewrite + params.revision


def enrich_related(
    related: Sequence[RelatedStory], views: Mapping[str, StoryScored], story_id: str
) -> list[RelatedStory]:
    """Related stories with their display fields from their current views (survivors of merges)."""
    out: list[RelatedStory] = []
    seen = {story_id}
    for r in related:
        view = views.get(r.story_id)
        sid = view.story_id if view else r.story_id
        if sid in seen:
            continue
        seen.add(sid)
        if view is None:
            out.append(r)
            continue
        out.append(
            RelatedStory(
                story_id=sid,
                score=r.score,
                title=view.title,
                summary=view.summary[0].text if view.summary else None,
                confidence=view.confidence.value,
                source_count=view.source_count,
                category=view.category,
                last_published_at=view.last_published_at,
            )
        )
    return out


def score_story(
    summary: StorySummary,
    members: Sequence[Member],
    sources: Mapping[str, Source],
    *,
    now: datetime,
    params: ScoreParams = ScoreParams(),  # frozen: a shared default is safe
    related: Mapping[str, StoryScored] | None = None,
    cache: PassageCache | None = None,
    checker: Checker | None = None,
) -> StoryScored:
    """The full view of one story version (``cache`` keeps prepared articles across versions,
    ``checker`` the sentence vectors; without one, claims are checked on words alone)."""
    reports, collapsed = independent_reports(members, sources, params)
    conf = confidence(claims_of(summary), reports, collapsed, sources, params, cache, checker)
    names = {m.source: m.source_name or source_of(sources, m.source).name or m.source for m in members}
    said = {g.text for g in summary.missing}
    missing = [*summary.missing, *(g for g in single_source_claims(conf, names) if g.text not in said)]
    lean = lean_distribution(reports, sources)
    dates = [m.published_at for m in members]
    first = summary.first_published_at or (min(dates) if dates else summary.occurred_at)
    last = summary.last_published_at or (max(dates) if dates else summary.occurred_at)
    arrivals = [min(m.published_at for m in r.origins) for r in reports]
    return StoryScored(
        producer="score",
        trace_id=summary.trace_id,
        story_id=summary.story_id,
        version=view_version(summary.version, params, summary.method),
        cluster_version=summary.version,
        merged_into=summary.merged_into,
        title=summary.title,
        summary=summary.summary,
        body=summary.body,
        category=summary.category,
        language=summary.language,
        perspectives=summary.perspectives,
        missing=missing,
        confidence=conf,
        lean=lean,
        source_count=len({m.source for m in members}),
        article_count=len(members),
        blindspot=blindspot(lean, params),
        hotness=hotness(arrivals, now, params.hotness_half_life_h),
        first_published_at=first,
        last_published_at=last,
        articles=[
            ArticleRef(
                article_id=m.article_id,
                url=m.url,
                title=m.title,
                source=m.source,
                source_name=m.source_name or source_of(sources, m.source).name,
                lean=source_of(sources, m.source).lean,
                published_at=m.published_at,
                copy_of=m.copy_of,
            )
            for m in sorted(members, key=lambda m: (m.published_at, m.article_id))
        ],
        related=enrich_related(summary.related[:MAX_RELATED], related or {}, summary.story_id),
    )
