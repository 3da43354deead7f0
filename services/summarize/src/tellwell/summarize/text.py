"""Pure text handling: headline cleaning, boilerplate removal, sentence segmentation, tokens.

Nothing here does I/O; every function is deterministic. The rules are written for English news
copy as feeds and pages deliver it: wire datelines (``LONDON (Reuters) -``), bylines, newsletter
plugs, credit lines (``Reporting by ...``) and outlet suffixes in headlines (``... - Reuters``).
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

from tellwell.common.text import ENGLISH_STOPWORDS, PLURALS_AND_VERBS, suffix_stemmer, word_tokens

# Attribution and filler words on top of the English function words.
STOPWORDS = ENGLISH_STOPWORDS | frozenset(
    "says said say told tell according via amid s t ll re ve d m vs one two its it's".split()
)

# Words after which a full stop does not end a sentence (lower case, without the dot).
ABBREVIATIONS = frozenset(
    """
    mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep rev hon pres supt
    insp det jan feb mar apr jun jul aug sep sept oct nov dec inc corp co ltd plc llc bros no nos
    vol vs etc approx est dept univ ave blvd rd fig al e.g i.e a.m p.m u.s u.k u.n e.u u.s.a d.c
    ph.d n.y l.a
    """.split()
)

_WS = re.compile(r"\s+")
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))  # zero-width, soft hyphen
_ELLIPSIS_END = re.compile(r"\s*(\.\.\.|…)\s*$")
# "UPDATE 2-", "ANALYSIS-", "EXCLUSIVE:", "WATCH:", "BREAKING:" and similar desk labels.
_DESK_PREFIX = re.compile(
    r"^\s*(?:UPDATE\s*\d*|ANALYSIS|EXCLUSIVE|BREAKING(?:\s+NEWS)?|WATCH|VIDEO|PHOTOS?|LIVE|"
    r"OPINION|FACTBOX|EXPLAINER|REFILE|CORRECTED|INSTANT VIEW|RPT)\s*[-:\u2013\u2014|]\s*",
    re.IGNORECASE,
)
# " - Reuters", " | BBC News", " — The Guardian": the last segment after a spaced separator.
_SUFFIX_SPLIT = re.compile(r"\s+[-\u2013\u2014|:]\s+(?=(?:(?!\s[-\u2013\u2014|:]\s).)+$)")
_OUTLET_WORDS = re.compile(
    r"\b(news|times|post|journal|herald|tribune|reuters|bloomberg|guardian|telegraph|independent|"
    r"gazette|daily|weekly|magazine|tv|radio|online|press|wire|network|channel|cnn|bbc|abc|nbc|cbs|"
    r"fox|npr|ap|afp|dpa|examiner|observer|standard|mail|sun|mirror|star|express|globe|chronicle|"
    r"inquirer|review|today|insider|report|digest|register|wired|verge|techcrunch|forbes|cnbc)\b",
    re.IGNORECASE,
)
_DOMAIN_LIKE = re.compile(r"^[\w.-]+\.(com|org|net|co\.uk|co|io|tv|news|info|de|fr|uk|ca|au|in)$", re.I)

# Sentences that are page furniture, not reporting. Matched anywhere in the sentence.
_BOILERPLATE = re.compile(
    r"sign up (?:for|to) (?:our|the)\b|newsletter|subscribe (?:to|now|today)|\bsubscribers?\b.*\bonly\b|"
    r"^\s*(?:additional )?(?:reporting|writing|editing|compiled|research) by\b|\bediting by\b|"
    r"click here|read more\b|read the full|follow (?:us|him|her|them) on|all rights reserved|copyright|"
    r"^\s*\u00a9|"
    r"this (?:article|story) (?:was|has been|first) (?:originally )?(?:published|appeared|updated)|"
    r"^\s*(?:related|advertisement|share this|recommended|more from|see also|watch)\s*:?\s*$|"
    r"^\s*(?:related|see also|more)\s*:|cookies?\b.*\b(?:policy|consent|settings)|terms of (?:use|service)|"
    r"privacy policy|download (?:our|the) app|get the app|\bsponsored\b|\bpaywall\b|"
    r"(?:contact|email) (?:the )?(?:author|reporter|us)\b|image (?:caption|copyright|source)|"
    r"^\s*(?:photo|file photo|pictured)\s*:|getty images|\(ap photo|\bap photo/",
    re.IGNORECASE,
)
# A byline line: "By Jane Doe", "By Jane Doe and John Roe, Reuters", "Jane Doe | CNN".
_BYLINE = re.compile(
    r"^\s*(?:[Bb]y|[Ww]ritten by|[Ww]ords by)\s+[A-Z][\w.'\u2019-]*(?:\s+[A-Z][\w.'\u2019-]*){0,3}"
    r"(?:\s*(?:,|and|&)\s*[A-Z][\w.'\u2019-]*(?:\s+[A-Z][\w.'\u2019-]*){0,3})*"
    r"(?:\s*[,|\u2013\u2014-]\s*[\w.&'-]+(?: [\w.&'-]+){0,3})?\s*$"
)
# "LONDON (Reuters) - ", "WASHINGTON, March 3 (AP) — ", "PARIS — ": wire datelines at a text start.
_DATELINE = re.compile(
    r"^\s*[A-Z][A-Z .'\u2019-]{1,40}(?:,\s*[A-Z][\w .]{1,30})?\s*(?:\([\w .&]{1,30}\))?\s*[-\u2013\u2014]+\s+"
)
_AGENCY_DATELINE = re.compile(r"^\s*\(\s*(?:Reuters|AP|AFP|dpa|Bloomberg|UPI|CNN)\s*\)\s*[-\u2013\u2014]+\s+")

_CLICKBAIT = re.compile(
    r"you won'?t believe|won'?t believe|what happens next|here'?s (?:why|what|how)|this is (?:why|what|how)|"
    r"things you|need to know|mind[- ]?blowing|shocking|jaw[- ]?dropping|can'?t stop|\bomg\b|"
    r"will blow your|the reason why|find out|\bwatch\b|\bquiz\b|\bphotos\b|\bslideshow\b|must[- ]see|"
    r"^\s*\d+\s+(?:things|ways|reasons|facts|photos)\b|\bepic\b|\bviral\b",
    re.IGNORECASE,
)

_UPPER_WORD = re.compile(r"\b[A-Z]{4,}\b")


def normalize(text: str) -> str:
    """Unescape HTML entities (feeds double-escape), NFC-normalise and collapse white space."""
    text = html.unescape(html.unescape(text or "")).translate(_INVISIBLE)
    return _WS.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _looks_like_outlet(segment: str, source_name: str | None, source: str | None) -> bool:
    seg = segment.strip().strip(".").lower()
    if not seg:
        return False
    for name in (source_name, source):
        if name and (seg == name.lower() or seg in name.lower() or name.lower().split(".")[0] in seg):
            return True
    words = seg.split()
    if _DOMAIN_LIKE.match(seg):
        return True
    return len(words) <= 4 and bool(_OUTLET_WORDS.search(seg))


@lru_cache(maxsize=20_000)
def clean_headline(title: str, source_name: str | None = None, source: str | None = None) -> str:
    """A headline without the outlet suffix, desk labels, trailing ellipsis and stray quotes.

    >>> clean_headline("Quake hits Chile - Reuters")
    'Quake hits Chile'
    """
    text = _ELLIPSIS_END.sub("", normalize(title))
    text = _DESK_PREFIX.sub("", text)
    for _ in range(2):  # "Title - Section - Outlet"
        parts = _SUFFIX_SPLIT.split(text)
        if (
            len(parts) == 2
            and len(parts[0].split()) >= 3
            and _looks_like_outlet(parts[1], source_name, source)
        ):
            text = parts[0].strip()
        else:
            break
    return _ELLIPSIS_END.sub("", text).strip(" \t-\u2013\u2014|:")


def is_truncated(title: str) -> bool:
    """Feeds cut long headlines with an ellipsis: such a headline is an incomplete sentence."""
    return bool(_ELLIPSIS_END.search(title or ""))


def clickbait_score(headline: str) -> float:
    """How much a headline reads as bait rather than news: 0 is plain, higher is worse."""
    score = 0.0
    if headline.rstrip().endswith("?"):
        score += 1.0
    if "!" in headline:
        score += 0.5
    if _CLICKBAIT.search(headline):
        score += 1.0
    words = headline.split()
    shouting = len(_UPPER_WORD.findall(headline))
    if words and shouting / len(words) > 0.3:
        score += 1.0
    if len(words) < 4:
        score += 0.5
    return score


def is_boilerplate(sentence: str) -> bool:
    """Page furniture (newsletter plugs, credit lines, bylines, photo credits) rather than reporting."""
    return bool(_BOILERPLATE.search(sentence) or _BYLINE.match(sentence))


def strip_dateline(text: str) -> str:
    """Remove a wire dateline at the start of a paragraph: 'LONDON (Reuters) - '."""
    text = _AGENCY_DATELINE.sub("", text)
    m = _DATELINE.match(text)
    # Only an all-caps place (a dateline), never a sentence that starts with an acronym and a dash.
    if m and m.group(0).strip(" -\u2013\u2014").split("(")[0].split(",")[0].isupper():
        return text[m.end() :]
    return text


_CLOSERS = "\"'\u201d\u2019)]"
_OPENERS = "\"'\u201c\u2018(["


def _ends_sentence(text: str, i: int) -> bool:
    """Whether the terminal mark at ``text[i]`` ends a sentence (abbreviations, initials, decimals)."""
    ch = text[i]
    if ch in "!?":
        return True
    # The word before the dot, with inner dots ("U.S"): an abbreviation or an initial does not end.
    j = i
    while j > 0 and (text[j - 1].isalnum() or text[j - 1] == "."):
        j -= 1
    word = text[j:i].lower()
    if not word:
        return True
    if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return False
    if "." in word and all(len(p) <= 2 for p in word.split(".")):  # U.S, a.m, J.R
        return False
    return True


def split_sentences(text: str) -> list[str]:
    """Sentences of a text: paragraph breaks always split; '.', '!' and '?' split when followed by
    white space and a capital, a digit or an opening quote, unless they close an abbreviation,
    an initial or a decimal. Closing quotes stay with their sentence."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n|\n", text or ""):
        para = normalize(paragraph)
        if not para:
            continue
        start = 0
        i = 0
        n = len(para)
        while i < n:
            if para[i] in ".!?":
                k = i + 1
                while k < n and para[k] in ".!?":
                    k += 1
                while k < n and para[k] in _CLOSERS:
                    k += 1
                if k >= n:
                    break
                if para[k] == " " and k + 1 < n:
                    nxt = para[k + 1]
                    if (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS) and _ends_sentence(para, i):
                        out.append(para[start:k].strip())
                        start = k + 1
                i = k
            else:
                i += 1
        tail = para[start:].strip()
        if tail:
            out.append(tail)
    return [s for s in out if s]


#: Light English folding so that 'killed'/'kills'/'kill' and 'stocks'/'stock' meet.
stem = suffix_stemmer(PLURALS_AND_VERBS)


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-worded, lightly stemmed word tokens; numbers kept."""
    return list(_tokens(text))


@lru_cache(maxsize=50_000)  # one story reads each text several times (selection, sentences, category)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(word_tokens(text, STOPWORDS, stem))


def clear_caches() -> None:
    """Forget the tokens cached per text (benchmarks measure each story cold with it; the word-level
    stem cache stays, as it does in a running service once it has seen the day's vocabulary)."""
    _tokens.cache_clear()
    clean_headline.cache_clear()


def word_count(text: str) -> int:
    return len(text.split())
