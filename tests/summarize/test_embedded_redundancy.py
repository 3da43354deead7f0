"""Summaries without repeats, the embedding half (issue 14, item 5): sentences that say the same
thing in other words, caught by MiniLM cosine with compatible facts; the threshold's choice on
rated pairs; the words-only path unchanged."""

import dataclasses

import pytest

from tellwell.bench.redundancy import Pair, choose_threshold, precision_recall
from tellwell.common.embed import HashEncoder
from tellwell.common.testing import make_story_cluster
from tellwell.summarize.domain import (
    Article,
    Params,
    compatible,
    embedding_redundant,
    fact_counts,
    prepare,
    redundant_texts,
    stated_facts,
    summarize,
)
from tellwell.summarize.embedding import SentenceVectors, default_encoder
from tellwell.summarize.pipeline import Summarizer
from tellwell.summarize.settings import Settings
from tests.summarize.stories import QUAKE as CHILE
from tests.summarize.stories import headlines, one_per_outlet

# Three outlets tell the same fact in their own words (few shared words: the word rule misses the
# BBC/AP pair), each then adds one of its own.
SAID_THRICE = [
    "A powerful earthquake struck southern Iran on Sunday, killing dozens of villagers.",
    "Dozens of villagers died on Sunday when a strong quake shook the south of Iran.",
    "Southern Iran was rocked by a deadly earthquake on Sunday that left dozens of villagers dead.",
]
IRAN = [
    (
        "reuters.com",
        "Earthquake hits southern Iran",
        f"{SAID_THRICE[0]} Rescuers searched the rubble of mud-brick homes in remote mountain villages "
        "through the night. The Red Crescent said it had sent tents and blankets to the area.",
    ),
    (
        "bbc.co.uk",
        "Deadly quake in Iran",
        f"{SAID_THRICE[1]} Officials said the tremor destroyed hundreds of houses in the province. "
        "Aftershocks rattled the region for several hours.",
    ),
    (
        "apnews.com",
        "Iran earthquake leaves dozens dead",
        f"{SAID_THRICE[2]} Hospitals in the provincial capital treated the injured. Schools in the region "
        "will stay closed on Monday.",
    ),
]


def story(rows=IRAN) -> list[Article]:
    return one_per_outlet("quake", ({"source": s, "title": t, "text": x} for s, t, x in rows))


def cluster(articles: list[Article]):
    return make_story_cluster(member_ids=[a.article_id for a in articles])


def summary_texts(summary) -> list[str]:
    return [s.text for s in summary.summary]


def body_texts(summary) -> list[str]:
    return [s.text for p in summary.body for s in p]


@pytest.fixture(scope="module")
def vectors() -> SentenceVectors:
    """The service's encoder (all-MiniLM-L6-v2, bundled weights: no network)."""
    return SentenceVectors(default_encoder())


def embedded(articles: list[Article], vectors: SentenceVectors, params: Params | None = None):
    draft = prepare(articles, params)
    return summarize(cluster(articles), articles, prepared=draft, vectors=vectors(draft.to_embed()))


class TestCompatibleFacts:
    def test_different_figures_or_days_are_two_facts(self):
        def facts(text: str):
            return stated_facts(text)

        assert not compatible(
            facts("Singapore shares open 0.28% lower on Thursday"),
            facts("Singapore shares open 0.19% higher on Thursday"),
        )
        assert not compatible(
            facts("Suicide bombs hit Egypt military in Sinai, kill 6"),
            facts("Suicide bombs hit Egypt military in Sinai, kill four"),
        )
        assert not compatible(
            facts("Chinese shares close lower Tuesday"), facts("Chinese shares close lower Friday")
        )

    def test_one_stating_more_is_compatible_with_one_stating_less(self):
        assert compatible(
            facts := stated_facts("Quake kills 12 in Chile on Monday"), stated_facts("Quake hits Chile")
        )
        assert compatible(stated_facts("Quake hits Chile"), facts)

    def test_each_stating_something_the_other_lacks_is_not(self):
        assert not compatible(
            stated_facts("Quake kills 12 in Chile"), stated_facts("Quake hits Chile on Monday")
        )


class TestRedundantTexts:
    def test_a_close_cosine_makes_a_paraphrase_redundant(self):
        a, b = SAID_THRICE[1], SAID_THRICE[2]
        assert not redundant_texts(a, b)  # few shared words
        assert redundant_texts(a, b, cosine=0.82)
        assert not redundant_texts(a, b, cosine=0.7)

    def test_a_close_cosine_never_merges_different_figures(self):
        a = "Five people died when a drone struck a house in northwest Pakistan"
        b = "A US drone attack in Pakistan left at least 10 dead"
        assert not embedding_redundant(0.9, a, b)
        assert not redundant_texts(a, b, cosine=0.9)
        assert embedding_redundant(0.9, a, "A drone struck a house in Pakistan")

    def test_the_real_encoder_scores_the_paraphrases_above_the_threshold(self, vectors):
        found = vectors(SAID_THRICE[1:])
        cosine = float(found[SAID_THRICE[1]] @ found[SAID_THRICE[2]])
        assert cosine >= Params().redundant_cosine
        assert redundant_texts(SAID_THRICE[1], SAID_THRICE[2], cosine=cosine)


class TestSummariesWithEmbeddings:
    def test_paraphrases_with_few_shared_words_are_said_once(self, vectors):
        articles = story()
        words_only = summarize(cluster(articles), articles)
        assert sum(t in SAID_THRICE for t in summary_texts(words_only)) >= 2  # what the words let through
        out = embedded(articles, vectors)
        assert sum(t in SAID_THRICE for t in summary_texts(out)) == 1
        assert not [t for t in body_texts(out) if t in SAID_THRICE]
        assert len(out.summary) >= 2  # the other facts stay

    def test_of_two_paraphrases_the_one_stating_more_facts_stays(self, vectors):
        with_figure = "A strong quake shook the south of Iran on Sunday, killing 32 villagers."
        rows = [
            IRAN[0],
            (IRAN[1][0], IRAN[1][1], IRAN[1][2].replace(SAID_THRICE[1], with_figure)),
            (IRAN[2][0], IRAN[2][1], IRAN[2][2].replace(SAID_THRICE[2], "")),
        ]
        articles = story(rows)
        assert not redundant_texts(SAID_THRICE[0], with_figure)
        draft = prepare(articles)
        facts = dict(zip((u.text for u in draft.units), fact_counts(draft.units), strict=True))
        assert facts[with_figure] > facts[SAID_THRICE[0]]
        words_only = summary_texts(summarize(cluster(articles), articles))
        assert {SAID_THRICE[0], with_figure} <= set(words_only)
        out = embedded(articles, vectors)
        said = summary_texts(out) + body_texts(out)
        assert with_figure in said  # the figure is a fact more
        assert SAID_THRICE[0] not in said

    def test_headlines_repeating_one_fact_in_other_words_give_one_or_two_sentences(self, vectors):
        articles = headlines(
            "Lindsay Lohan checks into rehab clinic in California",
            "Actress Lindsay Lohan enters California rehab facility",
            "Lindsay Lohan heads to a California treatment center",
            "Lohan admitted to rehabilitation clinic in California",
            "Lindsay Lohan begins court-ordered rehab stint in California",
        )
        out = embedded(articles, vectors)
        assert 1 <= len(out.summary) <= 2
        said = summary_texts(out) + body_texts(out)
        found = vectors(said)
        for i, a in enumerate(said):
            for b in said[i + 1 :]:
                assert not redundant_texts(a, b, cosine=float(found[a] @ found[b])), (a, b)

    def test_different_facts_close_in_topic_all_stay(self, vectors):
        out = embedded(CHILE, vectors)
        words_only = summarize(cluster(CHILE), CHILE)
        assert len(out.summary) == len(words_only.summary)


class TestWordsOnly:
    def test_no_vectors_is_the_word_rule(self):
        articles = story()
        draft = prepare(articles)
        plain = summarize(cluster(articles), articles)
        for out in (
            summarize(cluster(articles), articles, prepared=draft),
            summarize(cluster(articles), articles, prepared=draft, vectors=None),
        ):
            assert out.summary == plain.summary
            assert out.body == plain.body

    def test_units_without_a_vector_are_judged_by_words(self):
        articles = story()
        plain = summarize(cluster(articles), articles)
        out = summarize(cluster(articles), articles, vectors={})
        assert out.summary == plain.summary

    def test_the_draft_embeds_the_most_central_candidates_and_the_title(self):
        draft = prepare(story(), Params(embed_max=3))
        texts = draft.to_embed()
        units = {u.text: i for i, u in enumerate(draft.units)}
        assert draft.title in texts
        best = sorted(draft.candidates, key=lambda i: -float(draft.scores[i]))[:3]
        assert {draft.units[i].text for i in best} <= set(texts)
        assert all(units[t] in draft.candidates or t == draft.title for t in texts)
        assert len(texts) <= 4


class CountingEncoder(HashEncoder):
    def __init__(self) -> None:
        super().__init__(64)
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return super().encode(texts)


class TestThePipelineEmbeds:
    def test_it_embeds_each_sentence_once_across_versions(self):
        encoder = CountingEncoder()
        summarizer = Summarizer(None, None, Settings(), vectors=SentenceVectors(encoder))  # type: ignore[arg-type]
        articles = story()
        summarizer.summarize(cluster(articles), articles)
        assert len(encoder.calls) == 1
        copy = dataclasses.replace(articles[0], article_id="q9", source="afp.com")  # a wire copy
        grown = [*articles, copy]
        summarizer.summarize(cluster(grown), grown)
        assert not set(encoder.calls[-1]) & set(encoder.calls[0])  # only what is new (its title)
        calls = len(encoder.calls)
        summarizer.summarize(cluster(grown), grown)
        assert len(encoder.calls) == calls  # a redelivered version embeds nothing

    def test_the_service_embeds_by_default(self):
        assert Settings.model_fields["embed"].default is True

    def test_without_vectors_it_reads_words_only(self):
        summarizer = Summarizer(None, None, Settings(embed=False))  # type: ignore[arg-type]
        articles = story()
        assert (
            summarizer.summarize(cluster(articles), articles).summary
            == summarize(cluster(articles), articles).summary
        )


def pairs(*rows: tuple[float, bool, float]) -> list[Pair]:
    return [Pair(cosine, ok, score) for cosine, ok, score in rows]


class TestThresholdChoice:
    # (cosine, compatible facts, human score 0-5)
    PAIRS = pairs(
        (0.95, True, 4.8),
        (0.91, True, 4.2),
        (0.88, False, 1.8),  # "shares close higher Tuesday" / "lower Wednesday": the guard drops it
        (0.86, True, 4.4),
        (0.83, True, 2.2),
        (0.82, True, 4.0),
        (0.81, True, 3.4),  # neither same nor different: counts for neither
        (0.77, True, 4.6),
        (0.74, True, 2.6),
        (0.72, True, 1.0),
        (0.6, True, 0.4),
    )

    def test_precision_and_recall_at_a_threshold(self):
        precision, recall, same, different = precision_recall(self.PAIRS, 0.8)
        assert (same, different) == (4, 1)
        assert precision == pytest.approx(0.8)
        assert recall == pytest.approx(4 / 5)
        precision, _, same, different = precision_recall(self.PAIRS, 0.8, guard=False)
        assert (same, different) == (4, 2)

    def test_the_lowest_round_value_reaching_the_precision(self):
        assert choose_threshold(self.PAIRS, grid=(0.7, 0.75, 0.8, 0.85, 0.9)) == 0.85
        assert choose_threshold(self.PAIRS, target=0.8, grid=(0.7, 0.75, 0.8, 0.85, 0.9)) == 0.75
        assert choose_threshold(self.PAIRS, target=0.8, grid=(0.9, 0.8, 0.75, 0.7)) == 0.75  # any order

    def test_without_the_guard_the_precision_may_never_be_reached(self):
        assert choose_threshold(self.PAIRS, guard=False, grid=(0.85,)) is None
        assert choose_threshold([], grid=(0.8,)) is None
