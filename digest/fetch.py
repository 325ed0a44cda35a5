"""HTTP and local-file fetching: timeouts, redirects, conditional GET, size cap, retries,
per-host politeness. Returns bytes; parsing is someone else's job."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from digest import __version__
from digest.errors import SourceError
from digest.models import Fetched

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
ARXIV_HOSTS = ("arxiv.org",)
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
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retries = retries
        self.backoff = backoff
        self.max_wait = max_wait
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
            headers=self.headers,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=True,
            max_redirects=5,
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

    async def _polite(self, url: str) -> None:
        host = (urlsplit(url).hostname or "").lower()
        interval = self.interval_for(host)
        if interval <= 0:
            return
        gate = self._gates.setdefault(host, _HostGate())
        async with gate.lock:
            if gate.last is not None:
                wait = gate.last + interval - self._clock()
                if wait > 0:
                    await self._sleep(wait)
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
        """GET `url` (or read a local path), conditional on the validators given."""
        if _is_local(url):
            return self._read_local(url, source, last_modified)
        if self._client is None:
            raise RuntimeError("use Fetcher as 'async with Fetcher() as f'")
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        async with self._slots:
            attempt = 0
            while True:
                await self._polite(url)
                try:
                    result = await self._get(url, headers, source)
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    if attempt >= self.retries:
                        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
                        raise SourceError(
                            f"source {source!r}: GET {url} {kind} after {attempt + 1} "
                            f"attempt(s): {exc or type(exc).__name__}",
                            source=source,
                            url=url,
                        ) from None
                    await self._sleep(min(self.max_wait, self.backoff * 2**attempt))
                    attempt += 1
                    continue
                fetched, retry_after = result
                if fetched.http_status in RETRY_STATUSES and attempt < self.retries:
                    delay = retry_after if retry_after is not None else self.backoff * 2**attempt
                    await self._sleep(min(self.max_wait, delay))
                    attempt += 1
                    continue
                return fetched

    async def _get(
        self, url: str, headers: dict[str, str], source: str
    ) -> tuple[Fetched, float | None]:
        assert self._client is not None
        async with self._client.stream("GET", url, headers=headers) as resp:
            retry_after = _retry_after(resp.headers.get("Retry-After"), now=time.time())
            validators = {
                "etag": resp.headers.get("ETag"),
                "last_modified": resp.headers.get("Last-Modified"),
            }
            if resp.status_code == 304:
                return Fetched(
                    status="not-modified", http_status=304, url=str(resp.url), **validators
                ), None
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self.max_bytes:
                raise SourceError(
                    f"source {source!r}: {url} declares {declared} bytes, over the "
                    f"{self.max_bytes}-byte limit",
                    source=source,
                    url=url,
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise SourceError(
                        f"source {source!r}: {url} sent more than the {self.max_bytes}-byte limit",
                        source=source,
                        url=url,
                    )
                chunks.append(chunk)
            return Fetched(
                status="ok",
                body=b"".join(chunks),
                http_status=resp.status_code,
                url=str(resp.url),
                **validators,
            ), retry_after
