"""Safe HTTP fetching for ingest: SSRF guard, size and time caps, conditional GET, robots.txt, politeness.

Everything fetched here is untrusted (DESIGN §4). `SafeFetcher.fetch` refuses non-public addresses
unless allow-listed, follows redirects itself so every hop is checked, streams bodies against a byte
cap (after decompression), bounds each exchange in time, honours robots.txt and spaces out requests
to one host. Failures are `FetchError`s whose `kind` says what went wrong; the poller turns them into
a per-feed error status.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, Self
from urllib.robotparser import RobotFileParser

import httpcore
import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

FetchErrorKind = Literal[
    "blocked_address",
    "too_large",
    "too_many_redirects",
    "redirect_loop",
    "timeout",
    "connection",
    "bad_content_type",
    "http_error",
    "robots_disallowed",
    "bad_url",
]
Accept = Literal["feed", "html", "any"]
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""`async (host, port) -> addresses`; the default asks the event loop's getaddrinfo."""

ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 §2.5: parse at least the first 500 KiB, ignore the rest
ROBOTS_TTL_S = 3600.0
MAX_TRACKED_HOSTS = 4096  # past this many hosts, forget idle politeness gates and expired robots.txt
ROBOTS_UNREACHABLE_TTL_S = 300.0  # a 5xx/unreachable robots.txt blocks the host only briefly, then we retry

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ACCEPT_HEADERS: dict[str, str] = {
    "feed": (
        "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
        "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
    ),
    "html": "text/html, application/xhtml+xml;q=0.9, */*;q=0.1",
    "any": "*/*",
}
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_FEED_TYPES = frozenset({"application/xml", "text/xml", "text/plain"})
# Served for feeds often enough that we look at the body instead of refusing outright.
_SNIFF_FEED_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/octet-stream"})
_FEED_PREFIXES = (b"<?xml", b"<rss", b"<feed", b"<rdf")
_HTML_PREFIXES = (b"<!doctype html", b"<html")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class FetchPolicy(BaseModel):
    """Limits and manners of one `SafeFetcher`.

    `allow_hosts` lists host names or IP literals that may be fetched even though they are (or
    resolve to) private/loopback addresses: intranet feeds, and the loopback servers of tests. A
    resolved address is also accepted when it is itself listed.

    `timeout_s` bounds one HTTP exchange (connect, headers and the whole body of one redirect hop);
    time spent waiting for the per-host politeness slot is not counted.
    """

    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    timeout_s: float = Field(default=15.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    user_agent: str = "TellWellBot/0.1 (+https://tellwell.example/bot)"
    allow_hosts: frozenset[str] = frozenset()
    per_host_concurrency: int = Field(default=2, ge=1)
    per_host_min_interval_s: float = Field(default=1.0, ge=0)
    respect_robots: bool = True

    @field_validator("allow_hosts")
    @classmethod
    def _normalise_hosts(cls, hosts: frozenset[str]) -> frozenset[str]:
        return frozenset(_normalise_host(host) for host in hosts)


class FetchError(Exception):
    """A fetch that did not produce a usable response; `kind` is stable, `message` is for humans.

    `status` is set for HTTP errors; `retry_after_s` for 429/503 responses carrying Retry-After.
    """

    def __init__(
        self,
        kind: FetchErrorKind,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: FetchErrorKind = kind
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A successful (2xx) or not-modified (304) response.

    `url` is the final URL after redirects, `headers` has lower-case names, `body` is decoded from
    any Content-Encoding and empty when `not_modified`. `encoding` is the Content-Type charset, if any.
    """

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    not_modified: bool
    etag: str | None
    last_modified: str | None
    encoding: str | None
    content_type: str | None


class SafeFetcher:
    """Fetches untrusted URLs for ingest; one instance is shared by all feeds of a process.

    Example:
        async with SafeFetcher(FetchPolicy(max_bytes=2 * 1024 * 1024)) as fetcher:
            try:
                result = await fetcher.fetch(feed.url, etag=feed.etag, accept="feed")
            except FetchError as exc:
                ...  # exc.kind, exc.status, exc.retry_after_s
            if not result.not_modified:
                parsed = parse_feed(result.body, result.url)

    `resolver` replaces DNS resolution (tests); every TCP connect re-resolves and re-checks the host
    and connects to the checked address, so a DNS answer that changes between the check and the
    connect (rebinding) cannot reach a private address.
    """

    def __init__(self, policy: FetchPolicy | None = None, *, resolver: Resolver | None = None) -> None:
        self.policy = policy or FetchPolicy()
        self._guard = _AddressGuard(self.policy.allow_hosts, resolver or _getaddrinfo)
        self._client = httpx.AsyncClient(
            transport=_GuardedTransport(self._guard),
            follow_redirects=False,
            timeout=httpx.Timeout(self.policy.timeout_s, connect=self.policy.connect_timeout_s),
            headers={"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"},
            trust_env=False,  # no env proxies or .netrc: a proxy would connect on our behalf, unchecked
        )
        self._gates: dict[str, _HostGate] = {}
        self._robots: dict[str, _RobotsRules] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: Accept = "any",
    ) -> FetchResult:
        """GET `url` safely; raise `FetchError` unless the answer is 2xx (or 304 to a conditional GET).

        `accept="feed"` takes XML-ish and text/plain types; text/html, application/xhtml+xml,
        application/octet-stream or no Content-Type are accepted only when the body starts (after
        whitespace/BOM) with `<?xml`, `<rss`, `<feed` or `<rdf`, because many real feeds are served
        with a wrong type. `accept="html"` takes text/html and application/xhtml+xml, or an untyped
        body that starts like HTML. `accept="any"` takes everything.
        """
        headers = {"Accept": _ACCEPT_HEADERS[accept]}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        return await self._follow(
            parse_url(url),
            headers,
            accept=accept,
            max_bytes=self.policy.max_bytes,
            truncate=False,
            check_robots=self.policy.respect_robots,
        )

    async def _follow(
        self,
        url: httpx.URL,
        headers: dict[str, str],
        *,
        accept: Accept,
        max_bytes: int,
        truncate: bool,
        check_robots: bool,
    ) -> FetchResult:
        seen = {str(url)}
        redirects = 0
        while True:
            await self._check_address(url)
            if check_robots:
                await self._check_robots(url)
            outcome = await self._exchange(
                url, headers, accept=accept, max_bytes=max_bytes, truncate=truncate
            )
            if isinstance(outcome, FetchResult):
                return outcome
            if str(outcome) in seen:
                raise FetchError("redirect_loop", f"{url} redirects back to {outcome}")
            redirects += 1
            if redirects > self.policy.max_redirects:
                raise FetchError("too_many_redirects", f"more than {self.policy.max_redirects} redirects")
            seen.add(str(outcome))
            url = outcome

    async def _check_address(self, url: httpx.URL) -> None:
        try:
            async with asyncio.timeout(self.policy.connect_timeout_s):
                await self._guard.resolve(url.host, _port(url))
        except TimeoutError:
            raise FetchError("timeout", f"resolving {url.host} timed out") from None

    async def _exchange(
        self, url: httpx.URL, headers: dict[str, str], *, accept: Accept, max_bytes: int, truncate: bool
    ) -> FetchResult | httpx.URL:
        """One request/response; returns the result, or the next URL for a redirect."""
        async with self._gate(url.host).slot():
            try:
                async with asyncio.timeout(self.policy.timeout_s):
                    async with self._client.stream("GET", url, headers=headers) as response:
                        return await _handle_response(
                            url, response, accept=accept, max_bytes=max_bytes, truncate=truncate
                        )
            except (TimeoutError, httpx.TimeoutException):
                raise FetchError("timeout", f"{url} took longer than {self.policy.timeout_s}s") from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise FetchError("bad_url", f"{url}: {exc}") from None
            except httpx.HTTPError as exc:
                raise FetchError("connection", f"{url}: {type(exc).__name__}: {exc}") from None

    def _gate(self, host: str) -> _HostGate:
        gate = self._gates.get(host)
        if gate is None:
            if len(self._gates) >= MAX_TRACKED_HOSTS:
                now = asyncio.get_running_loop().time()
                for idle in [name for name, known in self._gates.items() if known.idle(now)]:
                    del self._gates[idle]
            gate = _HostGate(self.policy.per_host_concurrency, self.policy.per_host_min_interval_s)
            self._gates[host] = gate
        return gate

    async def _check_robots(self, url: httpx.URL) -> None:
        origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
        rules = await self._robots_for(origin)
        if not rules.allows(str(url), self.policy.user_agent):
            raise FetchError(
                "robots_disallowed",
                f"{origin}/robots.txt {rules.reason or 'disallows'} {url}",
                status=rules.status,
                retry_after_s=rules.retry_after_s,
            )

    async def _robots_for(self, origin: str) -> _RobotsRules:
        if len(self._robots) >= MAX_TRACKED_HOSTS:
            self._forget_expired_robots()
        lock = self._robots_locks.setdefault(origin, asyncio.Lock())
        async with lock:  # concurrent fetches to a new origin share one robots.txt request
            cached = self._robots.get(origin)
            if cached is not None and cached.expires_at > time.monotonic():
                return cached
            rules = await self._load_robots(origin)
            self._robots[origin] = rules
            return rules

    def _forget_expired_robots(self) -> None:
        now = time.monotonic()
        for origin in [origin for origin, rules in self._robots.items() if rules.expires_at <= now]:
            del self._robots[origin]
            lock = self._robots_locks.get(origin)
            if lock is not None and not lock.locked():
                del self._robots_locks[origin]

    async def _load_robots(self, origin: str) -> _RobotsRules:
        """Fetch and interpret robots.txt, following RFC 9309 §2.3.1 with one stricter choice.

        * 2xx: parse (only the first 512 KiB, §2.5).
        * 401/403: disallow everything. §2.3.1.3 would let a crawler proceed on any 4xx, but an
          authorisation wall in front of robots.txt is the site telling bots "not you"; the
          robotstxt.org convention and `urllib.robotparser.read()` read it that way, and it is the
          polite reading.
        * Other 4xx (404 included), more redirects than we follow, or a redirect to an address we
          refuse: "unavailable" (§2.3.1.3, §2.3.1.2), so everything is allowed.
        * 5xx and 429: "unreachable" (§2.3.1.4), where the crawler MUST assume complete disallow.
          Cached for `ROBOTS_UNREACHABLE_TTL_S` only; the error carries the status and Retry-After.
        * Timeouts and connection errors are raised as such (not cached): the host itself is down,
          and saying "robots_disallowed" would hide that.
        """
        now = time.monotonic()
        try:
            result = await self._follow(
                parse_url(f"{origin}/robots.txt"),
                {"Accept": "text/plain, */*;q=0.1"},
                accept="any",
                max_bytes=ROBOTS_MAX_BYTES,
                truncate=True,
                check_robots=False,
            )
        except FetchError as exc:
            if exc.kind in ("timeout", "connection"):
                raise FetchError(exc.kind, f"robots.txt: {exc.message}") from None
            if exc.kind == "http_error" and exc.status in (401, 403):
                return _RobotsRules(
                    expires_at=now + ROBOTS_TTL_S,
                    allow_all=False,
                    reason=f"answered {exc.status}, which disallows",
                    status=exc.status,
                )
            if (
                exc.kind == "http_error"
                and exc.status is not None
                and (exc.status >= 500 or exc.status == 429)
            ):
                return _RobotsRules(
                    expires_at=now + ROBOTS_UNREACHABLE_TTL_S,
                    allow_all=False,
                    reason=f"is unreachable (HTTP {exc.status}), which disallows",
                    status=exc.status,
                    retry_after_s=exc.retry_after_s,
                )
            return _RobotsRules(expires_at=now + ROBOTS_TTL_S, allow_all=True)
        parser = RobotFileParser()
        parser.parse(result.body.decode("utf-8", errors="replace").splitlines())
        return _RobotsRules(expires_at=now + ROBOTS_TTL_S, parser=parser)


@dataclass(frozen=True, slots=True)
class _RobotsRules:
    expires_at: float
    parser: RobotFileParser | None = None
    allow_all: bool = True
    reason: str | None = None
    status: int | None = None
    retry_after_s: float | None = None

    def allows(self, url: str, user_agent: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return self.parser.can_fetch(user_agent, url)


class _HostGate:
    """At most `concurrency` requests in flight to one host, starts at least `interval` seconds apart."""

    def __init__(self, concurrency: int, interval: float) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._spacing = asyncio.Lock()
        self._interval = interval
        self._next_start = 0.0
        self._users = 0  # holding or waiting for a slot

    def idle(self, now: float) -> bool:
        return self._users == 0 and self._next_start <= now

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self._users += 1
        try:
            async with self._slots:
                async with self._spacing:
                    loop = asyncio.get_running_loop()
                    delay = self._next_start - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    self._next_start = loop.time() + self._interval
                yield
        finally:
            self._users -= 1


class _AddressGuard:
    def __init__(self, allow_hosts: frozenset[str], resolver: Resolver) -> None:
        self._allow = allow_hosts
        self._resolver = resolver

    async def resolve(self, host: str, port: int) -> list[str]:
        """Addresses to connect to for `host`; raise `blocked_address` if any of them is not public."""
        name = _normalise_host(host)
        if name in self._allow:
            return [host]
        literal = True
        try:
            ipaddress.ip_address(name)
            addresses = [name]
        except ValueError:
            literal = False
            try:
                addresses = await self._resolver(name, port)
            except (OSError, UnicodeError) as exc:  # UnicodeError: a label IDNA cannot encode
                raise FetchError("connection", f"cannot resolve {name}: {exc}") from None
        if not addresses:
            raise FetchError("connection", f"{name} has no addresses")
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if _normalise_host(str(ip)) not in self._allow and is_forbidden_address(ip):
                what = f"{name} is" if literal else f"{name} resolves to {ip},"
                raise FetchError(
                    "blocked_address", f"{what} {address_kind(ip)}: only public addresses are fetched"
                )
        return addresses


async def check_host(
    url: str,
    *,
    allow_hosts: Iterable[str] = (),
    resolver: Resolver | None = None,
    timeout_s: float = 2.0,
) -> list[str]:
    """The fetcher's address check, once, without fetching: the addresses ``url``'s host stands for.

    Raises ``FetchError``: ``bad_url`` when the URL cannot be fetched at all, ``blocked_address``
    when the host is, or resolves to, a non-public address not in ``allow_hosts`` (as `FetchPolicy`),
    ``connection`` when it does not resolve and ``timeout`` when resolving takes over ``timeout_s``.
    Resolving runs on the event loop's executor (getaddrinfo blocks), never on the loop itself.
    """
    parsed = parse_url(url)
    guard = _AddressGuard(frozenset(_normalise_host(h) for h in allow_hosts), resolver or _getaddrinfo)
    try:
        async with asyncio.timeout(timeout_s):
            return await guard.resolve(parsed.host, _port(parsed))
    except TimeoutError:
        raise FetchError("timeout", f"resolving {parsed.host} took over {timeout_s}s") from None


def address_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """What kind of non-public address ``ip`` is, for messages: ``a loopback address`` and so on."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return address_kind(ip.ipv4_mapped)
    for kind, flag in (
        ("an unspecified", ip.is_unspecified),
        ("a loopback", ip.is_loopback),
        ("a link-local", ip.is_link_local),
        ("a multicast", ip.is_multicast),
        ("a private", ip.is_private),
        ("a reserved", ip.is_reserved),
    ):
        if flag:
            return f"{kind} address"
    return "a public address" if ip.is_global else "a special-purpose address"


def is_forbidden_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for addresses a fetch must not reach: anything that is not globally routable unicast."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return is_forbidden_address(ip.ipv4_mapped)
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global  # also shared (100.64/10), documentation and benchmarking ranges
    )


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host at connect time, then connects to the checked address itself."""

    def __init__(self, guard: _AddressGuard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last_error: Exception | None = None
        for address in await self._guard.resolve(host, port):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 -- httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, guard: _AddressGuard) -> None:
        ssl_context = httpx.create_ssl_context()  # loading the CA bundle costs ~30 ms: once
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx has no public option for the network backend, so swap the pool it built for an
        # equivalent one (httpx's default limits) whose every TCP connect goes through the guard.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(guard),
        )


async def _handle_response(
    url: httpx.URL, response: httpx.Response, *, accept: Accept, max_bytes: int, truncate: bool
) -> FetchResult | httpx.URL:
    status = response.status_code
    if status in _REDIRECT_STATUSES:
        location = response.headers.get("location")
        if not location:
            raise FetchError("http_error", f"{url} answered {status} without Location", status=status)
        try:
            target = url.join(location.strip())
        except httpx.InvalidURL as exc:
            raise FetchError("bad_url", f"{url} redirects to an invalid URL: {exc}") from None
        return _check_scheme(target.copy_with(fragment=None))
    headers = {name.lower(): value for name, value in response.headers.items()}
    if status == 304:
        return _result(url, response, headers, b"", not_modified=True)
    if status in (429, 503):
        retry_after = _parse_retry_after(response.headers.get("retry-after"))
        raise FetchError("http_error", f"{url} answered {status}", status=status, retry_after_s=retry_after)
    if not 200 <= status < 300:
        raise FetchError("http_error", f"{url} answered {status}", status=status)

    mime, _ = _parse_content_type(response.headers.get("content-type"))
    verdict = _content_verdict(accept, mime)
    if verdict == "reject":
        raise FetchError("bad_content_type", f"{url} is {mime or 'untyped'}, not acceptable as {accept}")
    declared = response.headers.get("content-length", "").strip()
    if not truncate and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError("too_large", f"{url} declares {declared} bytes, the cap is {max_bytes}")
    body = await _read_body(url, response, max_bytes, truncate=truncate)
    if verdict == "sniff" and not _looks_like(accept, body):
        raise FetchError(
            "bad_content_type", f"{url} is {mime or 'untyped'} and does not look like a {accept}"
        )
    return _result(url, response, headers, body, not_modified=False)


def _result(
    url: httpx.URL, response: httpx.Response, headers: dict[str, str], body: bytes, *, not_modified: bool
) -> FetchResult:
    mime, charset = _parse_content_type(response.headers.get("content-type"))
    return FetchResult(
        url=str(url),
        status=response.status_code,
        headers=headers,
        body=body,
        not_modified=not_modified,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        encoding=charset,
        content_type=mime,
    )


async def _read_body(url: httpx.URL, response: httpx.Response, limit: int, *, truncate: bool) -> bytes:
    """Read at most `limit` decoded bytes; past it raise `too_large` (or cut, when `truncate`)."""
    inflater = _Inflater.for_encoding(response.headers.get("content-encoding"))
    body = bytearray()
    async for chunk in response.aiter_raw():
        if inflater is None:
            body += chunk
        else:
            # one byte past the cap is enough to know it is too large: never inflate a bomb further
            body += inflater.inflate(url, chunk, limit - len(body) + 1)
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            raise FetchError("too_large", f"{url} body exceeds {limit} bytes")
    if inflater is not None:
        body += inflater.finish(url)
        if len(body) > limit:
            if truncate:
                return bytes(body[:limit])
            raise FetchError("too_large", f"{url} body exceeds {limit} bytes")
    return bytes(body)


class _Inflater:
    """Bounded gzip/deflate decoding: output is produced at most `room` bytes at a time."""

    def __init__(self, raw_deflate_fallback: bool) -> None:
        self._decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
        self._fallback = raw_deflate_fallback
        self._started = False

    @classmethod
    def for_encoding(cls, header: str | None) -> _Inflater | None:
        encoding = (header or "").strip().lower()
        if encoding in ("", "identity"):
            return None
        if encoding in ("gzip", "x-gzip"):
            return cls(raw_deflate_fallback=False)
        if encoding == "deflate":  # some servers send raw deflate without the zlib header
            return cls(raw_deflate_fallback=True)
        raise FetchError("bad_content_type", f"unsupported Content-Encoding {header!r}")

    def inflate(self, url: httpx.URL, data: bytes, room: int) -> bytes:
        out = bytearray()
        pending = data
        while pending and len(out) < room:
            try:
                piece = self._decoder.decompress(pending, room - len(out))
            except zlib.error as exc:
                if self._fallback and not self._started:
                    self._fallback = False
                    self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise FetchError("connection", f"{url} sent a corrupt compressed body: {exc}") from None
            self._started = True
            out += piece
            pending = self._decoder.unconsumed_tail
            if self._decoder.eof:
                break
        return bytes(out)

    def finish(self, url: httpx.URL) -> bytes:
        # inflate() stops early only when over the cap (already an error), so all input is consumed
        # here and flush() returns just the few bytes zlib still buffers
        try:
            return self._decoder.flush()
        except zlib.error as exc:
            raise FetchError("connection", f"{url} sent a corrupt compressed body: {exc}") from None


def _content_verdict(accept: Accept, mime: str | None) -> Literal["ok", "sniff", "reject"]:
    if accept == "any":
        return "ok"
    if accept == "html":
        if mime in _HTML_TYPES:
            return "ok"
        return "sniff" if mime in (None, "application/octet-stream") else "reject"
    if mime is None or mime in _SNIFF_FEED_TYPES:
        return "sniff"
    if mime in _FEED_TYPES or mime.endswith("+xml"):
        return "ok"
    return "reject"


def _looks_like(accept: Accept, body: bytes) -> bool:
    head = body[:1024]
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    head = head.lstrip().lower()
    if accept == "feed":
        return head.startswith(_FEED_PREFIXES)
    return head.startswith(_HTML_PREFIXES) or b"<html" in head


def _parse_content_type(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    mime, *params = value.split(";")
    charset = None
    for param in params:
        key, _, raw = param.partition("=")
        if key.strip().lower() == "charset":
            charset = raw.strip().strip("\"'").lower() or None
    return mime.strip().lower() or None, charset


def _parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: either delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def parse_url(raw: str) -> httpx.URL:
    """``raw`` as the fetcher would request it; ``FetchError("bad_url")`` if it cannot be fetched."""
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchError("bad_url", f"{raw!r}: {exc}") from None
    return _check_scheme(url.copy_with(fragment=None))


def _check_scheme(url: httpx.URL) -> httpx.URL:
    if url.scheme not in ("http", "https"):
        raise FetchError("bad_url", f"{url}: only http and https are fetched")
    if not url.host:
        raise FetchError("bad_url", f"{url}: no host")
    return url


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _normalise_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()
