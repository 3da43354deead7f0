"""Confidence v3 on the issue's cases: core facts, paraphrase, rounding, single-source details.

The claims are checked with the service's own checker (all-MiniLM-L6-v2 beside the words), the
summary is the real summarizer's, and the outlets are rated by the bundled registry."""

from datetime import timedelta

import pytest

from tellwell.common.events import GapKind, StoryScored, StorySummary
from tellwell.common.testing import make_story_cluster
from tellwell.score.corroboration import Checker, Stance, make_claim, prepare
from tellwell.score.domain import Member, recompute, score_story
from tellwell.summarize.domain import Article, summarize
from tests.score.stories import T0, registry, sources_for

ZORBLAX = [
    (
        "reuters.com",
        "Zorblax to buy Quuxly for $9 billion",
        "Zorblax agreed to acquire Quuxly for $9 billion, the companies said Monday. The deal is expected "
        "to close next year, subject to regulatory approval.",
    ),
    (
        "bbc.co.uk",
        "Zorblax buys Quuxly in $9bn deal",
        "Zorblax corp said on Monday it will buy Quuxly for $9 billion in cash. Both companies' boards "
        "approved the deal.",
    ),
    (
        "techblog-unrated.example",
        "Zorblax snaps up Quuxly",
        "Zorblax is buying Quuxly for 9 billion dollars, it said on Monday.",
    ),
]


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker()  # the bundled encoder, as the service runs it


def story(items: list[tuple[str, str, str]]) -> tuple[list[Member], list[Article]]:
    members, articles = [], []
    for i, (domain, title, text) in enumerate(items):
        aid, url, at = f"z{i}", f"https://www.{domain}/news/{i}", T0 + timedelta(minutes=i)
        members.append(Member(aid, url, domain, title, at, text=text, fingerprint=f"fp{i}"))
        articles.append(Article(aid, url, domain, title, at, text=text))
    return members, articles


def scored(items: list[tuple[str, str, str]], checker: Checker) -> tuple[StorySummary, StoryScored]:
    members, articles = story(items)
    cluster = make_story_cluster(story_id="zq", version=1, member_ids=[m.article_id for m in members])
    summary = summarize(cluster, articles)
    now = T0 + timedelta(hours=1)
    return summary, score_story(summary, members, sources_for(members), now=now, checker=checker)


class TestCoreFacts:
    def test_three_independent_reports_of_one_deal_give_high_confidence(self, checker):
        assert registry()["bbc.co.uk"].factuality in {"high", "very_high"}  # the BBC under its .co.uk

        summary, view = scored(ZORBLAX, checker)

        conf = view.confidence
        assert conf.claims[0] == summary.title
        assert all(0 in r.supports for r in conf.reports), conf.explanation
        assert conf.value >= 70, conf.explanation
        assert recompute(conf) == conf.value

    def test_a_detail_only_one_report_makes_is_listed_and_does_not_dilute(self, checker):
        _, view = scored(ZORBLAX, checker)
        conf = view.confidence
        board = [k for k, c in enumerate(conf.claims) if "board" in c.lower()]

        assert board, conf.claims  # the summary states the approval
        assert not set(board) & set(conf.core or [])
        gaps = [g.text for g in view.missing if g.kind is GapKind.single_source_claim]
        assert any("board" in g.lower() and "BBC" in g for g in gaps), gaps
        detail = " Both companies' boards approved the deal."
        without = [(d, t, x.replace(detail, "")) for d, t, x in ZORBLAX]
        assert conf.value >= scored(without, checker)[1].confidence.value - 0.1


class TestSupport:
    def _stance(self, checker: Checker, claim: str, title: str, text: str = "") -> Stance:
        return checker.assess([claim], [prepare(title, "", text)])[0][0].stance

    def test_a_paraphrase_with_other_words_supports(self, checker):
        claim = "Zorblax corp said on Monday it will buy Quuxly for $9 billion in cash"
        article = "Zorblax agreed to acquire Quuxly for $9 billion, the companies said Monday"
        assert self._stance(checker, claim, article) is Stance.supports

    @pytest.mark.parametrize(
        ("claim", "article"),
        [
            (
                "Colorado collects $2.1 million in pot taxes",
                "Colorado collects $2M in pot taxes in first month",
            ),
            ("Jos. A. Bank deal worth $1.8 billion", "Jos. A. Bank deal worth 1.8B"),
            ("Zorblax buys Quuxly for $9 billion", "Zorblax buys Quuxly in 9bn deal"),
        ],
    )
    def test_a_rounding_or_another_unit_spelling_is_the_same_figure(self, checker, claim, article):
        assert self._stance(checker, claim, article) is Stance.supports

    def test_a_clearly_different_figure_contradicts(self, checker):
        claim = "Colorado collects $2 million in pot taxes in first month"
        article = "Colorado collects $3.5 million in pot taxes in first month"
        assert self._stance(checker, claim, article) is Stance.contradicts

    def test_a_negation_contradicts(self, checker):
        claim = "Zorblax will buy Quuxly for $9 billion"
        article = "Zorblax will not buy Quuxly for $9 billion, the company said"
        assert self._stance(checker, claim, article) is Stance.contradicts
        assert make_claim(claim).negated == frozenset()

    def test_a_negation_of_something_else_is_not_a_denial(self, checker):
        # the ecbplus false contradiction: the report states the arrest, and negates only its effect
        claim = "Chargers' Jackson arrested on suspicion of DUI"
        article = (
            "An arrest for suspicion of DUI will not affect the playing status of Chargers wide "
            "receiver Vincent Jackson. Jackson was arrested on suspicion of DUI early Tuesday."
        )
        assert self._stance(checker, claim, article) is not Stance.contradicts

    def test_the_same_kind_of_event_elsewhere_is_not_support(self, checker):
        claim = "A magnitude 6.1 earthquake struck Aceh province in Indonesia on Tuesday"
        other = "A magnitude 7.6 earthquake struck Papua province in Indonesia on Tuesday"
        assert self._stance(checker, claim, other) is not Stance.supports
