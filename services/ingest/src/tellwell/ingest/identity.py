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
import ipaddress
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


_RADIX_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}
_TOO_BIG = 1 << 48  # any number past 32 bits: no IPv4 address


def _percent(match: re.Match[str]) -> str:
    return "".join(f"%{b:02X}" for b in match.group().encode())


class InvalidURL(ValueError):
    """The string is not an absolute http(s) URL."""


def canonical_url(url: str) -> str:
    """The URL that identifies the page: scheme and host lower-cased, tracking params dropped.

    Raises ``InvalidURL`` (a ``ValueError``) for anything that is not an absolute http(s) URL with
    a usable host and port. IP hosts are written one way, as a browser does: IPv6 in brackets,
    lower-case and compressed (``http://[2001:db8::1]:8080/``); IPv4 as a dotted quad, whatever form
    was given (``0x7f000001``, ``0177.1`` and ``2130706433`` are all ``127.0.0.1``). User info
    (``user:pass@``) is dropped.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # an unbalanced or invalid "[...]" host, or a netloc that NFKC would change
        what = "IPv6 host" if "[" in url or "]" in url else "URL"
        raise InvalidURL(f"not a valid {what} in {url[:200]!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        raise InvalidURL(f"not an absolute http(s) URL: {url[:200]!r}")
    host, port = _host_and_port(parts.netloc, url)
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


def _host_and_port(netloc: str, url: str) -> tuple[str, int | None]:
    """The canonical host (IPv6 literals in brackets) and the port of a netloc; ``InvalidURL`` if unusable."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        literal, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise InvalidURL(f"not a valid IPv6 host in {url[:200]!r}")
        host = f"[{_ipv6(literal, url)}]"
        port_text = rest[1:] if rest else ""
    else:
        name, _, port_text = hostport.partition(":")
        if "[" in name or "]" in name:
            raise InvalidURL(f"not a valid host in {url[:200]!r}")
        host = name.lower().rstrip(".")
        if not host:
            raise InvalidURL(f"not an absolute http(s) URL: {url[:200]!r} has no host")
        if _UNSAFE_HOST.search(host):
            raise InvalidURL(f"not a host name in {url[:200]!r}")
        if _ends_in_number(host):
            address = ipv4_host(host)
            if address is None:
                raise InvalidURL(f"not a valid IPv4 address in {url[:200]!r}")
            host = str(address)
    return host, _port(port_text, url)


def _ipv6(literal: str, url: str) -> str:
    if "%" in literal:  # a zone ("%25eth0") names an interface of the sender's own machine
        raise InvalidURL(f"an IPv6 zone is not allowed in {url[:200]!r}")
    try:
        return ipaddress.IPv6Address(literal).compressed
    except ValueError:
        raise InvalidURL(f"not a valid IPv6 address in {url[:200]!r}") from None


def _port(text: str, url: str) -> int | None:
    if not text:
        return None  # "host:" is the default port (RFC 3986 §3.2.3)
    if not (text.isascii() and text.isdigit() and len(text.lstrip("0")) <= 5) or not 0 < int(text) <= 65535:
        raise InvalidURL(f"bad port {text[:20]!r} in {url[:200]!r}: a port is a number from 1 to 65535")
    return int(text)


def _ends_in_number(host: str) -> bool:
    last = host.rsplit(".", 1)[-1]
    return (last.isascii() and last.isdigit()) or _ipv4_number(last) is not None


def ipv4_host(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host spells in any form browsers and ``inet_aton`` accept, else None.

    WHATWG's IPv4 parser: one to four dot-separated numbers, each decimal, octal (leading 0) or
    hex (0x); the last fills the remaining bytes. ``127.1``, ``0x7f.0.0.1``, ``017700000001`` and
    ``2130706433`` are all 127.0.0.1.
    """
    labels = host.rstrip(".").split(".") if host else []
    if not 1 <= len(labels) <= 4:
        return None
    numbers = [_ipv4_number(label) for label in labels]
    if any(n is None for n in numbers):
        return None
    *leading, last = [n for n in numbers if n is not None]
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(labels)):
        return None
    value = last
    for i, n in enumerate(leading):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_number(label: str) -> int | None:
    if not label.isascii():
        return None
    base, digits = 10, label
    if label[:2] in ("0x", "0X"):
        base, digits = 16, label[2:]
        if not digits:
            return 0
    elif len(label) > 1 and label.startswith("0"):
        base, digits = 8, label[1:]
    if not digits or any(ch not in _RADIX_DIGITS[base] for ch in digits):
        return None
    if len(digits.lstrip("0")) > 12:  # out of range anyway; int() of thousands of digits is refused
        return _TOO_BIG
    return int(digits, base)


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
