"""Article identity: canonical URLs, stable ids, and MinHash content signatures.

* ``canonical_url`` drops what does not identify the page (tracking parameters, fragments,
  default ports, host case, duplicate and trailing slashes, http vs https), so the same article
  reached through a newsletter link and a feed link gets one id.
* ``article_id`` is derived from the canonical URL only: stable across replicas and restarts.
* ``minhash`` signs the text; near-identical texts (wire copies, reprints) share most of the
  signature. ``lsh_bands`` cuts it into bands so that candidates above a Jaccard similarity
  of about 0.8 are found by an indexed equality query (locality-sensitive hashing), then
  confirmed on the full signature.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid",
        "_ga", "_gl", "ocid", "cmpid", "cmp", "smid", "sr_share", "share", "ref", "ref_src", "ref_url",
        "rss", "feature", "spm", "taid", "ito", "guccounter", "guce_referrer", "guce_referrer_sig",
        "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_", "vero_", "__twitter")
DEFAULT_PORTS = {"http": 80, "https": 443}

MIN_FINGERPRINT_TOKENS = 40  # shorter texts (headlines, teasers) are too short to call copies
MINHASH_SIZE = 64
LSH_BANDS, LSH_ROWS = 16, 4  # P(candidate) at Jaccard 0.8 = 1 - (1 - 0.8**4)**16 > 0.9999; at 0.3 < 0.13
COPY_SIMILARITY = (
    0.7  # estimated Jaccard of word 3-shingles; a one-word edit plus a byline on a 60-word text scores ~0.8
)

# Fixed seed: signatures must agree across processes, replicas and releases.
_rng = np.random.default_rng(20260301)
_MUL = _rng.integers(1, 2**63, size=MINHASH_SIZE, dtype=np.uint64) | np.uint64(1)
_ADD = _rng.integers(0, 2**63, size=MINHASH_SIZE, dtype=np.uint64)
_SHIFT = np.uint64(32)

_WORD = re.compile(r"\w+", re.UNICODE)


# What a browser percent-encodes in a path (WHATWG's path percent-encode set: controls, space,
# '"', '<', '>', '`', '{', '}'): a URL is never stored with markup in it. Other characters,
# non-ASCII ones included, are kept as given, so the ids of ordinary URLs do not change.
_UNSAFE_PATH = re.compile(r"[\x00-\x20\"<>`{}\x7f]")
_UNSAFE_HOST = re.compile(r"[\x00-\x20\"'<>`{}|\\^%\x7f]")


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode())


class InvalidURL(ValueError):
    """The string is not an absolute http(s) URL."""


def canonical_url(url: str) -> str:
    """The URL that identifies the page: scheme and host lower-cased, tracking params dropped."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        raise InvalidURL(f"not an absolute http(s) URL: {url[:200]!r}")
    host = parts.hostname.lower().rstrip(".")
    if _UNSAFE_HOST.search(host):
        raise InvalidURL(f"not a host name in {url[:200]!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"bad port in {url[:200]!r}") from exc
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", _UNSAFE_PATH.sub(_percent, parts.path)) or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    return urlunsplit(("https" if scheme == "https" else "http", netloc, path, urlencode(sorted(query)), ""))


def url_key(url: str) -> str:
    """Scheme-insensitive key: ``http://`` and ``https://`` of one page are one article."""
    return canonical_url(url).split("://", 1)[1]


def article_id(url: str) -> str:
    """A stable 24-hex-digit id from the canonical URL."""
    return hashlib.sha256(url_key(url).encode()).hexdigest()[:24]


def normalise_text(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _WORD.findall(folded)


def _hash64(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")


def content_fingerprint(text: str) -> str:
    """16 hex digits, equal for texts that are identical after normalisation."""
    return hashlib.blake2b(" ".join(normalise_text(text)).encode(), digest_size=8).hexdigest()


def minhash(text: str) -> np.ndarray | None:
    """MinHash signature (64 x uint32) of the word 3-shingles, or None for too short a text."""
    words = normalise_text(text)
    if len(words) < MIN_FINGERPRINT_TOKENS:
        return None
    shingles = {" ".join(words[i : i + 3]) for i in range(len(words) - 2)}
    hashes = np.fromiter((_hash64(s) for s in shingles), dtype=np.uint64, count=len(shingles))
    with np.errstate(over="ignore"):  # multiply-shift hashing wraps modulo 2**64 by design
        permuted = (hashes[:, None] * _MUL[None, :] + _ADD[None, :]) >> _SHIFT
    signature: np.ndarray = permuted.min(axis=0).astype(np.uint32)
    return signature


def lsh_bands(signature: np.ndarray) -> list[str]:
    """Band keys for an indexed candidate lookup: texts sharing any band are compared."""
    return [f"{i}:{signature[i * LSH_ROWS : (i + 1) * LSH_ROWS].tobytes().hex()}" for i in range(LSH_BANDS)]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


def signature_bytes(signature: np.ndarray) -> bytes:
    return signature.astype("<u4").tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)
