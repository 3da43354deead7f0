"""The shared word toolkit: each service's rules, as a reader of its docs expects them."""

import pytest

from tellwell.common.text import (
    DERIVATIONS,
    ENGLISH_STOPWORDS,
    PLURALS,
    PLURALS_AND_VERBS,
    Suffix,
    TermMap,
    suffix_stemmer,
    word_tokens,
)


@pytest.mark.parametrize(
    ("rules", "word", "stem"),
    [
        (PLURALS, "stocks", "stock"),
        (PLURALS, "companies", "company"),
        (PLURALS, "ties", "tie"),  # "ies" -> "y" only in longer words
        (PLURALS, "crisis", "crisis"),
        (PLURALS, "boss", "boss"),
        (PLURALS, "killed", "killed"),  # plurals only
        (PLURALS_AND_VERBS, "killed", "kill"),
        (PLURALS_AND_VERBS, "killing", "kill"),
        (PLURALS_AND_VERBS, "kills", "kill"),
        (PLURALS_AND_VERBS, "sing", "sing"),  # "ing" needs a word longer than five letters
        (PLURALS_AND_VERBS, "bed", "bed"),
        (DERIVATIONS, "warnings", "warning"),  # one suffix: "s", not "ings"
        (DERIVATIONS, "surprisingly", "surpris"),
        (DERIVATIONS, "carried", "carry"),
        (DERIVATIONS, "was", "was"),  # at least three letters stay
    ],
)
def test_each_rule_set_stems_as_documented(rules, word, stem):
    assert suffix_stemmer(rules)(word) == stem


def test_the_first_rule_that_applies_wins():
    stem = suffix_stemmer([Suffix("s", 2), Suffix("es", 2)])
    assert stem("boxes") == "boxe"
    assert suffix_stemmer([Suffix("es", 2), Suffix("s", 2)])("boxes") == "box"


def test_word_tokens_drop_stopwords_possessives_and_single_letters_but_keep_numbers():
    stem = suffix_stemmer(PLURALS)
    tokens = word_tokens("The company\u2019s 3 new plants in a row: Ford's", ENGLISH_STOPWORDS, stem)
    assert tokens == ["company", "3", "new", "plant", "row", "ford"]


def test_word_tokens_keep_a_contraction_whole():
    assert word_tokens("Banks don't lend", ENGLISH_STOPWORDS, lambda w: w) == ["banks", "don't", "lend"]


def test_term_map_maps_stopwords_figures_and_letters_to_nothing_and_is_bounded():
    terms = TermMap(frozenset({"the"}), suffix_stemmer(DERIVATIONS), capacity=3)
    assert [terms[w] for w in ["the", "2026", "x", "g7", "strikes"]] == ["", "", "", "g7", "strik"]
    assert len(terms) == 3  # the capacity holds: later words are answered, not kept
    assert terms["warnings"] == "warning"
    assert "warnings" not in terms
