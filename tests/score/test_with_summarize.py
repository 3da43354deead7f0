"""The contract in practice: a summary made by the real summarizer (its pure domain function, on the
same hand-built story) is scored as the score tests assume summaries look."""

from dataclasses import fields

from tellwell.common.articles import StoredArticle
from tellwell.common.testing import make_story_cluster
from tellwell.score.domain import recompute, score_story
from tellwell.summarize.domain import Article, summarize
from tests.score.stories import CONTRADICTING, SUPPORTING, T0, member, sources_for


def test_every_claim_of_a_real_summary_is_checked_and_the_figure_recomputes():
    outlets = ["reuters.com", "apnews.com", "nytimes.com", "bbc.com", "latimes.com"]
    members = [member(o, t, minutes=i) for i, (o, t) in enumerate(zip(outlets, SUPPORTING, strict=False))]
    members.append(member("thetimes.co.uk", CONTRADICTING[0], minutes=9))
    cluster = make_story_cluster(
        story_id="story-chile",
        version=3,
        member_ids=[m.article_id for m in members],
        first_published_at=T0,
        last_published_at=members[-1].published_at,
    )
    # the same stored articles, as the summarizer reads them
    articles = [Article(**{f.name: getattr(m, f.name) for f in fields(StoredArticle)}) for m in members]

    summary = summarize(cluster, articles)
    view = score_story(summary, members, sources_for(members), now=members[-1].published_at)

    conf = view.confidence
    assert view.cluster_version == 3
    assert conf.claims == list(dict.fromkeys([summary.title, *(s.text for s in summary.summary)]))
    supported = {k for r in conf.reports for k in r.supports}
    assert supported == set(range(len(conf.claims)))  # sentences taken from members are corroborated
    assert recompute(conf) == conf.value
    assert 50 < conf.value < 100
