"""The source registry's domain logic: parse the bundled datasets into ``Source`` documents.

Pure functions; the only I/O is reading the dataset files they are given.

* ``registrable_domain`` keys every source (offline public-suffix list, no network).
* ``normalise_bias`` / ``normalise_factuality`` map Media Bias/Fact Check's messy labels onto
  ``Lean`` plus flags and onto the ``Factuality`` scale.
* ``load_mbfc`` (ratings) and ``load_kite`` (names, ownership, owner groups) read the datasets;
  ``merge_sources`` folds them into one ``Source`` per domain; ``unrated_source`` covers the rest.
* ``outlet_domains`` finds the domains that are one outlet (Kite's ``domains`` lists plus the
  ``OUTLET_ALIASES`` table), and ``merge_sources`` gives each of them the outlet's ratings, so
  ``bbc.co.uk`` is rated like ``bbc.com``, the domain MBFC rates. ``load_registry`` does it all.

Owner groups (``kite_owner_groups``) are conservative on purpose: two outlets share a group only
when kite lists them under one organization or their ownership texts name the same controlling
entity. A missed grouping overstates independence a little; a false merge silences an independent
outlet, which is worse.

Example::

    from tellwell.ingest.registry import load_registry
    registry = load_registry()                 # the bundled MBFC and Kite data
    registry["bbc.co.uk"].owner_group          # 'british-broadcasting-corporation-bbc'
    registry["bbc.co.uk"].factuality           # 'high', from MBFC's row for bbc.com
"""

from __future__ import annotations

import csv
import ipaddress
import json
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import tldextract

from tellwell.common.events import Lean
from tellwell.common.sources import Factuality, Source, credibility_weight

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
BUNDLED_MBFC = DATA_DIR / "mbfc.csv"
"""Media Bias/Fact Check ratings via idiap/News-Media-Reliability (Apache-2.0)."""
BUNDLED_KITE = DATA_DIR / "kite_media_data.json"
"""Outlet names, domains, ownership and typology from kagisearch/kite-public (MIT)."""
BUNDLED_FEEDS = DATA_DIR / "kite_core_feeds.json"
"""Default feed list, category -> feed URLs, from kagisearch/kite-public (MIT)."""

# Multi-tenant publishing platforms missing from the public-suffix list: every subdomain is a
# different publisher (x.substack.com and y.substack.com are not one voice).
PLATFORM_SUFFIXES = (
    "substack.com",
    "medium.com",
    "wordpress.com",
    "tumblr.com",
    "disqus.com",
    "livejournal.com",
    "typepad.com",
    "ghost.io",
    "beehiiv.com",
    "weebly.com",
)

# Bundled public-suffix snapshot only: no suffix_list_urls and no cache, so nothing is fetched or
# written. Private suffixes (blogspot.com, github.io, ...) count, for the same reason as above.
_EXTRACT = tldextract.TLDExtract(
    suffix_list_urls=(),
    cache_dir=None,
    include_psl_private_domains=True,
    extra_suffixes=PLATFORM_SUFFIXES,
)
_URL_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_OTHER_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:(?!\d)")  # mailto:, javascript:, ... but not host:port
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def registrable_domain(url_or_host: str) -> str | None:
    """The registrable domain (public suffix + one label) of a URL or host name, lower case.

    Accepts URLs with any ``scheme://`` or ``//``, bare hosts, ``host:port`` and ``host/path``.
    Returns None for what names no public registrable domain: IP addresses, ``localhost`` and other
    single-label or suffix-only names (``co.uk``), unknown top-level domains, and text that is not a
    host. A multi-tenant platform's bare host (``blogspot.com``, ``medium.com``) is returned as
    itself: it is the platform's own site, while ``x.medium.com`` is a publisher of its own.
    International names come back in their ASCII (punycode) form.

    Example::

        >>> registrable_domain("https://www.bbc.co.uk/news/x")
        'bbc.co.uk'
        >>> registrable_domain("localhost:8080") is None
        True
    """
    text = url_or_host.strip().lower()
    if not text or any(ch.isspace() for ch in text):
        return None
    if not _URL_SCHEME.match(text) and not text.startswith("//"):
        if _OTHER_SCHEME.match(text):
            return None
        text = "//" + text
    try:
        host = urlsplit(text).hostname
    except ValueError:  # e.g. an unbalanced "[" in the netloc
        return None
    if not host:
        return None
    host = host.rstrip(".")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return None
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if not all(_LABEL.match(label) for label in host.split(".")):
        return None
    parts = _EXTRACT(host)
    if not parts.suffix:
        return None
    if not parts.domain:
        return parts.suffix if parts.is_private or parts.suffix in PLATFORM_SUFFIXES else None
    return f"{parts.domain}.{parts.suffix}"


# ---------------------------------------------------------------- ratings

BIAS_FLAGS = ("extreme", "conspiracy", "pseudoscience", "pro_science", "junk_news")
"""Every flag ``normalise_bias`` can return, in the order it returns them."""

_SIDE = {"left": Lean.left, "right": Lean.right}
_LEANING_SIDE = {"left": Lean.lean_left, "right": Lean.lean_right}
_EXTREME = re.compile(r"\b(?:far|extreme|alt|ultra)\s+(left|right)\b")
_LEANING = re.compile(
    r"\b(left|right)\s+(?:center|centre|leaning|lean)\b|\b(?:center|centre)\s+(left|right)\b"
)
_PLAIN_SIDE = re.compile(r"\b(left|right)\b")
_PSEUDOSCIENCE_TYPO = re.compile(r"^ps[a-z]*science$")  # psuedoscience, pseusdoscience, ...


def _bias_words(raw: str) -> list[str]:
    text = unicodedata.normalize("NFKC", raw).lower()
    text = re.sub(r"[\W_]+", " ", text)  # hyphens, en/em dashes, '=', '/', brackets, spacing
    text = re.sub(r"\bpro\s+science\b", "proscience", text)
    return ["pseudoscience" if _PSEUDOSCIENCE_TYPO.match(word) else word for word in text.split()]


def normalise_bias(raw: str) -> tuple[Lean, list[str]]:
    """Map an MBFC ``bias`` label (any of its ~65 real spellings) to a lean and rating flags.

    Rules, first match wins:

    * ``far``/``extreme``/``alt`` + left/right -> ``left``/``right`` with flag ``extreme``;
    * left/right + ``center``/``leaning`` (``left-center``, ``left leaning``) -> ``lean_left``/``lean_right``;
    * ``least`` (``least biased``) -> ``center``;
    * left/right (``left``, ``left biased``, ``right conspiracy-pseudoscience``) -> ``left``/``right``;
    * ``center`` -> ``center``;
    * ``pro-science`` alone -> ``center``: MBFC rates pro-science outlets by the evidence, not by a
      side, and lists them beside "least biased"; the flag ``pro_science`` keeps the distinction;
    * anything else (``conspiracy-pseudoscience``, ``junk news``, ``not rated``, ``""``) -> ``unrated``.

    Flags, independent of the lean: ``conspiracy``, ``pseudoscience`` (also ``quackery`` and the
    misspellings ``psuedoscience``/``pseusdoscience``), ``pro_science``, ``junk_news``, ``extreme``.
    Dashes, ``=``, ``/``, hyphens, brackets, case and spacing are ignored. Never raises.

    Example::

        >>> normalise_bias("far right conspiracy-pseusdoscience")
        (<Lean.right: 'right'>, ['extreme', 'conspiracy', 'pseudoscience'])
    """
    words = _bias_words(raw)
    text = " ".join(words)
    flags: set[str] = set()
    if "conspiracy" in words:
        flags.add("conspiracy")
    if "pseudoscience" in words or "quackery" in words:
        flags.add("pseudoscience")
    if "proscience" in words:
        flags.add("pro_science")
    if "junk" in words:
        flags.add("junk_news")

    lean = Lean.unrated
    if extreme := _EXTREME.search(text):
        lean = _SIDE[extreme.group(1)]
        flags.add("extreme")
    elif leaning := _LEANING.search(text):
        lean = _LEANING_SIDE[leaning.group(1) or leaning.group(2)]
    elif "least" in words:
        lean = Lean.center
    elif side := _PLAIN_SIDE.search(text):
        lean = _SIDE[side.group(1)]
    elif "center" in words or "centre" in words or "proscience" in words:
        lean = Lean.center
    return lean, [flag for flag in BIAS_FLAGS if flag in flags]


_FACTUALITY: dict[str, Factuality] = {
    "very high": "very_high",
    "high": "high",
    "mostly factual": "mostly_factual",
    "mixed": "mixed",
    "low": "low",
    "very low": "very_low",
}


def normalise_factuality(raw: str) -> Factuality:
    """Map an MBFC ``factual_reporting`` label (``very high`` ... ``very low``) to ``Factuality``.

    Case, hyphens, underscores and spacing are ignored, so the canonical values map to themselves.
    Empty, ``not rated`` and anything unknown map to ``unrated``. Never raises.
    """
    key = " ".join(re.sub(r"[\W_]+", " ", raw.lower()).split())
    return _FACTUALITY.get(key, "unrated")


# ---------------------------------------------------------------- loaders


@dataclass
class LoadStats:
    """What a loader did with its input; pass one in to see it (the loaders also log it)."""

    records: int = 0
    sources: int = 0
    skipped: list[str] = field(default_factory=list)  # the unusable domain values, as written


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return text or None


def _country(value: Any) -> str | None:
    text = _clean(value)
    if text is None:
        return None
    text = re.sub(r"\s*\(.*?\)", "", text).strip().lower()  # "usa (44/180 press freedom)"
    return None if text in {"", "unknown", "n/a", "none"} else text


def load_mbfc(path: Path | str, stats: LoadStats | None = None) -> Iterator[Source]:
    """One ``Source`` per row of an MBFC ratings CSV (``source``, ``bias``, ``factual_reporting``, ...).

    Rows whose ``source`` has no registrable domain are skipped and counted in ``stats``. Rows are
    yielded in file order; a domain listed twice is yielded twice (``merge_sources`` keeps the
    first rating). MBFC carries no ownership, so ``owner_group`` stays None.
    """
    stats = stats if stats is not None else LoadStats()
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            stats.records += 1
            raw_domain = row.get("source") or ""
            domain = registrable_domain(raw_domain)
            if domain is None:
                stats.skipped.append(raw_domain)
                continue
            lean, flags = normalise_bias(row.get("bias") or "")
            factuality = normalise_factuality(row.get("factual_reporting") or "")
            stats.sources += 1
            yield Source(
                domain=domain,
                country=_country(row.get("country")),
                lean=lean,
                factuality=factuality,
                credibility=credibility_weight(factuality),
                media_type=_clean(row.get("media_type")),
                flags=flags,
                origins=["mbfc"],
            )
    log.info("mbfc: %d rows, %d sources, %d skipped", stats.records, stats.sources, len(stats.skipped))


@dataclass(frozen=True)
class KiteOutlet:
    """One record of kite's media data: an organization and the domains it publishes under."""

    organization: str
    domains: tuple[str, ...]
    owner: str = ""
    typology: str = ""
    country: str = ""


def read_kite(path: Path | str) -> list[KiteOutlet]:
    """The records of a ``kite_media_data.json`` file; records without an organization are dropped."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    outlets = []
    for record in data if isinstance(data, list) else []:
        if not isinstance(record, dict):
            continue
        organization = _clean(record.get("organization"))
        domains = record.get("domains")
        if organization is None or not isinstance(domains, list):
            continue
        outlets.append(
            KiteOutlet(
                organization=organization,
                domains=tuple(d for d in domains if isinstance(d, str)),
                owner=_clean(record.get("owner")) or "",
                typology=_clean(record.get("typology")) or "",
                country=_clean(record.get("country")) or "",
            )
        )
    return outlets


def load_kite(path: Path | str, stats: LoadStats | None = None) -> Iterator[Source]:
    """One ``Source`` per domain of a kite media-data file, named after its organization.

    Every source carries its organization's ``owner_group`` (``kite_owner_groups``). A domain
    listed by several organizations (kite lists ``elle.fr`` under its former and its current
    owner) goes to the first one in the file and does not link the two groups. Domains without a
    registrable domain are skipped and counted in ``stats``.
    """
    stats = stats if stats is not None else LoadStats()
    outlets = read_kite(path)
    groups = kite_owner_groups(outlets)
    seen: set[str] = set()
    for outlet in outlets:
        stats.records += 1
        for raw_domain in outlet.domains:
            domain = registrable_domain(raw_domain)
            if domain is None:
                stats.skipped.append(raw_domain)
                continue
            if domain in seen:
                continue
            seen.add(domain)
            stats.sources += 1
            yield Source(
                domain=domain,
                name=outlet.organization,
                country=_country(outlet.country),
                owner=outlet.owner or None,
                owner_group=groups[outlet.organization],
                typology=outlet.typology or None,
                origins=["kite"],
            )
    log.info("kite: %d records, %d sources, %d skipped", stats.records, stats.sources, len(stats.skipped))


# ---------------------------------------------------------------- owner groups

_CORPORATE_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "ltd", "limited", "llc", "lcc", "llp", "lp", "plc", "corp", "corporation",
        "co", "company", "sa", "spa", "srl", "sarl", "sas", "ag", "se", "gmbh", "mbh", "nv", "bv", "kg",
        "pty", "kft", "ab", "oy", "asbl", "ev",
    }
)  # fmt: skip
# Words that say what kind of owner it is but not who: an owner text made only of these
# ("Independent", "Non-profit organization", "Public broadcaster") names nobody, and grouping on it
# would merge unrelated outlets.
_GENERIC_WORDS = frozenset(
    {
        "unknown", "independent", "independently", "private", "privately", "ownership", "owned", "owner",
        "owners", "public", "broadcaster", "non", "not", "for", "profit", "nonprofit", "organization",
        "organisation", "employee", "employees", "shareholder", "shareholders", "staff", "journalists",
        "workers", "readers", "reader", "founders", "founder", "family", "families", "state", "government",
        "cooperative", "publishing", "media", "group", "company", "of", "and", "the", "by", "its", "n", "a",
        "na", "none", "various", "other", "others", "self", "individual", "individuals", "investors", "news",
    }
)  # fmt: skip
_CONTROL = re.compile(
    r"(?<![\w-])(?:(?:a|an|the)\s+)?(?:(?:majority|wholly|fully)[\s-]+)?"
    r"(?:owned\s+by|subsidiary\s+of|part\s+of|controlled\s+by|belongs\s+to|property\s+of)\s+",
    re.IGNORECASE,
)
_OWNS = re.compile(r"^(?P<x>[^.,;:()]{2,80}?)\s+owns\b", re.IGNORECASE)
_ENTITY_END = re.compile(r"\s*(?:[(),;:\[]|\s[-\u2013\u2014]\s|\.\s|\.$|$)")
_PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)\s*%")
_MAJORITY_PAREN = re.compile(
    r"\(\s*(\d+(?:[.,]\d+)?)\s*%\s+(?!(?:through|via|of|owned|stake|share)\b)(?P<x>[^(),;]+?)"
    r"\s*(?:[),;]|\s[-\u2013\u2014]\s)",
    re.IGNORECASE,
)
_SOFT_PAREN = re.compile(
    r"\s*\((?:\s*\d+(?:[.,]\d+)?\s*%[^)]*|\s*(?:via|through|formerly|previously)\b[^)]*)\)", re.IGNORECASE
)
_VIA = re.compile(r"\s+(?:via|through)\s+.*$", re.IGNORECASE)
_MAX_NAME_WORDS = 10  # longer text without a control phrase is prose, not an owner's name


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower().replace("&", " and ")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def _generic(words: list[str]) -> bool:
    return all(word in _GENERIC_WORDS for word in words)


def _entity_key(name: str) -> str | None:
    """A normalised owner or organization name: ASCII, lower case, no punctuation or legal form."""
    words = _fold(name).split()
    if words[:1] == ["the"]:
        words = words[1:]
    while len(words) > 1:
        cut = 0
        if words[-1] in _CORPORATE_SUFFIXES:
            cut = 1
        else:
            # dotted legal forms arrive as single letters: "S.p.A." -> s p a, "N.V." -> n v
            run = 0
            while run < len(words) - 1 and len(words[-1 - run]) == 1:
                run += 1
            if run >= 2 and "".join(words[-run:]) in _CORPORATE_SUFFIXES:
                cut = run
        if cut and words[-cut - 1] == "and" and len(words) > cut + 1:
            cut += 1  # "GmbH & Co. KG"
        if not cut or _generic(words[:-cut]):
            break  # keep "News Corp": without its legal form the name says nothing
        del words[-cut:]
    if not words or _generic(words):
        return None
    return " ".join(words)


def _split_top_level(text: str) -> list[str]:
    """Split at ", " and "; " outside brackets, re-attaching legal forms ("Co., Ltd.")."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch in ",;" and depth == 0 and text[i + 1 : i + 2] in (" ", ""):
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    merged: list[str] = []
    for part in (p.strip() for p in parts):
        first = re.sub(r"[^a-z]", "", part.split(" ", 1)[0].lower()) if part else ""
        if merged and first in _CORPORATE_SUFFIXES:
            merged[-1] = f"{merged[-1]}, {part}"
        elif part:
            merged.append(part)
    return merged


def _first_clause(text: str) -> str:
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch in ",;" and depth == 0:
            return text[:i]
    return text


def _percentages(text: str) -> list[float]:
    return [float(p.replace(",", ".")) for p in _PERCENT.findall(text)]


def _name_entity(name: str) -> str | None:
    """The entity a short owner name denotes, ignoring shares, "via X" and "formerly X" asides."""
    name = _SOFT_PAREN.sub("", name)
    name = _VIA.sub("", name)
    name = _PERCENT.sub("", name).strip(" .")
    if not name or len(name.split()) > _MAX_NAME_WORDS:
        return None
    # "Public broadcaster (German public institutions)": a generic head names nobody
    if _entity_key(re.split(r"[(\[]", name, maxsplit=1)[0]) is None:
        return None
    return _entity_key(name)


def _control_entities(text: str, match: re.Match[str]) -> list[str]:
    rest = text[match.end() :]
    end = _ENTITY_END.search(rest)
    cut = end.start() if end else len(rest)
    controller = rest[:cut].strip()
    entities: list[str] = []
    # the share, if any, stated for X before the next top-level ", " / "; " ("X (26.66%), Y ...")
    minority = any(share <= 50 for share in _percentages(_first_clause(rest[cut:])))
    possessive = controller.split(" ", 1)[0].lower() in {"its", "their", "his", "her", "our"}
    if not minority and not possessive and (key := _entity_key(controller)):
        entities.append(key)
    if entities:
        # "Head (owned by X)" / "Head, a subsidiary of X": Head is the direct owner, X its parent.
        head = text[: match.start()].rstrip()
        if head.endswith(("(", ",")) and (key := _name_entity(head[:-1])):
            entities.insert(0, key)
    return entities


def owner_entities(owner: str) -> tuple[str, ...]:
    """The normalised entities that control an outlet, read from kite's free-text ``owner``.

    Direct owner first, then its parent when the text names one. Recognised forms:

    * a control phrase: ``owned by X``, ``subsidiary of X``, ``part of X``, ``controlled by X``,
      ``belongs to X``, ``property of X``, ``X owns ...`` (``co-owned by`` is not control; ``X`` is
      rejected when a share of 50% or less follows it or it is a pronoun such as "its founders");
      with ``Head (owned by X)`` or ``Head, a subsidiary of X`` both Head and X are returned;
    * a majority aside: ``Head (75% X)`` -> Head and X;
    * a list of shareholders: only a first holder with more than 50% counts;
    * otherwise a short name (at most ten words), e.g. ``DPG Media`` or ``Ziff Davis (via IGN)``.

    Names are compared after ``_entity_key``: accents, case, punctuation, a leading "the" and legal
    forms (Inc., S.p.A., GmbH, ...) are dropped; other bracketed qualifiers are kept, since they
    distinguish "Ministry of Information (Lebanon)" from "(Oman)". Names made only of generic words
    ("Independent", "Unknown", "Public broadcaster") return nothing.

    Example::

        >>> owner_entities("GEDI Gruppo Editoriale (owned by EXOR - Agnelli family)")
        ('gedi gruppo editoriale', 'exor')
    """
    text = " ".join(owner.split())
    if not text:
        return ()
    if control := _CONTROL.search(text):
        return tuple(_control_entities(text, control))
    if owns := _OWNS.match(text):
        key = _entity_key(owns.group("x"))
        return (key,) if key else ()
    holders = _split_top_level(text)
    if not holders:
        return ()
    shares = _percentages(holders[0])
    if (len(holders) > 1 or shares) and not (shares and shares[0] > 50):
        return ()  # co-owned, or a minority holder: nobody controls it
    holder = holders[0]
    entities: list[str] = []
    if (majority := _MAJORITY_PAREN.search(holder)) and float(majority.group(1).replace(",", ".")) > 50:
        head = holder[: majority.start()]
        entities = [key for key in (_name_entity(head), _entity_key(majority.group("x"))) if key]
    elif key := _name_entity(holder):
        entities = [key]
    return tuple(dict.fromkeys(entities))


def _slug(key: str) -> str:
    return key.replace(" ", "-")


class _Partition:
    """Union-find over names. A group's root is its least name, or with ``first_seen_root`` the one
    seen first; ``groups`` lists each group's names in the order they were first seen."""

    def __init__(self, *, first_seen_root: bool = False) -> None:
        self.parent: dict[str, str] = {}  # insertion order = the order names were first seen
        self.seen: dict[str, int] = {}
        self.first_seen_root = first_seen_root

    def find(self, node: str) -> str:
        parent = self.parent
        if node not in parent:
            parent[node] = node
            self.seen[node] = len(self.seen)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, a: str, b: str) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            keep, drop = sorted((root_a, root_b), key=self.seen.__getitem__ if self.first_seen_root else None)
            self.parent[drop] = keep

    def groups(self) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {}
        for node in list(self.parent):
            members.setdefault(self.find(node), []).append(node)
        return members


def kite_owner_groups(outlets: Sequence[KiteOutlet]) -> dict[str, str]:
    """Owner-group slug of every organization in ``outlets`` (keyed by the organization as written).

    Organizations are linked when they share an owner entity (``owner_entities``), or when one's
    owner entity is the other organization's own name (Sporza, owned by "VRT", joins VRT). All
    domains of one organization are one group. A domain listed under two organizations does *not*
    link them: kite keeps stale entries after sales.

    The slug is the entity most organizations of the group name as owner (then the shortest, then
    the first alphabetically), e.g. ``dpg-media``; a group without any named owner takes its
    organization's name. Slugs are stable for the same data and never contain a dot.
    """
    partition = _Partition()
    find, union = partition.find, partition.union

    owner_refs: Counter[str] = Counter()
    alias_refs: Counter[str] = Counter()
    for outlet in outlets:
        org = "org:" + outlet.organization
        find(org)
        if alias := _entity_key(outlet.organization):
            alias_refs["ent:" + alias] += 1
            union(org, "ent:" + alias)
        for entity in owner_entities(outlet.owner):
            owner_refs["ent:" + entity] += 1
            union(org, "ent:" + entity)

    members = partition.groups()

    groups: dict[str, str] = {}
    used: set[str] = set()
    for root in sorted(members):
        nodes = members[root]
        entities = [n for n in nodes if n.startswith("ent:")]
        if entities:
            best = min(entities, key=lambda n: (-owner_refs[n], -alias_refs[n], len(n), n))
            slug = _slug(best[4:])
        else:
            slug = _slug(_fold(min(nodes)[4:])) or "org"
        while slug in used:  # only reachable for organizations without a usable name
            slug += "-x"
        used.add(slug)
        for node in nodes:
            if node.startswith("org:"):
                groups[node[4:]] = slug
    return groups


# ---------------------------------------------------------------- merge

# Lower rank wins. An operator's edit through the API beats every dataset.
_RATING_RANK = {"api": 0, "mbfc": 1, "kite": 2, "auto": 3}
_OWNERSHIP_RANK = {"api": 0, "kite": 1, "mbfc": 2, "auto": 3}


def _rank(source: Source, ranks: dict[str, int]) -> int:
    return min((ranks.get(origin, len(ranks)) for origin in source.origins), default=len(ranks))


def _combine(candidates: list[Source]) -> Source:
    by_rating = sorted(candidates, key=lambda s: _rank(s, _RATING_RANK))  # stable: ties keep arrival
    by_ownership = sorted(candidates, key=lambda s: _rank(s, _OWNERSHIP_RANK))
    lean_from = next((s for s in by_rating if s.lean is not Lean.unrated), by_rating[0])
    factuality_from = next((s for s in by_rating if s.factuality != "unrated"), by_rating[0])

    def first(attribute: str, order: list[Source]) -> Any:
        return next((value for s in order if (value := getattr(s, attribute)) is not None), None)

    return Source(
        domain=candidates[0].domain,
        name=first("name", by_ownership),
        country=first("country", by_rating),
        lean=lean_from.lean,
        flags=list(lean_from.flags),
        factuality=factuality_from.factuality,
        credibility=factuality_from.credibility,
        owner_group=first("owner_group", by_ownership),
        owner=first("owner", by_ownership),
        typology=first("typology", by_ownership),
        media_type=first("media_type", by_rating),
        origins=list(dict.fromkeys(origin for s in candidates for origin in s.origins)),
    )


def merge_sources(*streams: Iterable[Source], outlets: Iterable[Sequence[str]] = ()) -> dict[str, Source]:
    """Fold source streams into one ``Source`` per domain (in order of first appearance).

    Ratings (``lean`` with its ``flags``, ``factuality`` with its ``credibility``, ``country``,
    ``media_type``) come from the best-ranked origin that has them: api, then mbfc, then kite.
    Ownership (``name``, ``owner``, ``owner_group``, ``typology``) likewise from api, then kite,
    then mbfc. Within one rank the earliest rated value wins, so a domain MBFC lists twice keeps
    its first rating. ``origins`` is the union.

    ``outlets`` (from ``outlet_domains``) lists the domains that are one outlet: each of them then
    gets the ratings, name and ownership of the outlet's canonical domain (``canonical_domain``),
    under its own ``domain``, so a lookup by any of them finds the same rated source; a domain no
    stream knows (``guardian.co.uk``) is added. A domain an editor changed (origin ``api``) keeps
    its own values; the ``api`` origin is never copied to the other domains.
    """
    candidates: dict[str, list[Source]] = {}
    for stream in streams:
        for source in stream:
            candidates.setdefault(source.domain, []).append(source)
    merged = {domain: _combine(found) for domain, found in candidates.items()}
    for domains in outlets:
        canonical = canonical_domain(domains, merged)
        if canonical is None:
            continue
        outlet = merged[canonical]
        for domain in domains:
            own = merged.get(domain)
            if domain == canonical or (own is not None and "api" in own.origins):
                continue
            inherited = [o for o in outlet.origins if o != "api"]
            origins = list(dict.fromkeys([*(own.origins if own else []), *inherited]))
            merged[domain] = outlet.model_copy(update={"domain": domain, "origins": origins})
    return merged


# ---------------------------------------------------------------- one outlet, several domains

OUTLET_ALIASES: Mapping[str, str] = {
    "bbci.co.uk": "bbc.com",  # the BBC's feed and media host (feeds.bbci.co.uk, news.bbci.co.uk)
    "guardian.co.uk": "theguardian.com",  # the Guardian's domain until 2013; old links still use it
    "reuters.co.uk": "reuters.com",  # Reuters UK edition's former domain
    "libe.fr": "liberation.fr",  # Libération's short domains
    "libe.com": "liberation.fr",
    "frankfurterallgemeine.de": "faz.net",  # the Frankfurter Allgemeine Zeitung's long domain
}
"""Alias domain -> the outlet's canonical (MBFC-rated) domain, for what the datasets miss.

Kite lists most outlets' several domains (``bbc.co.uk``, ``bbc.com``; ``ap.org``, ``apnews.com``)
and ``outlet_domains`` finds those by name (``_same_brand``). This table holds the rest: domains
Kite does not list (``guardian.co.uk``, ``reuters.co.uk``), or lists under names the brand rule
cannot match (``bbci.co.uk``, ``libe.fr`` beside ``liberation.fr``). Add an entry only for a
domain the outlet itself publishes under.
"""

# Trailing words that name the same brand's site: reuters/reutersagency, ap/apnews, bfm/bfmtv,
# handelsblatt/handelsblattgroup, rbb-online/rbb24. Not "sports", "info" or "radio": cbsnews and
# cbssports, sky and skysports are separate titles with ratings of their own.
_BRAND_SUFFIXES = ("news", "nieuws", "agency", "media", "group", "gruppe", "online", "tv", "24")
_BRAND_SUFFIX = re.compile(rf"^(?P<stem>.+?)-?(?:{'|'.join(_BRAND_SUFFIXES)})$")


def _brand(domain: str) -> str:
    label = _EXTRACT(domain).domain or domain
    match = _BRAND_SUFFIX.match(label)
    return match.group("stem") if match else label


def _same_brand(a: str, b: str) -> bool:
    """Two domains of one Kite record name one outlet: the same name, whatever the suffix
    (``bbc.co.uk``, ``bbc.com``), or one name plus a brand word (``ap.org``, ``apnews.com``)."""
    return _brand(a) == _brand(b)


def outlet_domains(
    outlets: Sequence[KiteOutlet], aliases: Mapping[str, str] = OUTLET_ALIASES
) -> list[tuple[str, ...]]:
    """The sets of registrable domains that are one outlet (two or more each), for ``merge_sources``.

    From Kite's ``domains`` lists and the ``aliases`` table. A Kite record is sometimes a media
    group, not one outlet (``Groupe Le Monde`` lists ``lemonde.fr`` and ``nouvelobs.com``): the
    group is already one voice through ``owner_group``, but one title's ratings must not pass to
    another, so within a record only domains of the same brand (``_same_brand``) are one outlet.
    A domain Kite lists under two organizations belongs to the first, as in ``load_kite``.
    Each set is in Kite's order, then the aliases; deterministic for the same data.
    """
    partition = _Partition(first_seen_root=True)
    find, union = partition.find, partition.union

    seen: set[str] = set()
    for outlet in outlets:
        domains = [d for d in dict.fromkeys(map(registrable_domain, outlet.domains)) if d and d not in seen]
        seen.update(domains)
        for i, a in enumerate(domains):
            find(a)
            for b in domains[i + 1 :]:
                if _same_brand(a, b):
                    union(a, b)
    for alias, canonical in aliases.items():
        union(canonical, alias)

    return [tuple(group) for group in partition.groups().values() if len(group) > 1]


def canonical_domain(
    domains: Sequence[str], sources: Mapping[str, Source], aliases: Mapping[str, str] = OUTLET_ALIASES
) -> str | None:
    """The domain whose ratings an outlet's other domains take; None if ``sources`` knows none of them.

    The first one MBFC rates, then the first one an editor rated, then the first one known; a
    domain ``aliases`` names as canonical goes before the others of its kind.
    """
    canonicals = set(aliases.values())

    def key(position: int) -> tuple[int, int, int]:
        source = sources[domains[position]]
        rated = source.lean is not Lean.unrated or source.factuality != "unrated"
        strength = 0 if rated and "mbfc" in source.origins else 1 if rated else 2
        return strength, 0 if domains[position] in canonicals else 1, position

    known = [i for i, domain in enumerate(domains) if domain in sources]
    return domains[min(known, key=key)] if known else None


def load_registry(
    mbfc: Path | str = BUNDLED_MBFC, kite: Path | str = BUNDLED_KITE, edited: Iterable[Source] = ()
) -> dict[str, Source]:
    """The whole registry: MBFC ratings and Kite ownership merged, editors' changes on top, and every
    domain of an outlet rated as the outlet (``outlet_domains``). What ``tellwell sources import`` stores.
    """
    return merge_sources(load_mbfc(mbfc), load_kite(kite), edited, outlets=outlet_domains(read_kite(kite)))


def unrated_source(domain: str) -> Source:
    """The registry entry for a domain no dataset knows: neutral credibility, ``origins=["auto"]``.

    A URL or host is reduced to its registrable domain. A value without one (the ``name:<slug>``
    and ``unknown`` keys ingest gives articles from an unknown publisher) is kept as given, lower
    case, so every article still has an entry. Raises ValueError only for an empty value.
    """
    key = registrable_domain(domain) or domain.strip().lower()
    if not key:
        raise ValueError("empty source domain")
    return Source(domain=key, origins=["auto"])
