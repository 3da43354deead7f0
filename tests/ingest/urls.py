"""Hypothesis strategies for hostile URLs: every host form a client, urllib or getaddrinfo accepts.

Used by the ``canonical_url`` property tests and, through ``tests/ingest/schemathesis_hooks.py``,
by the schemathesis run of ingest's API (``tests/e2e/test_api_fuzz.py``).
"""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

_LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?\Z")
_TLDS = st.sampled_from(["com", "co.uk", "org", "de", "example", "invalid", "local", "internal", "xn--p1ai"])


def _cased(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, text.upper(), text.title()])


def domains() -> st.SearchStrategy[str]:
    """ASCII names, any case, sometimes with a trailing dot or an empty label."""
    names = st.builds(
        lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABEL, min_size=1, max_size=3), _TLDS
    )
    return st.tuples(names.flatmap(_cased), st.sampled_from(["", "", ".", ".."])).map("".join)


def idn_domains() -> st.SearchStrategy[str]:
    """International names: letters of any script and case (ß, İ, Kelvin sign, fullwidth forms...)."""
    letters = st.characters(categories=["Ll", "Lu", "Lo", "Nd"], max_codepoint=0xFFFF)
    label = st.text(letters, min_size=1, max_size=12)
    specials = st.sampled_from(
        ["münchen", "straße", "İstanbul", "\u212aelvin", "ｅｘａｍｐｌｅ", "пример", "例え"]
    )
    return st.builds(
        lambda first, rest, tld: ".".join([first, *rest, tld]),
        st.one_of(specials, label),
        st.lists(label, max_size=2),
        st.sampled_from(["com", "рф", "de", "jp", "ＣＯＭ"]),
    )


def _ipv4_number(value: int) -> st.SearchStrategy[str]:
    return st.sampled_from(
        [str(value), hex(value), hex(value).upper().replace("X", "x"), "0" + oct(value)[2:]]
    )


def ipv4_hosts() -> st.SearchStrategy[str]:
    """Dotted quads and the forms inet_aton also reads: hex, octal, one integer, 127.1 (some out of range)."""
    dotted = st.ip_addresses(v=4).map(str)
    integer = st.integers(0, 2**32 + 5).flatmap(_ipv4_number)
    parts = st.lists(st.integers(0, 300).flatmap(_ipv4_number), min_size=1, max_size=5).map(".".join)
    short = st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 255), st.integers(0, 2**24 + 5))
    special = st.sampled_from(
        ["127.0.0.1", "0", "0.0.0.0", "127.1", "0x7f000001", "017700000001", "2130706433", "10.0.0.1",
         "169.254.169.254", "192.168.0.1.", "1.2.3.4.5", "256.0.0.1", "08.0.0.1", "0x", "1..2", "example.123"]
    )  # fmt: skip
    return st.one_of(dotted, integer, parts, short, special)


def _ipv6_text(address: ipaddress.IPv6Address) -> st.SearchStrategy[str]:
    forms = [address.compressed, address.exploded, address.exploded.upper()]
    if address.ipv4_mapped is not None:
        forms.append(f"::ffff:{address.ipv4_mapped}")
    return st.sampled_from(forms)


def ipv6_hosts() -> st.SearchStrategy[str]:
    """Bracketed IPv6 literals in every spelling, plus broken ones (zones, no bracket, junk)."""
    addresses = st.one_of(
        st.ip_addresses(v=6),
        st.ip_addresses(v=4).map(lambda ip: ipaddress.IPv6Address(f"::ffff:{ip}")),
        st.sampled_from(
            [ipaddress.IPv6Address(a) for a in ("::1", "::", "fe80::1", "fc00::1", "2001:db8::1")]
        ),
    )
    literal = addresses.flatmap(_ipv6_text)  # type: ignore[arg-type]
    good = literal.map(lambda text: f"[{text}]")
    broken = st.one_of(
        literal.map(lambda text: f"[{text}"),
        literal.map(lambda text: f"{text}]"),
        literal,  # unbracketed: its colons read as a port
        literal.map(lambda text: f"[{text}%25eth0]"),
        literal.map(lambda text: f"[{text}]x"),
        st.sampled_from(["[zz::1]", "[v1.x]", "[]", "[::1::2]", "[1:2:3:4:5:6:7:8:9]", "x[::1]"]),
    )
    return st.one_of(good, good, broken)


def odd_hosts() -> st.SearchStrategy[str]:
    """Whatever else may sit between // and the path."""
    return st.one_of(
        st.text(max_size=20),
        st.sampled_from(
            ["", ".", "..", "-", "localhost", "LOCALHOST.", "a_b.com", "a b.com", "a%2eb.com", "@"]
        ),
    )


def hosts() -> st.SearchStrategy[str]:
    return st.one_of(domains(), idn_domains(), ipv4_hosts(), ipv6_hosts(), odd_hosts())


def ports() -> st.SearchStrategy[str]:
    """The text after the host: none, empty, in and out of range, signed, spaced, non-ASCII digits."""
    number = st.integers(-5, 70_000).map(str)
    return st.one_of(
        st.just(""),
        st.sampled_from(
            [":", ":80", ":443", ":0", ":65535", ":65536", ":+80", ": 80", ":0x50", ":٨٠", ":8080:80"]
        ),
        number.map(lambda n: ":" + n),
        st.text("0123456789", min_size=1, max_size=7).map(lambda n: ":" + n),
    )


def urls() -> st.SearchStrategy[str]:
    """Absolute URLs (and near misses) with hostile hosts and ports."""
    scheme = st.sampled_from(["http", "https", "HTTP", "hTtPs", "ftp", ""])
    userinfo = st.sampled_from(["", "", "user@", "user:pass@", "a@b@"])
    path = st.one_of(st.just(""), st.just("/"), st.text(max_size=20).map(lambda p: "/" + p))
    query = st.one_of(st.just(""), st.sampled_from(["?utm_source=x&b=1", "?a=%zz", "?"]))
    return st.builds(
        lambda s, u, h, p, pa, q: f"{s}://{u}{h}{p}{pa}{q}", scheme, userinfo, hosts(), ports(), path, query
    )
