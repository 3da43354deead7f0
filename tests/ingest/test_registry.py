import csv
import functools
import json
import re
import subprocess
import sys
from collections import Counter

import pytest
from pydantic import ValidationError

from tellwell.common.events import Lean
from tellwell.common.sources import FACTUALITY_LEVELS, NEUTRAL_CREDIBILITY, Source, credibility_weight
from tellwell.ingest.registry import (
    BUNDLED_FEEDS,
    BUNDLED_KITE,
    BUNDLED_MBFC,
    OUTLET_ALIASES,
    KiteOutlet,
    LoadStats,
    kite_owner_groups,
    load_kite,
    load_mbfc,
    load_registry,
    merge_sources,
    normalise_bias,
    normalise_factuality,
    outlet_domains,
    owner_entities,
    read_kite,
    registrable_domain,
    unrated_source,
)


@functools.cache
def mbfc_rows() -> list[dict[str, str]]:
    with BUNDLED_MBFC.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@functools.cache
def mbfc_sources() -> tuple[Source, ...]:
    return tuple(load_mbfc(BUNDLED_MBFC))


@functools.cache
def kite_by_domain() -> dict[str, Source]:
    return {source.domain: source for source in load_kite(BUNDLED_KITE)}


@functools.cache
def registry() -> dict[str, Source]:
    return merge_sources(load_mbfc(BUNDLED_MBFC), load_kite(BUNDLED_KITE))


class TestBundledData:
    def test_files_ship_inside_the_package_with_their_licenses(self):
        data_dir = BUNDLED_MBFC.parent
        assert data_dir.parts[-3:] == ("tellwell", "ingest", "data")
        for name in ("mbfc.csv", "kite_media_data.json", "kite_core_feeds.json", "README.md"):
            assert (data_dir / name).is_file(), name
        assert "Apache License" in (data_dir / "LICENSE.apache-2.0.txt").read_text()
        assert "MIT License" in (data_dir / "LICENSE.kite-public.MIT").read_text()

    def test_bundled_files_have_the_documented_sizes(self):
        assert len(mbfc_rows()) == 4497
        assert len(json.loads(BUNDLED_KITE.read_text(encoding="utf-8"))) == 528
        feeds = json.loads(BUNDLED_FEEDS.read_text(encoding="utf-8"))
        assert len(feeds) == 24


class TestRegistrableDomain:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("https://www.bbc.co.uk/news/x", "bbc.co.uk"),
            ("edition.cnn.com", "cnn.com"),
            ("WWW.Example.COM", "example.com"),
            ("example.com.", "example.com"),
            ("news.example.com:8443/path?q=1", "example.com"),
            ("http://user:pw@blog.example.org:8080/p", "example.org"),
            ("//cdn.example.net/x.js", "example.net"),
            ("  https://www.lemonde.fr/  ", "lemonde.fr"),
            ("guadeloupe.franceantilles.fr", "franceantilles.fr"),
            ("www.9news.com.au", "9news.com.au"),
            ("bücher.de", "xn--bcher-kva.de"),
            ("someone.blogspot.com", "someone.blogspot.com"),
            ("https://writer.substack.com/p/post", "writer.substack.com"),
            ("blogspot.com", "blogspot.com"),
            ("medium.com", "medium.com"),
        ],
    )
    def test_usable_hosts(self, value, expected):
        assert registrable_domain(value) == expected

    @pytest.mark.parametrize(
        "value",
        [
            "127.0.0.1",
            "http://192.168.1.1:80/x",
            "http://[::1]:8080/",
            "localhost",
            "localhost:8080",  # a single label names no public registrable domain
            "not a url",
            "de werktitel",
            "",
            "   ",
            "co.uk",
            ".com",
            "www",
            "example.invalidtld",
            "mailto:someone@example.com",
            "javascript:alert(1)",
            "http://exa_mple.com/",
            "http://[broken/",
        ],
    )
    def test_unusable_values_give_none(self, value):
        assert registrable_domain(value) is None

    def test_works_without_network(self):
        code = (
            "import socket\n"
            "class NetworkUsed(BaseException): pass\n"  # not an Exception: no library swallows it
            "def refuse(*a, **k): raise NetworkUsed\n"
            "class Guarded(socket.socket):\n"
            "    connect = connect_ex = refuse\n"
            "socket.socket = Guarded; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
            "from tellwell.ingest.registry import registrable_domain\n"
            "print(registrable_domain('https://www.bbc.co.uk/news'))\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "bbc.co.uk"


# every distinct spelling of mbfc.csv's bias column, with the expected normalisation
BIAS_TABLE = [
    ("least biased", Lean.center, []),
    ("right-center", Lean.lean_right, []),
    ("left-center", Lean.lean_left, []),
    ("", Lean.unrated, []),
    ("right", Lean.right, []),
    ("left", Lean.left, []),
    ("extreme right", Lean.right, ["extreme"]),
    ("pro-science", Lean.center, ["pro_science"]),
    ("right conspiracy-pseudoscience", Lean.right, ["conspiracy", "pseudoscience"]),
    ("far right", Lean.right, ["extreme"]),
    ("conspiracy-pseudoscience", Lean.unrated, ["conspiracy", "pseudoscience"]),
    ("pseudoscience", Lean.unrated, ["pseudoscience"]),
    ("far left", Lean.left, ["extreme"]),
    ("far-right", Lean.right, ["extreme"]),
    ("not rated", Lean.unrated, []),
    ("extreme-right", Lean.right, ["extreme"]),
    ("right pseudoscience", Lean.right, ["pseudoscience"]),
    ("extreme left", Lean.left, ["extreme"]),
    ("right-conspiracy-pseudoscience", Lean.right, ["conspiracy", "pseudoscience"]),
    ("left conspiracy-pseudoscience", Lean.left, ["conspiracy", "pseudoscience"]),
    ("unrated", Lean.unrated, []),
    ("right-conspiracy", Lean.right, ["conspiracy"]),
    ("right-pseudoscience", Lean.right, ["pseudoscience"]),
    ("right conspiracy- pseudoscience", Lean.right, ["conspiracy", "pseudoscience"]),
    ("right conspiracy", Lean.right, ["conspiracy"]),
    ("conspiracy", Lean.unrated, ["conspiracy"]),
    ("far right conspiracy-pseusdoscience", Lean.right, ["extreme", "conspiracy", "pseudoscience"]),
    ("left-pseudoscience", Lean.left, ["pseudoscience"]),
    ("left center", Lean.lean_left, []),
    ("far-right conspiracy-pseudoscience", Lean.right, ["extreme", "conspiracy", "pseudoscience"]),
    ("pro-science (left-leaning)", Lean.lean_left, ["pro_science"]),
    ("conspiracy- pseudoscience", Lean.unrated, ["conspiracy", "pseudoscience"]),
    ("left biased", Lean.left, []),
    ("far-left", Lean.left, ["extreme"]),
    ("pseudoscience right biased", Lean.right, ["pseudoscience"]),
    ("right conspiracy \u2013 pseudoscience", Lean.right, ["conspiracy", "pseudoscience"]),
    ("conspiracy and pseudoscience", Lean.unrated, ["conspiracy", "pseudoscience"]),
    ("left-conspiracy/pseudoscience", Lean.left, ["conspiracy", "pseudoscience"]),
    ("alt-right conspiracy", Lean.right, ["extreme", "conspiracy"]),
    ("right-psuedoscience", Lean.right, ["pseudoscience"]),
    ("extreme right conspiracy", Lean.right, ["extreme", "conspiracy"]),
    ("extreme right conspiracy-pseudoscience", Lean.right, ["extreme", "conspiracy", "pseudoscience"]),
    ("left \u2013 pseudoscience", Lean.left, ["pseudoscience"]),
    ("right \u2013 conspiracy and pseudoscience", Lean.right, ["conspiracy", "pseudoscience"]),
    ("conspiracy/pseudoscience", Lean.unrated, ["conspiracy", "pseudoscience"]),
    ("right-conspiracy/pseudoscience", Lean.right, ["conspiracy", "pseudoscience"]),
    ("left pseudoscience", Lean.left, ["pseudoscience"]),
    ("right conspiracy pseudoscience", Lean.right, ["conspiracy", "pseudoscience"]),
    ("right conspiracy=pseudoscience", Lean.right, ["conspiracy", "pseudoscience"]),
    ("right conspiracy/pseudoscience", Lean.right, ["conspiracy", "pseudoscience"]),
    ("far right-bias", Lean.right, ["extreme"]),
    ("far left bias", Lean.left, ["extreme"]),
    ("pro-science/left-center", Lean.lean_left, ["pro_science"]),
    ("left-center \u2013 pro-science", Lean.lean_left, ["pro_science"]),
    ("left-center pro-science", Lean.lean_left, ["pro_science"]),
    ("least pro-science", Lean.center, ["pro_science"]),
    ("pro-science / least biased", Lean.center, ["pro_science"]),
    ("left leaning pro-science", Lean.lean_left, ["pro_science"]),
    ("left-center (by saudi standards)", Lean.lean_left, []),
    ("quackery pseudoscience", Lean.unrated, ["pseudoscience"]),
    ("right \u2013 conspiracy", Lean.right, ["conspiracy"]),
    ("junk news", Lean.unrated, ["junk_news"]),
    ("least \u2013 pro science", Lean.center, ["pro_science"]),
    ("pro- science", Lean.center, ["pro_science"]),
]


class TestNormaliseBias:
    @pytest.mark.parametrize(("raw", "lean", "flags"), BIAS_TABLE)
    def test_real_spelling(self, raw, lean, flags):
        assert normalise_bias(raw) == (lean, flags)

    def test_table_covers_every_spelling_in_the_bundled_csv(self):
        assert {row["bias"] for row in mbfc_rows()} == {raw for raw, _, _ in BIAS_TABLE}

    def test_case_dashes_and_spacing_do_not_matter(self):
        assert normalise_bias("  Far\u2014Right   Conspiracy = Pseudoscience ") == (
            Lean.right,
            ["extreme", "conspiracy", "pseudoscience"],
        )
        assert normalise_bias("LEFT_CENTER") == (Lean.lean_left, [])

    @pytest.mark.parametrize(
        "raw",
        ["far left junk pro-science quackery conspiracy", "conspiracy quackery pro-science junk far left"],
    )
    def test_flags_come_in_one_documented_order_whatever_the_label_order(self, raw):
        # Flags are gathered in a set: the list must follow neither the set's iteration order (it
        # changes with PYTHONHASHSEED) nor the label's word order, or a stored source would differ
        # from one run to the next.
        assert normalise_bias(raw) == (
            Lean.left,
            ["extreme", "conspiracy", "pseudoscience", "pro_science", "junk_news"],
        )

    def test_unknown_text_is_unrated_without_error(self):
        assert normalise_bias("satire?!") == (Lean.unrated, [])

    def test_lean_right_count_equals_right_center_rows(self):
        right_center = sum(
            1
            for row in mbfc_rows()
            if row["source"].strip() and re.fullmatch(r"right[\s-]*center", row["bias"])
        )
        lean_right = sum(1 for source in mbfc_sources() if source.lean is Lean.lean_right)
        assert right_center == 976  # 977 rows, one of them without a domain
        assert lean_right == right_center

    def test_extreme_count_equals_far_extreme_and_alt_rows(self):
        extreme_rows = sum(
            1
            for row in mbfc_rows()
            if row["source"].strip() and re.match(r"(far|extreme|alt)\b", row["bias"])
        )
        flagged = sum(1 for source in mbfc_sources() if "extreme" in source.flags)
        assert flagged == extreme_rows > 250


class TestNormaliseFactuality:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("very high", "very_high"),
            ("high", "high"),
            ("mostly factual", "mostly_factual"),
            ("Mostly-Factual", "mostly_factual"),
            ("mixed", "mixed"),
            ("low", "low"),
            ("very low", "very_low"),
            (" VERY  LOW ", "very_low"),
            ("very_high", "very_high"),
            ("", "unrated"),
            ("not rated", "unrated"),
            ("satire", "unrated"),
        ],
    )
    def test_label(self, raw, expected):
        assert normalise_factuality(raw) == expected

    def test_every_bundled_label_is_rated(self):
        assert {normalise_factuality(row["factual_reporting"]) for row in mbfc_rows()} == {
            "very_high",
            "high",
            "mixed",
            "low",
            "very_low",
        }


class TestCredibilityWeight:
    def test_documented_table(self):
        assert {level: credibility_weight(level) for level in FACTUALITY_LEVELS} == {
            "very_high": 0.95,
            "high": 0.85,
            "mostly_factual": 0.7,
            "mixed": 0.4,
            "low": 0.2,
            "very_low": 0.05,
            "unrated": NEUTRAL_CREDIBILITY,
        }

    def test_better_ratings_never_weigh_less(self):
        rated = [credibility_weight(level) for level in FACTUALITY_LEVELS if level != "unrated"]
        assert rated == sorted(rated, reverse=True)
        assert len(set(rated)) == len(rated)

    def test_unrated_is_neutral_and_sits_between_mostly_factual_and_mixed(self):
        assert NEUTRAL_CREDIBILITY == 0.5
        assert (
            credibility_weight("mixed") < credibility_weight("unrated") < credibility_weight("mostly_factual")
        )


class TestSourceModel:
    def test_defaults_are_unrated_and_neutral(self):
        source = Source(domain="example.com")
        assert (source.lean, source.factuality, source.credibility) == (Lean.unrated, "unrated", 0.5)
        assert source.owner_group is None
        assert source.group_key == "example.com"

    def test_group_key_prefers_owner_group(self):
        assert Source(domain="hln.be", owner_group="dpg-media").group_key == "dpg-media"

    def test_is_frozen(self):
        with pytest.raises(ValidationError):
            Source(domain="example.com").lean = Lean.left  # type: ignore[misc]

    def test_credibility_outside_unit_interval_is_rejected(self):
        with pytest.raises(ValidationError, match="credibility"):
            Source(domain="example.com", credibility=1.5)

    def test_unknown_factuality_is_rejected(self):
        with pytest.raises(ValidationError, match="factuality"):
            Source(domain="example.com", factuality="excellent")  # type: ignore[arg-type]

    def test_mongo_fields_are_ignored(self):
        source = Source.model_validate({"_id": "x", "domain": "example.com", "lean": "lean_left"})
        assert source.lean is Lean.lean_left


class TestLoadMbfc:
    def test_rows_without_a_domain_are_skipped_and_counted(self):
        stats = LoadStats()
        sources = list(load_mbfc(BUNDLED_MBFC, stats))
        empty = sum(1 for row in mbfc_rows() if not row["source"].strip())
        assert empty == 7
        assert (stats.records, stats.sources, len(stats.skipped)) == (4497, 4497 - empty, empty)
        assert len(sources) == stats.sources

    def test_real_row_9news(self):
        source = next(s for s in mbfc_sources() if s.domain == "9news.com")
        assert source.lean is Lean.center
        assert source.factuality == "high"
        assert source.credibility == 0.85
        assert source.country == "usa"
        assert source.media_type == "tv station"
        assert source.origins == ["mbfc"]
        assert source.owner_group is None

    def test_real_row_with_flags(self):
        rows = [row for row in mbfc_rows() if row["bias"] == "far right conspiracy-pseusdoscience"]
        source = next(s for s in mbfc_sources() if s.domain == rows[0]["source"])
        assert source.lean is Lean.right
        assert source.flags == ["extreme", "conspiracy", "pseudoscience"]

    def test_country_drops_press_freedom_aside(self):
        row = next(row for row in mbfc_rows() if row["country"] == "usa (44/180 press freedom)")
        source = next(s for s in mbfc_sources() if s.domain == row["source"])
        assert source.country == "usa"

    def test_factuality_counts_match_the_csv(self):
        by_label = Counter(row["factual_reporting"] for row in mbfc_rows() if row["source"])
        by_level = Counter(source.factuality for source in mbfc_sources())
        assert by_level["very_high"] == by_label["very high"] == 105
        assert by_level["very_low"] == by_label["very low"]


class TestOwnerEntities:
    @pytest.mark.parametrize(
        ("owner", "expected"),
        [
            ("DPG Media", ("dpg media",)),
            ("Cairo Communication SpA", ("cairo communication",)),
            ("Cairo Communication (59.69%)", ("cairo communication",)),
            ("Ziff Davis (via IGN Entertainment)", ("ziff davis",)),
            ("Condè Nast", ("conde nast",)),
            ("News Corp", ("news corp",)),
            ("Manjaro GmbH & Co. KG", ("manjaro",)),
            ("GEDI Gruppo Editoriale (owned by Exor)", ("gedi gruppo editoriale", "exor")),
            (
                "Groupe EBRA (owned by Crédit Mutuel Alliance Fédérale)",
                ("groupe ebra", "credit mutuel alliance federale"),
            ),
            ("Foundry (formerly IDG Communications), a subsidiary of Blackstone", ("foundry", "blackstone")),
            (
                "CMI France (part of International Media Invest \u2013 Daniel Křetínský)",
                ("cmi france", "international media invest"),
            ),
            ("Daily Planet, controlled by Lex Holdings", ("daily planet", "lex holdings")),
            ("The outlet belongs to Acme Media Group.", ("acme media group",)),
            ("Acme Holdings owns the paper and two radio stations", ("acme holdings",)),
            ("Groupe Nice-Matin (100% NJJ Holding \u2013 Xavier Niel)", ("groupe nice matin", "njj holding")),
            ("RTL Deutschland (75% Mohn family)", ("rtl deutschland", "mohn family")),
            (
                "Zeitungsholding Hessen (90%, Dirk Ippen), Karl-Gerold-Stiftung (10%)",
                ("zeitungsholding hessen",),
            ),
            ("Vincent Bolloré via Vivendi 63%, Arnaud Lagardère 11%", ("vincent bollore",)),
            ("Ministry of Information (Lebanon)", ("ministry of information lebanon",)),
            ("Owned by Acme Media, with Foo Holdings (10%) as a partner", ("acme media",)),
        ],
    )
    def test_recognised(self, owner, expected):
        assert owner_entities(owner) == expected

    @pytest.mark.parametrize(
        "owner",
        [
            "",
            "Unknown",
            "Independent",
            "Non-profit organization",
            "Private Ownership",
            "Employee/shareholder-owned company",
            "Public broadcaster (German public institutions)",
            "Ann O'Dea, Darren McAuliffe",  # co-owners: nobody controls it alone
            "Exor N.V. (43.4%), Rothschild (26.7%), Cadbury Schroder Layton",  # minority stakes
            "Dieter von Holtzbrinck Medien (50%), Verlagsgruppe Georg von Holtzbrinck (50%)",
            "20 Minutes is co-owned by the SIPA - Ouest-France group (50%) and the Rossel Group (50%).",
            "Mediapart's capital is controlled by its founding journalists, ensuring independence.",
            "Le Monde Libre is owned by Le Nouveau Monde (Matthieu Pigasse) (26.66%), NJJ Presse (26.66%)",
        ],
    )
    def test_nobody_in_control(self, owner):
        assert owner_entities(owner) == ()

    @pytest.mark.parametrize("owner", [",", "(", ")", "%", "owned by", "owned by ,", "; ;", "["])
    def test_punctuation_and_fragments_do_not_raise(self, owner):
        assert owner_entities(owner) == ()


class TestOwnerGroups:
    def test_outlets_with_one_named_owner_share_a_group(self):
        kite = kite_by_domain()
        assert kite["hln.be"].owner == kite["volkskrant.nl"].owner == "DPG Media"
        assert kite["hln.be"].name != kite["volkskrant.nl"].name
        assert kite["hln.be"].owner_group == kite["volkskrant.nl"].owner_group == "dpg-media"

    def test_all_domains_of_one_organization_share_a_group(self):
        kite = kite_by_domain()
        assert kite["bbc.co.uk"].name == kite["bbc.com"].name == "BBC News"
        assert kite["bbc.co.uk"].owner_group == kite["bbc.com"].owner_group is not None

    def test_spelling_variants_of_one_owner_share_a_group(self):
        kite = kite_by_domain()
        # "Ziff Davis", "Ziff Davis, Inc." and "Ziff Davis (via IGN Entertainment)"
        assert (
            kite["cnet.com"].owner_group == kite["ign.com"].owner_group == kite["eurogamer.net"].owner_group
        )
        # "Cairo Communication (59.69%)" and "Cairo Communication SpA"
        assert kite["corriere.it"].owner_group == kite["gazzetta.it"].owner_group

    def test_owner_named_after_another_organization_joins_it(self):
        kite = kite_by_domain()  # Sporza's owner is "VRT", itself an organization in kite
        assert kite["sporza.be"].owner_group == kite["vrt.be"].owner_group == "vrt"

    def test_parent_named_by_a_control_phrase_links_the_group(self):
        kite = kite_by_domain()  # "GEDI Gruppo Editoriale" and "... (owned by Exor)"
        assert kite["huffingtonpost.it"].owner_group == kite["repubblica.it"].owner_group

    def test_independent_outlets_stay_apart(self):
        kite = kite_by_domain()
        assert kite["standaard.be"].owner == "Mediahuis"
        assert kite["standaard.be"].owner_group != kite["demorgen.be"].owner_group  # DPG Media
        assert kite["theguardian.com"].owner_group != kite["nytimes.com"].owner_group

    def test_generic_owner_text_does_not_merge(self):
        kite = kite_by_domain()  # all four say "Public broadcaster (German public institutions)"
        groups = {kite[d].owner_group for d in ("zdf.de", "tagesschau.de", "deutschlandfunk.de", "rbb24.de")}
        assert len(groups) == 4

    def test_qualified_ministries_stay_apart(self):
        kite = kite_by_domain()  # "Ministry of Information (Lebanon)" vs "(Oman)"
        assert kite["nna-leb.gov.lb"].owner_group != kite["omannews.gov.om"].owner_group

    def test_minority_stake_does_not_merge(self):
        kite = kite_by_domain()  # The Economist: "Exor N.V. (43.4%), ..."; La Stampa: owned by EXOR
        assert kite["economist.com"].owner_group != kite["lastampa.it"].owner_group

    def test_domain_listed_twice_does_not_bridge_organizations(self):
        kite = kite_by_domain()  # elle.fr is listed under CMI France and under Lagardère Live
        assert kite["elle.fr"].name == "CMI France"
        assert kite["elle.fr"].owner_group == kite["marianne.net"].owner_group
        assert kite["elle.fr"].owner_group != kite["europe1.fr"].owner_group

    def test_bundled_data_yields_the_expected_number_of_shared_groups(self):
        groups = kite_owner_groups(read_kite(BUNDLED_KITE))
        sizes = Counter(groups.values())
        assert sum(1 for size in sizes.values() if size >= 2) == 49
        assert sizes["dpg-media"] == 10

    def test_slugs_are_stable_and_dotless(self):
        outlets = read_kite(BUNDLED_KITE)
        groups = kite_owner_groups(outlets)
        assert groups == kite_owner_groups(list(reversed(outlets)))
        assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug) for slug in groups.values())

    def test_synthetic_outlets(self):
        outlets = [
            KiteOutlet("Paper A", ("a.example",), owner="Acme Media Ltd"),
            KiteOutlet("Paper B", ("b.example",), owner="Acme Media Limited"),
            KiteOutlet("Paper C", ("c.example",), owner="Independent"),
            KiteOutlet("Paper D", ("d.example",), owner="Independent"),
        ]
        groups = kite_owner_groups(outlets)
        assert groups["Paper A"] == groups["Paper B"] == "acme-media"
        assert len({groups["Paper C"], groups["Paper D"], groups["Paper A"]}) == 3


class TestLoadKite:
    def test_one_source_per_domain_named_after_the_organization(self):
        stats = LoadStats()
        sources = list(load_kite(BUNDLED_KITE, stats))
        assert len({s.domain for s in sources}) == len(sources) == stats.sources
        assert stats.skipped == ["de werktitel"]
        assert stats.records == 528

    def test_real_outlet_fields(self):
        source = kite_by_domain()["hln.be"]
        assert source.name == "Het Laatste Nieuws"
        assert source.typology == "Private Media"
        assert source.origins == ["kite"]
        assert source.lean is Lean.unrated

    def test_subdomains_collapse_to_the_registrable_domain(self):
        kite = kite_by_domain()
        assert kite["npr.org"].owner_group == "national-public-radio"
        assert "feeds.npr.org" not in kite


class TestMergeSources:
    def test_mbfc_wins_ratings_and_kite_wins_ownership(self):
        mbfc = Source(
            domain="ad.nl", lean=Lean.center, factuality="high", credibility=0.85, country="netherlands",
            media_type="newspaper", origins=["mbfc"],
        )  # fmt: skip
        kite = Source(
            domain="ad.nl", name="Algemeen Dagblad", owner="DPG Media", owner_group="dpg-media",
            typology="Private Media", country="nl-from-kite", origins=["kite"],
        )  # fmt: skip
        for merged in (merge_sources([mbfc], [kite])["ad.nl"], merge_sources([kite], [mbfc])["ad.nl"]):
            assert (merged.lean, merged.factuality, merged.credibility) == (Lean.center, "high", 0.85)
            assert (merged.name, merged.owner_group, merged.typology) == (
                "Algemeen Dagblad",
                "dpg-media",
                "Private Media",
            )
            assert merged.country == "netherlands"
            assert merged.media_type == "newspaper"
        assert merge_sources([mbfc], [kite])["ad.nl"].origins == ["mbfc", "kite"]

    def test_api_edit_beats_the_datasets(self):
        mbfc = Source(domain="x.com", lean=Lean.right, factuality="low", credibility=0.2, origins=["mbfc"])
        kite = Source(domain="x.com", name="X", owner_group="x-corp", origins=["kite"])
        api = Source(
            domain="x.com", lean=Lean.lean_right, factuality="mixed", credibility=0.4, owner_group="musk",
            origins=["api"],
        )  # fmt: skip
        merged = merge_sources([mbfc, kite], [api])["x.com"]
        assert (merged.lean, merged.factuality, merged.owner_group, merged.name) == (
            Lean.lean_right,
            "mixed",
            "musk",
            "X",
        )
        assert merged.origins == ["mbfc", "kite", "api"]

    def test_first_rating_wins_among_duplicates_of_one_origin(self):
        first = Source(domain="mlive.com", lean=Lean.center, factuality="high", origins=["mbfc"])
        unrated = Source(domain="mlive.com", origins=["mbfc"])
        second = Source(domain="mlive.com", lean=Lean.lean_right, factuality="mixed", origins=["mbfc"])
        merged = merge_sources([unrated, first, second])["mlive.com"]
        assert (merged.lean, merged.factuality) == (Lean.center, "high")
        assert merged.origins == ["mbfc"]

    def test_flags_travel_with_the_lean(self):
        extreme = Source(domain="y.com", lean=Lean.right, flags=["extreme"], origins=["mbfc"])
        other = Source(domain="y.com", lean=Lean.center, origins=["kite"])
        assert merge_sources([other, extreme])["y.com"].flags == ["extreme"]

    def test_bundled_registry(self):
        merged = registry()
        assert len(merged) == len({s.domain for s in mbfc_sources()} | set(kite_by_domain()))
        ad = merged["ad.nl"]
        assert ad.origins == ["mbfc", "kite"]
        assert ad.lean is Lean.center
        assert ad.owner_group == "dpg-media"
        assert merged["9news.com"].owner_group is None


class TestUnratedSource:
    def test_new_domain_gets_neutral_auto_entry(self):
        source = unrated_source("https://www.never-seen-before.example.co.uk/a")
        assert source.domain == "example.co.uk"
        assert source.origins == ["auto"]
        assert (source.lean, source.factuality, source.credibility) == (Lean.unrated, "unrated", 0.5)
        assert source.owner_group is None

    def test_key_without_registrable_domain_is_kept_as_given(self):
        assert unrated_source("name:Some-Blog").domain == "name:some-blog"
        assert unrated_source("unknown").domain == "unknown"

    def test_empty_domain_is_rejected(self):
        with pytest.raises(ValueError, match="empty"):
            unrated_source("  ")

    def test_auto_entry_loses_to_datasets_in_a_merge(self):
        merged = merge_sources([unrated_source("9news.com")], mbfc_sources())["9news.com"]
        assert merged.lean is Lean.center
        assert merged.origins == ["auto", "mbfc"]


@functools.cache
def full_registry() -> dict[str, Source]:
    return load_registry()


# The outlets issue 14 names: every alias domain is rated as the domain MBFC rates.
ALIASES = [
    ("bbc.co.uk", "bbc.com"),
    ("bbci.co.uk", "bbc.com"),
    ("reuters.co.uk", "reuters.com"),
    ("reutersagency.com", "reuters.com"),
    ("ap.org", "apnews.com"),
    ("guardian.co.uk", "theguardian.com"),
]


class TestOneOutletAllItsDomains:
    @pytest.mark.parametrize(("alias", "canonical"), ALIASES)
    def test_alias_is_rated_as_its_canonical_domain(self, alias, canonical):
        registry = full_registry()
        source, outlet = registry[alias], registry[canonical]
        assert source.domain == alias
        assert (source.lean, source.factuality, source.credibility, source.flags) == (
            outlet.lean,
            outlet.factuality,
            outlet.credibility,
            outlet.flags,
        )
        assert (source.name, source.owner_group, source.owner) == (
            outlet.name,
            outlet.owner_group,
            outlet.owner,
        )
        assert source.group_key == outlet.group_key  # score counts them as one voice
        assert source.lean is not Lean.unrated
        assert source.factuality != "unrated"
        assert source.credibility != NEUTRAL_CREDIBILITY
        assert "api" not in source.origins

    def test_the_named_outlets_have_their_mbfc_ratings(self):
        registry = full_registry()
        assert (registry["bbc.co.uk"].name, registry["bbc.co.uk"].factuality) == ("BBC News", "high")
        assert (registry["reuters.co.uk"].name, registry["reuters.co.uk"].factuality) == (
            "Reuters",
            "very_high",
        )
        assert registry["ap.org"].name == "The Associated Press"
        assert registry["guardian.co.uk"].name == "The Guardian"
        assert len({registry[d].group_key for d in ("bbc.co.uk", "bbc.com", "bbci.co.uk")}) == 1

    @pytest.mark.parametrize(
        ("url", "domain"),
        [
            ("https://www.bbc.co.uk/news/world-123", "bbc.co.uk"),
            ("https://feeds.bbci.co.uk/news/rss.xml", "bbci.co.uk"),
            ("https://www.bbc.com/news/articles/x", "bbc.com"),
            ("https://www.guardian.co.uk/world/2010/x", "guardian.co.uk"),
            ("https://uk.reuters.com/article/x", "reuters.com"),
            ("https://www.reuters.co.uk/x", "reuters.co.uk"),
            ("https://www.ap.org/news-highlights/x", "ap.org"),
        ],
    )
    def test_article_urls_find_the_rated_source(self, url, domain):
        assert registrable_domain(url) == domain
        assert full_registry()[domain].factuality != "unrated"

    def test_kites_lists_give_the_bbc_and_ap_domains_the_table_gives_the_rest(self):
        from_kite = {frozenset(group) for group in outlet_domains(read_kite(BUNDLED_KITE), aliases={})}
        assert {"bbc.co.uk", "bbc.com"} <= next(g for g in from_kite if "bbc.com" in g)
        assert {"ap.org", "apnews.com"} in from_kite
        assert not any("guardian.co.uk" in g or "reuters.co.uk" in g for g in from_kite)
        assert OUTLET_ALIASES["guardian.co.uk"] == "theguardian.com"
        assert OUTLET_ALIASES["reuters.co.uk"] == "reuters.com"

    def test_a_media_groups_titles_keep_their_own_ratings(self):
        # Kite lists lemonde.fr and nouvelobs.com under Groupe Le Monde: one voice, not one rating
        registry = full_registry()
        lemonde, obs = registry["lemonde.fr"], registry["nouvelobs.com"]
        assert lemonde.factuality != "unrated"
        assert (obs.factuality, obs.lean) == ("unrated", Lean.unrated)
        assert obs.owner_group == lemonde.owner_group
        assert registry["skysports.com"].factuality == "unrated"  # Sky Sports is not Sky News
        assert registry["cbssports.com"].factuality == "unrated"

    def test_an_editors_change_on_the_canonical_domain_reaches_every_alias(self):
        edited = full_registry()["bbc.com"].model_copy(
            update={"lean": Lean.center, "origins": ["mbfc", "kite", "api"]}
        )
        registry = load_registry(edited=[edited])
        assert {registry[d].lean for d in ("bbc.com", "bbc.co.uk", "bbci.co.uk")} == {Lean.center}
        assert "api" not in registry["bbc.co.uk"].origins  # the next import recomputes it from bbc.com

    def test_an_editors_change_on_an_alias_is_kept(self):
        edited = full_registry()["bbc.co.uk"].model_copy(
            update={"lean": Lean.right, "origins": ["kite", "mbfc", "api"]}
        )
        registry = load_registry(edited=[edited])
        assert registry["bbc.co.uk"].lean is Lean.right
        assert registry["bbc.com"].lean is Lean.lean_left

    def test_synthetic_outlet(self):
        rated = Source(
            domain="paper.com", lean=Lean.center, factuality="high", credibility=0.85, origins=["mbfc"]
        )
        kite = [
            Source(domain=d, name="Paper", owner_group="paper-group", origins=["kite"])
            for d in ("paper.org", "paper.com", "papernews.com", "otherpaper.com")
        ]
        outlets = outlet_domains(
            [KiteOutlet("Paper", ("paper.org", "www.paper.com", "papernews.com", "otherpaper.com"))],
            aliases={"paper.co.uk": "paper.com"},
        )
        assert outlets == [("paper.org", "paper.com", "papernews.com", "paper.co.uk")]
        registry = merge_sources([rated], kite, outlets=outlets)
        for domain in ("paper.org", "papernews.com", "paper.co.uk"):
            assert (registry[domain].lean, registry[domain].factuality) == (Lean.center, "high")
            assert registry[domain].name == "Paper"
        assert registry["otherpaper.com"].factuality == "unrated"
        assert registry["paper.co.uk"].origins == ["mbfc", "kite"]
        assert registry["paper.org"].origins == ["kite", "mbfc"]
