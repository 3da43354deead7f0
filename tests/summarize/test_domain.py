"""The extractive summariser on real-shaped multi-source stories."""

import dataclasses
from datetime import timedelta

from tellwell.common.events import Category, GapKind, Lean, StorySummary
from tellwell.common.testing import make_story_cluster
from tellwell.summarize.domain import (
    Article,
    Params,
    build_units,
    normalized_text,
    numbers,
    paraphrases,
    summarize,
)
from tellwell.summarize.text import normalize
from tests.summarize.stories import HEADLINES_ONLY, QUAKE, T0


def run(articles, **cluster) -> StorySummary:
    return summarize(make_story_cluster(member_ids=[a.article_id for a in articles], **cluster), articles)


def sentences(summary: StorySummary):
    return [*summary.summary, *(s for p in summary.body for s in p)]


def with_text(article: Article, text: str) -> Article:
    return dataclasses.replace(article, text=text, lead="")


class TestGrounding:
    def test_every_sentence_appears_in_an_article_it_cites(self):
        by_id = {a.article_id: normalized_text(a) for a in QUAKE}
        summary = run(QUAKE)

        for s in sentences(summary):
            assert s.article_ids
            assert set(s.article_ids) <= set(by_id)
            assert any(normalize(s.text) in by_id[a] for a in s.article_ids), s.text
        for p in summary.perspectives:
            assert normalize(p.text) in by_id[p.article_id]

    def test_summary_has_two_to_four_sentences_and_a_body_of_one_to_three_paragraphs(self):
        summary = run(QUAKE)
        assert 2 <= len(summary.summary) <= 4
        assert 1 <= len(summary.body) <= 3
        assert all(paragraph for paragraph in summary.body)

    def test_boilerplate_bylines_and_datelines_are_not_in_the_output(self):
        text = " ".join(s.text for s in sentences(run(QUAKE)))
        for furniture in (
            "Reporting by",
            "Editing by",
            "Sign up",
            "newsletter",
            "Follow us",
            "Click here",
            "By Jane Doe",
            "(Reuters)",
            "SANTIAGO",
        ):
            assert furniture not in text

    def test_wire_copies_collapse_into_one_sentence_citing_both(self):
        summary = run(QUAKE)
        texts = [s.text for s in summary.summary]
        assert len(texts) == len(set(texts))
        body = [s.text for p in summary.body for s in p]
        assert len(body) == len(set(body))
        wire = [s for s in sentences(summary) if "disaster agency said" in s.text]
        assert wire
        assert all({"a-reuters", "a-copy"} <= set(s.article_ids) for s in wire)

    def test_title_is_a_clean_neutral_member_headline(self):
        summary = run(QUAKE)
        assert summary.title == "Magnitude 7.1 earthquake kills 12 in central Chile"

    def test_the_event_carries_the_cluster_fields(self):
        cluster = {
            "story_id": "s-9",
            "version": 7,
            "language": "en",
            "first_published_at": T0,
            "last_published_at": T0 + timedelta(hours=1),
        }
        summary = run(QUAKE, **cluster)
        assert (summary.story_id, summary.version, summary.language) == ("s-9", 7, "en")
        assert summary.member_ids == [a.article_id for a in QUAKE]
        assert summary.last_published_at == T0 + timedelta(hours=1)
        assert summary.method == "extractive-v1"

    def test_the_same_input_gives_the_same_summary(self):
        a, b = run(QUAKE), run(QUAKE)
        assert a.model_dump(exclude={"event_id", "occurred_at", "trace_id"}) == b.model_dump(
            exclude={"event_id", "occurred_at", "trace_id"}
        )


class TestHeadlineOnlyStories:
    def test_headlines_make_a_valid_grounded_summary(self):
        summary = run(HEADLINES_ONLY)
        titles = {a.article_id: normalize(a.title) for a in HEADLINES_ONLY}
        assert summary.summary
        for s in sentences(summary):
            assert any(s.text in titles[a] for a in s.article_ids)
        assert "What Happens Next" not in summary.title
        assert not summary.title.endswith("- CNBC")
        assert summary.category is Category.business

    def test_the_same_headline_from_three_outlets_is_one_unit(self):
        units, _ = build_units(HEADLINES_ONLY, Params())
        [wire] = [u for u in units if "Men's Wearhouse" in u.text and "$1.8" in u.text]
        assert wire.article_ids == ["h0", "h1", "h2"]
        assert len(units) == 3

    def test_the_summary_does_not_repeat_the_title(self):
        summary = run(HEADLINES_ONLY)
        assert summary.title not in [s.text for s in summary.summary]
        assert len(summary.summary) >= 2

    def test_paraphrased_headlines_are_said_once_and_a_different_fact_is_kept(self):
        paraphrases = [
            "Men's Wearhouse Buying Jos A Bank for $1.8B",
            "Men's Wearhouse finalizes deal to buy rival Jos. A. Bank",
            "Men's Wearhouse acquiring rival Jos A Bank Clothiers for $1.8 billion",
        ]
        other = "Jos. A. Bank shares jump 5% as investors cheer the end of the bidding war"
        articles = [
            dataclasses.replace(HEADLINES_ONLY[i], title=title)
            for i, title in enumerate([*paraphrases, other, "Men's Wearhouse closes Jos. A. Bank takeover"])
        ]
        summary = run(articles)

        said = [s.text for s in summary.summary]
        assert len([t for t in said if t in paraphrases]) <= 1
        assert other in said  # two distinct facts exist: the summary keeps both
        assert len(said) >= 2

    def test_the_body_never_repeats_a_summary_sentence(self):
        for articles in (HEADLINES_ONLY, QUAKE):
            summary = run(articles)
            body = [s.text for p in summary.body for s in p]
            assert not set(body) & {s.text for s in summary.summary}
            assert summary.title not in body

    def test_each_source_gets_its_own_headline_as_perspective(self):
        summary = run(HEADLINES_ONLY)
        assert [p.source for p in summary.perspectives] == [a.source for a in HEADLINES_ONLY]
        for p, a in zip(summary.perspectives, HEADLINES_ONLY, strict=True):
            assert p.article_id == a.article_id
            assert p.url == a.url
            assert p.text in normalize(a.title)

    def test_a_single_article_story_is_summarised_and_flagged(self):
        summary = run(HEADLINES_ONLY[:1])
        assert summary.summary[0].article_ids == ["h0"]
        assert [g.kind for g in summary.missing] == [GapKind.single_source_story]


class TestPerspectives:
    def test_one_per_source_linking_its_article(self):
        summary = run(QUAKE)
        assert sorted(p.source for p in summary.perspectives) == sorted(a.source for a in QUAKE)
        fox = next(p for p in summary.perspectives if p.source == "foxnews.com")
        assert fox.lean is Lean.right
        assert fox.url == "https://www.foxnews.com/world/chile-earthquake"

    def test_many_sources_are_grouped_by_lean(self):
        leans = [Lean.left, Lean.center, Lean.right]
        articles = [
            dataclasses.replace(
                QUAKE[2], article_id=f"x{i}", source=f"s{i}.com", source_name=None, lean=leans[i % 3]
            )
            for i in range(12)
        ]
        summary = summarize(
            make_story_cluster(member_ids=[a.article_id for a in articles]),
            articles,
            params=Params(max_perspectives=8),
        )
        assert sorted(p.source for p in summary.perspectives) == ["center", "left", "right"]


class TestGaps:
    def kinds(self, summary):
        return [g.kind for g in summary.missing]

    def test_different_death_tolls_are_a_conflicting_figures_gap(self):
        summary = run(QUAKE)
        [gap] = [g for g in summary.missing if g.kind is GapKind.conflicting_figures]
        assert "12" in gap.text
        assert "15" in gap.text
        assert {"a-reuters", "a-bbc"} <= set(gap.article_ids)

    def test_agreeing_figures_are_no_gap(self):
        agreeing = [
            QUAKE[0],
            with_text(QUAKE[2], "At least 12 people were killed, officials in Valparaiso said on Monday."),
        ]
        assert GapKind.conflicting_figures not in self.kinds(run(agreeing))

    def test_figures_of_different_quantities_are_no_gap(self):
        articles = [
            with_text(QUAKE[0], "At least 12 people were killed in the quake, officials said on Monday."),
            with_text(QUAKE[2], "Some 40 people were injured in the quake, officials said on Monday."),
        ]
        assert GapKind.conflicting_figures not in self.kinds(run(articles))

    def test_lean_groups_missing_when_enough_rated_sources(self):
        left_only = [dataclasses.replace(a, lean=Lean.left) for a in QUAKE]
        gaps = [g for g in run(left_only).missing if g.kind is GapKind.lean_not_covering]
        assert len(gaps) == 2
        assert any("right" in g.text for g in gaps)
        assert any("center" in g.text for g in gaps)

    def test_no_lean_gap_when_sources_are_unrated(self):
        unrated = [dataclasses.replace(a, lean=Lean.unrated) for a in QUAKE]
        assert GapKind.lean_not_covering not in self.kinds(run(unrated))

    def test_a_study_without_a_primary_source_is_a_gap_and_a_linked_one_is_not(self):
        study = "A new study published in the journal Nature found that the fault slipped 3 metres."
        articles = [
            with_text(QUAKE[0], study),
            with_text(QUAKE[2], "Scientists said the fault slipped 3 metres."),
        ]
        assert GapKind.no_primary_source in self.kinds(run(articles))
        linked = [articles[0], with_text(QUAKE[2], "The paper is at https://doi.org/10.1038/x1 online.")]
        assert GapKind.no_primary_source not in self.kinds(run(linked))
        journal = dataclasses.replace(articles[1], article_id="n1", source="nature.com")
        assert GapKind.no_primary_source not in self.kinds(run([articles[0], journal]))

    def test_a_claim_only_one_source_makes(self):
        articles = [
            QUAKE[0],
            with_text(
                QUAKE[2],
                "Rescuers in Chile searched rubble after a magnitude 7.1 earthquake struck central Chile. "
                "The state oil company said 3 refineries had shut down as a precaution.",
            ),
        ]
        claims = [g for g in run(articles).missing if g.kind is GapKind.single_source_claim]
        assert any("refineries" in g.text and g.article_ids == ["a-bbc"] for g in claims)


class TestCategory:
    def story(self, *titles, hint=None):
        return [
            Article(
                article_id=f"c{i}",
                url=f"https://e.com/{i}",
                source=f"s{i}.com",
                title=t,
                published_at=T0,
                category_hint=hint,
            )
            for i, t in enumerate(titles)
        ]

    def test_taxonomy_categories_from_descriptions(self):
        cases = {
            Category.sports: (
                "Striker scores twice as league leaders win the championship match",
                "Coach praises players after cup final win",
            ),
            Category.science: (
                "NASA telescope spots water on a distant planet, astronomers say",
                "Scientists discover new species of dinosaur fossil",
            ),
            Category.health: (
                "Hospital reports rise in flu patients as virus outbreak spreads",
                "New cancer drug approved by FDA after clinical trial",
            ),
            Category.politics: (
                "Senate Republicans block bill as election campaign heats up",
                "Governor signs law after vote in state legislature",
            ),
        }
        for expected, titles in cases.items():
            assert run(self.story(*titles)).category is expected, titles

    def test_feed_hints_count(self):
        titles = ("Council meeting set for Tuesday evening", "Officials to meet on Tuesday")
        assert run(self.story(*titles, hint="Sports")).category is Category.sports


class TestManyUnratedSources:
    def test_the_most_telling_unrated_sources_keep_their_own_line(self):
        articles = [
            dataclasses.replace(QUAKE[2], article_id=f"u{i}", source=f"u{i}.com", source_name=None)
            for i in range(12)
        ] + [dataclasses.replace(QUAKE[3], article_id="r1", source="right.com", lean=Lean.right)]
        summary = summarize(
            make_story_cluster(member_ids=[a.article_id for a in articles]),
            [dataclasses.replace(a, lean=Lean.unrated) if a.article_id != "r1" else a for a in articles],
            params=Params(max_perspectives=6),
        )
        sources = [p.source for p in summary.perspectives]
        assert sources[0] == "right"
        assert len(sources) == 6
        assert all(s.startswith("u") and s.endswith(".com") for s in sources[1:])

    def test_a_truncated_headline_is_not_the_title(self):
        cut = "Men's Wearhouse to buy Jos. A. Bank for $1.8 billion in a deal that ends  ..."
        titles = [cut, cut, "Men's Wearhouse agrees deal for Jos. A. Bank"]
        articles = [dataclasses.replace(a, title=t) for a, t in zip(HEADLINES_ONLY, titles, strict=False)]
        assert run(articles).title == "Men's Wearhouse agrees deal for Jos. A. Bank"

    def test_a_cut_headline_collapses_into_its_complete_wording(self):
        full = "Men's Wearhouse to buy Jos. A. Bank for $1.8 billion in a deal that ends a long fight"
        titles = ["Men's Wearhouse to buy Jos. A. Bank for $1.8 billion in a deal that ends  ...", full]
        articles = [dataclasses.replace(a, title=t) for a, t in zip(HEADLINES_ONLY, titles, strict=False)]
        summary = run(articles)
        assert summary.title == full
        assert summary.summary[0].text == full
        assert summary.summary[0].article_ids == ["h0", "h1"]


class TestParaphrase:
    def test_the_same_figure_written_two_ways_is_one_number(self):
        assert numbers("buying Jos A Bank for $1.8B") == numbers("for $1.8 billion") == {1.8e9}
        assert numbers("shares jump 5%") == {5.0}

    def test_a_sentence_adding_a_figure_or_new_words_is_not_a_paraphrase(self):
        units, _ = build_units(
            [
                dataclasses.replace(HEADLINES_ONLY[0], title="Men's Wearhouse buying Jos A Bank for $1.8B"),
                dataclasses.replace(HEADLINES_ONLY[1], title="Men's Wearhouse to acquire rival Jos. A. Bank"),
                dataclasses.replace(HEADLINES_ONLY[2], title="Jos. A. Bank shares jump 5% after the deal"),
                dataclasses.replace(HEADLINES_ONLY[3], title="Regulators open antitrust probe into menswear"),
            ],
            Params(),
        )
        para = paraphrases(units)
        assert para[1, 0]  # no figure and the same names: says nothing the first does not
        assert not para[0, 1]  # the first adds the price
        assert not para[2, 0]  # a new figure
        assert not para[3, 0]
        assert not para[0, 3]
