"""Content-Encoding undone as bytes stream in, with the size cap held on the decoded bytes:
gzip, deflate (zlib or raw) and identity, nested in any order ("gzip, gzip"); pure."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from digest.errors import SourceError

STEP = 64 * 1024  # decoded bytes asked of zlib per call: memory stays near cap + STEP


class _Stage:
    """One coding, undone incrementally, never producing more than `cap` bytes in all."""

    def __init__(self, coding: str, cap: int) -> None:
        self.coding = coding
        self.cap = cap
        self.made = 0
        self.zlib: zlib._Decompress | None = None
        if coding in ("gzip", "x-gzip"):
            self.zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self.zlib = zlib.decompressobj(zlib.MAX_WBITS)  # retried raw on a bad header
            self.raw_tried = False
        self.pending = b""

    def _check(self, size: int) -> None:
        self.made += size
        if self.made > self.cap:
            raise OverflowError

    def feed(self, data: bytes) -> Iterable[bytes]:
        """Decoded pieces of `data` (each at most STEP bytes)."""
        if self.zlib is None:
            self._check(len(data))
            yield data
            return
        while data:
            try:
                piece = self.zlib.decompress(data, STEP)
            except zlib.error:
                if self.coding == "deflate" and not self.raw_tried and self.made == 0:
                    self.raw_tried = True
                    self.zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise
            data = self.zlib.unconsumed_tail
            if piece:
                self._check(len(piece))
                yield piece
            if self.zlib.eof:
                return

    def finish(self) -> Iterable[bytes]:
        """What is left at the end of the stream (gzip needs its trailer)."""
        if self.zlib is not None:
            if self.coding != "deflate" and not self.zlib.eof:
                raise zlib.error("compressed data ended early")
            piece = self.zlib.flush()
            if piece:
                self._check(len(piece))
                yield piece


class Decoder:
    """Undo a response's Content-Encoding chunk by chunk, capped at `cap` decoded bytes.

    Raises SourceError for an unsupported coding, corrupt data, or more than `cap` bytes."""

    def __init__(self, content_encoding: str | None, cap: int, *, what: str, source: str) -> None:
        self.what = what
        self.source = source
        self.cap = cap
        codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
        unknown = [c for c in codings if c not in ("gzip", "x-gzip", "deflate", "identity")]
        if unknown:
            raise SourceError(
                f"source {source!r}: {what} uses an unsupported Content-Encoding {unknown[0]!r}",
                source=source,
            )
        if len(codings) > 4:
            raise SourceError(
                f"source {source!r}: {what} is encoded {len(codings)} times over", source=source
            )
        # the last coding listed was applied last, so it is undone first
        self.stages = [_Stage(c, cap) for c in reversed(codings) if c != "identity"]
        self.total = 0

    def _through(self, data: bytes, first: int) -> Iterable[bytes]:
        if first == len(self.stages):
            yield data
            return
        for piece in self.stages[first].feed(data):
            yield from self._through(piece, first + 1)

    def _run(self, pieces: Iterable[bytes]) -> bytes:
        out = bytearray()
        try:
            for piece in pieces:
                self.total += len(piece)
                if self.total > self.cap:
                    raise OverflowError
                out += piece
        except OverflowError:
            raise SourceError(
                f"source {self.source!r}: {self.what} sent more than the {self.cap}-byte limit "
                "(decoded)",
                source=self.source,
            ) from None
        except zlib.error as exc:
            raise SourceError(
                f"source {self.source!r}: {self.what} sent a corrupt compressed body ({exc})",
                source=self.source,
            ) from None
        return bytes(out)

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of one raw chunk."""
        return self._run(self._through(data, 0))

    def finish(self) -> bytes:
        """The decoded bytes left once the raw stream has ended."""

        def tail() -> Iterable[bytes]:
            for i, stage in enumerate(self.stages):
                for piece in stage.finish():
                    yield from self._through(piece, i + 1)

        return self._run(tail())
