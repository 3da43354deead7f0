"""Sentence segmentation, headline cleaning and boilerplate rules on real-shaped copy."""

import pytest

from tellwell.summarize.text import (
    clean_headline,
    clickbait_score,
    is_boilerplate,
    split_sentences,
    strip_dateline,
)


class TestSplitSentences:
    def test_abbreviations_initials_and_decimals_do_not_split(self):
        text = (
            "Mr. Smith met Dr. Jones at 3 p.m. in Washington, D.C. on Monday. "
            "The U.S. economy grew 2.4% in the quarter, J.P. Morgan said. Shares rose."
        )
        assert split_sentences(text) == [
            "Mr. Smith met Dr. Jones at 3 p.m. in Washington, D.C. on Monday.",
            "The U.S. economy grew 2.4% in the quarter, J.P. Morgan said.",
            "Shares rose.",
        ]

    def test_closing_quotes_stay_with_their_sentence(self):
        text = '"We are deploying every resource," Boric said. "Help is coming." Rescuers arrived.'
        assert split_sentences(text) == [
            '"We are deploying every resource," Boric said.',
            '"Help is coming."',
            "Rescuers arrived.",
        ]

    def test_paragraph_breaks_split_bylines_off(self):
        assert split_sentences("By Jane Doe\nThe vote passed on Tuesday. It was close.") == [
            "By Jane Doe",
            "The vote passed on Tuesday.",
            "It was close.",
        ]


class TestHeadlines:
    @pytest.mark.parametrize(
        ("raw", "clean"),
        [
            (
                "Magnitude 7.1 earthquake kills 12 in central Chile - Reuters",
                "Magnitude 7.1 earthquake kills 12 in central Chile",
            ),
            ("Fed holds rates steady | BBC News", "Fed holds rates steady"),
            (
                "UPDATE 2-Fed holds rates steady as inflation cools",
                "Fed holds rates steady as inflation cools",
            ),
            ("Men's Wearhouse to buy Jos. A. Bank  ...", "Men's Wearhouse to buy Jos. A. Bank"),
            ("Beyonc&#233; Wants to Ban the Word 'Bossy,' Too", "Beyoncé Wants to Ban the Word 'Bossy,' Too"),
            # A colon or dash that is part of the headline is not an outlet suffix.
            (
                "Chile earthquake: Rescuers search rubble after deadly quake",
                "Chile earthquake: Rescuers search rubble after deadly quake",
            ),
            (
                "Senate passes bill - the vote was 52 to 48 after a long debate",
                "Senate passes bill - the vote was 52 to 48 after a long debate",
            ),
        ],
    )
    def test_outlet_suffixes_and_desk_labels_are_removed(self, raw, clean):
        assert clean_headline(raw) == clean

    def test_the_source_name_is_recognised_as_suffix(self):
        assert (
            clean_headline("Quake shakes Santiago — KKCO-TV", source_name="KKCO-TV")
            == "Quake shakes Santiago"
        )

    def test_bait_scores_above_plain_news(self):
        plain = clickbait_score("Magnitude 7.1 earthquake kills 12 in central Chile")
        for bait in (
            "You won't believe the damage from Chile's massive quake!",
            "Is Twitter down again?",
            "SHOCKING QUAKE VIDEO STUNS THE WORLD",
        ):
            assert clickbait_score(bait) > plain


class TestBoilerplate:
    @pytest.mark.parametrize(
        "line",
        [
            "Sign up for our newsletter to get the latest world news.",
            "Reporting by Natalia Ramos; Editing by Peter Graff",
            "By Jane Doe and John Roe, Reuters",
            "Follow us on Twitter for the latest updates.",
            "Click here to get the Fox News app.",
            "This article was originally published on The Conversation.",
        ],
    )
    def test_page_furniture_is_boilerplate(self, line):
        assert is_boilerplate(line)

    @pytest.mark.parametrize(
        "line",
        [
            "President Gabriel Boric said rescue teams were searching collapsed buildings.",
            "The report was published by the agency on Monday after a long review.",
            "By Tuesday, the death toll had risen to 15.",
        ],
    )
    def test_reporting_is_not_boilerplate(self, line):
        assert not is_boilerplate(line)

    def test_wire_datelines_are_stripped(self):
        assert strip_dateline("SANTIAGO (Reuters) - A quake struck.") == "A quake struck."
        assert strip_dateline("WASHINGTON, March 3 (AP) — Senators voted.") == "Senators voted."
