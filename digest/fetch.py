"""HTTP and local-file fetching: timeouts, redirects, conditional GET, size cap, retries,
per-host politeness. Returns bytes; parsing is someone else's job."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from digest import __version__
from digest.decode import Decoder
from digest.errors import SourceError
from digest.models import Fetched
from digest.sources.document import feed_headers

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
ARXIV_HOSTS = ("arxiv.org",)
log = logging.getLogger("digest.fetch")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def user_agent(contact: str | None) -> str:
    """A descriptive User-Agent, with the operator's contact address when configured."""
    tail = f"; mailto:{contact}" if contact else ""
    return f"PaperDigest/{__version__} (+self-hosted paper digest{tail})"


def _retry_after(value: str | None, *, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _is_local(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return scheme in ("", "file") or (len(scheme) == 1 and url[1:3] in (":\\", ":/"))


@dataclass
class _HostGate:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last: float | None = None


class Fetcher:
    """Fetches URLs politely with one shared httpx client; use as an async context manager."""

    def __init__(
        self,
        *,
        contact: str | None = None,
        timeout: float = 30.0,
        max_bytes: int = DEFAULT_MAX_BYTES,
        retries: int = 3,
        backoff: float = 2.0,
        max_wait: float = 120.0,
        host_intervals: dict[str, float] | None = None,
        concurrency: int = 4,
        deadline: float = 60.0,
        slow: float = 15.0,
        allow_private: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.deadline = deadline
        self.slow = slow
        self.allow_private = allow_private
        self.host_intervals = (
            host_intervals if host_intervals is not None else dict.fromkeys(ARXIV_HOSTS, 3.0)
        )
        self.headers = {"User-Agent": user_agent(contact), "Accept-Encoding": "gzip, deflate"}
        self._sleep = sleep
        self._clock = clock
        self._gates: dict[str, _HostGate] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Fetcher:
        self._client = httpx.AsyncClient(
            headers=self.headers, timeout=httpx.Timeout(self.timeout), follow_redirects=False
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def interval_for(self, host: str) -> float:
        """The minimum seconds between two requests to `host`."""
        for suffix, seconds in self.host_intervals.items():
            if host == suffix or host.endswith("." + suffix):
                return seconds
        return 0.0

    @contextlib.asynccontextmanager
    async def _polite(self, url: str) -> AsyncIterator[None]:
        """Hold the host's turn for one request: it starts at least the host's interval
        after the previous request to that host *finished*, so the server sees them that
        far apart even when a connection was slow to open."""
        host = (urlsplit(url).hostname or "").lower()
        interval = self.interval_for(host)
        if interval <= 0:
            yield
            return
        gate = self._gates.setdefault(host, _HostGate())
        async with gate.lock:
            if gate.last is not None:
                wait = gate.last + interval - self._clock()
                if wait > 0:
                    await self._sleep(wait)
            try:
                yield
            finally:
                gate.last = self._clock()

    def _read_local(self, url: str, source: str, last_modified: str | None) -> Fetched:
        parts = urlsplit(url)
        path = Path(unquote(parts.path)) if parts.scheme.lower() == "file" else Path(url)
        try:
            stat = path.stat()
            if stat.st_size > self.max_bytes:
                raise SourceError(
                    f"source {source!r}: {path} is {stat.st_size} bytes, over the "
                    f"{self.max_bytes}-byte limit",
                    source=source,
                    url=url,
                )
            stamp = str(stat.st_mtime_ns)
            if last_modified == stamp:
                return Fetched(status="not-modified", last_modified=stamp, url=url)
            body = path.read_bytes()
        except OSError as exc:
            raise SourceError(
                f"source {source!r}: cannot read {path}: {exc.strerror}", source=source, url=url
            ) from None
        return Fetched(status="ok", body=body, last_modified=stamp, url=url)

    async def fetch(
        self,
        url: str,
        *,
        source: str = "",
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Fetched:
        """GET `url` (or read a local path), conditional on the validators given, within
        one overall deadline (retries, redirects and waits included); a line is logged when
        a source is slow to answer."""
        if _is_local(url):
            return self._read_local(url, source, last_modified)
        if self._client is None:
            raise RuntimeError("use Fetcher as 'async with Fetcher() as f'")
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        loop = asyncio.get_running_loop()
        waited = min(self.slow, self.deadline / 2)
        slow = loop.call_later(
            waited,
            lambda: log.warning("source %s: no answer yet after %.0f s", source, waited),
        )
        try:
            async with self._slots, asyncio.timeout(self.deadline):
                return await self._attempts(url, headers, source)
        except TimeoutError:
            raise SourceError(
                f"source {source!r}: GET {url} got no complete answer within "
                f"{self.deadline:.0f} s ([fetch] deadline)",
                source=source,
                url=url,
            ) from None
        finally:
            slow.cancel()

    async def _attempts(self, url: str, headers: dict[str, str], source: str) -> Fetched:
        attempt = 0
        while True:
            try:
                async with self._polite(url):
                    fetched, retry_after = await self._follow(url, headers, source)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                final = attempt >= self.retries or _dns_failure(exc) or _refused(exc)
                if final:
                    raise SourceError(
                        f"source {source!r}: GET {url} {_describe(exc, url)}"
                        + (f" after {attempt + 1} attempts" if attempt else ""),
                        source=source,
                        url=url,
                    ) from None
                await self._sleep(min(self.max_wait, self.backoff * 2**attempt))
                attempt += 1
                continue
            except httpx.HTTPError as exc:  # a protocol error nobody retries
                raise SourceError(
                    f"source {source!r}: GET {url} failed: {_describe(exc, url)}",
                    source=source,
                    url=url,
                ) from None
            if fetched.http_status in RETRY_STATUSES and attempt < self.retries:
                delay = retry_after if retry_after is not None else self.backoff * 2**attempt
                await self._sleep(min(self.max_wait, delay))
                attempt += 1
                continue
            return fetched

    async def _follow(
        self, url: str, headers: dict[str, str], source: str
    ) -> tuple[Fetched, float | None]:
        """GET `url`, following redirects ourselves: at most MAX_REDIRECTS, no loops, never
        to a non-http(s) URL, and (unless allow_private) never from a public address into
        private space."""
        start_private = await _private(url)
        seen = {url}
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            result, location = await self._get(current, headers, source)
            if location is None:
                return result
            target = urljoin(current, location)
            if urlsplit(target).scheme.lower() not in ("http", "https"):
                raise SourceError(
                    f"source {source!r}: {current} redirects to {target!r}, which is not an "
                    "http(s) URL; refused",
                    source=source,
                    url=url,
                )
            if target in seen:
                raise SourceError(
                    f"source {source!r}: {url} redirects in a loop (back to {target})",
                    source=source,
                    url=url,
                )
            if not self.allow_private and not start_private and await _private(target):
                raise SourceError(
                    f"source {source!r}: {current} redirects to {target}, a private or local "
                    "address; refused (set [fetch] allow_private = true to allow it)",
                    source=source,
                    url=url,
                )
            seen.add(target)
            current = target
        raise SourceError(
            f"source {source!r}: {url} redirects more than {MAX_REDIRECTS} times",
            source=source,
            url=url,
        )

    async def _get(
        self, url: str, headers: dict[str, str], source: str
    ) -> tuple[tuple[Fetched, float | None], str | None]:
        """One request: (the result, None) or (_, the Location it redirects to)."""
        assert self._client is not None
        async with self._client.stream("GET", url, headers=headers) as resp:
            if resp.status_code in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                return (Fetched(status="ok", http_status=resp.status_code), None), str(
                    resp.headers["Location"]
                )
            retry_after = _retry_after(resp.headers.get("Retry-After"), now=time.time())
            validators = {
                "etag": resp.headers.get("ETag"),
                "last_modified": resp.headers.get("Last-Modified"),
            }
            if resp.status_code == 304:
                return (
                    Fetched(status="not-modified", http_status=304, url=url, **validators),
                    None,
                ), None
            declared = resp.headers.get("Content-Length")
            encoded = resp.headers.get("Content-Encoding")
            if not encoded and declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise SourceError(
                    f"source {source!r}: {url} declares {declared} bytes, over the "
                    f"{self.max_bytes}-byte limit",
                    source=source,
                    url=url,
                )
            decoder = Decoder(encoded, self.max_bytes, what=url, source=source)
            body = bytearray()
            raw = 0
            async for chunk in resp.aiter_raw():
                raw += len(chunk)
                if raw > self.max_bytes:  # compressed bytes count too
                    raise SourceError(
                        f"source {source!r}: {url} sent more than the {self.max_bytes}-byte limit",
                        source=source,
                        url=url,
                    )
                body += decoder.feed(chunk)
            body += decoder.finish()
            return (
                Fetched(
                    status="ok",
                    body=bytes(body),
                    http_status=resp.status_code,
                    url=url,
                    headers=feed_headers(resp.headers),
                    **validators,
                ),
                retry_after,
            ), None


MAX_REDIRECTS = 5


async def _private(url: str) -> bool:
    """Whether `url`'s host is, or resolves to, a loopback, private, link-local or otherwise
    non-public address (an unresolvable host counts as not private: the GET will fail)."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
            return True
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except (OSError, UnicodeError):
            return False
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return any(not a.is_global for a in addresses)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def _dns_failure(exc: BaseException) -> bool:
    """A name that does not resolve: retrying will not help within one run."""
    return any(isinstance(e, socket.gaierror) for e in _causes(exc)) or (
        "Name or service not known" in str(exc) or "nodename nor servname" in str(exc)
    )


def _refused(exc: BaseException) -> bool:
    return any(isinstance(e, ConnectionRefusedError) for e in _causes(exc)) or (
        "Connection refused" in str(exc)
    )


def _describe(exc: BaseException, url: str) -> str:
    """One line on what went wrong, naming the host and the cause."""
    parts = urlsplit(url)
    host = parts.hostname or url
    where = f"{host}:{parts.port}" if parts.port else host
    if _dns_failure(exc):
        return f"failed: cannot resolve host {host!r} (DNS: {_innermost(exc)})"
    if _refused(exc):
        return f"failed: {where} refused the connection (is the server up?)"
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out waiting for {where} ({type(exc).__name__})"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"failed: {where} broke the HTTP exchange ({_innermost(exc)})"
    return f"failed: {where}: {_innermost(exc)}"


def _innermost(exc: BaseException) -> str:
    last = _causes(exc)[-1]
    return str(last) or type(last).__name__
