"""The cheap text features corroboration rests on."""

from tellwell.score.corroboration import PassageCache, prepare
from tellwell.score.text import analyse, entities, figures, mentions, sentences, term_set

TEXT = (
    "A magnitude 7.1 earthquake struck central Chile on Monday, killing 1,200 people, officials said. "
    "The U.S. Geological Survey put the damage at $3.5 million. Dr. Rosa Vega said 12% of Santiago "
    "lost power! Was it the strongest since 2010? Rescuers think so."
)


class TestText:
    def test_sentences_do_not_break_at_initials_or_titles(self):
        assert sentences(TEXT) == [
            "A magnitude 7.1 earthquake struck central Chile on Monday, killing 1,200 people, "
            "officials said.",
            "The U.S. Geological Survey put the damage at $3.5 million.",
            "Dr. Rosa Vega said 12% of Santiago lost power!",
            "Was it the strongest since 2010?",
            "Rescuers think so.",
        ]

    def test_figures_read_thousands_scales_and_percentages_with_their_subject(self):
        found = {f.value: f.context for f in figures(TEXT)}
        assert set(found) == {7.1, 1200.0, 3.5e6, 12.0, 2010.0}
        assert {"kill", "people"} <= found[1200.0]
        assert "percent" in found[12.0]

    def test_entities_skip_the_capital_of_a_sentence_start(self):
        assert entities(TEXT) == ["chile", "u.s geological survey", "rosa vega", "santiago"]

    def test_one_pass_analysis_equals_sentence_by_sentence(self):
        ends, words, found = analyse(TEXT)
        assert len(ends) == len(sentences(TEXT))
        assert words == [term_set(s) for s in sentences(TEXT)]
        assert [[m.value for m in ms] for ms in found] == [
            [m.value for m in mentions(s)] for s in sentences(TEXT)
        ]

    def test_the_passage_cache_keeps_the_newest_and_evicts_the_least_recently_used(self):
        cache = PassageCache(capacity=2)
        a, b, c = (("a", "f", 1), ("b", "f", 1), ("c", "f", 1))
        passages = prepare("Quake hits Chile", "", TEXT)
        cache.put(a, passages)
        cache.put(b, passages)
        assert cache.get(a) is passages  # a is now the most recently used
        cache.put(c, passages)
        assert cache.get(b) is None
        assert len(cache) == 2

    def test_alphanumeric_names_are_terms_and_bare_numbers_are_figures(self):
        assert term_set("Flight MH370 and the G7 met in 2026, said 3.5 officials") == {
            "flight",
            "mh370",
            "g7",
            "met",
            "official",
        }
        assert [m.value for m in mentions("Flight MH370 and the G7 met in 2026")] == [2026.0]
