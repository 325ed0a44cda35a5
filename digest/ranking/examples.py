"""Liked and disliked example papers in the batched hybrid scorer: each subscriber's best cosine
similarity to its examples, for a block of subscribers at a time; pure, vectors only."""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from digest.models import Subscriber

Floats = npt.NDArray[np.float32]
Rows = npt.NDArray[np.intp]

# similarities, distinct examples x papers, computed once up to this many cells (100 MB of
# float32), else for each block's examples only
DENSE_CELLS = 25_000_000


class Examples:
    """The subscribers' liked and disliked papers that have vectors, each distinct one once.

    Only subscribers with examples cost anything: the others have empty rows and every block
    of subscribers without any is skipped (`best` answers None)."""

    def __init__(
        self,
        subscribers: Sequence[Subscriber],
        vectors: Mapping[str, Floats],
        paper_vectors: Floats,
        position: Mapping[str, int],
        dense_cells: int = DENSE_CELLS,
    ) -> None:
        slot: dict[str, int] = {}
        # per kind, CSR-like: the slots of row r are slots[ptr[r]:ptr[r + 1]] (two flat
        # arrays, not a Python list per subscriber)
        self.slots: dict[str, tuple[Rows, npt.NDArray[np.int32]]] = {}
        for kind in ("liked", "disliked"):
            flat = array("i")  # 4 bytes an entry while it grows
            counts = np.zeros(len(subscribers), dtype=np.intp)
            for row, sub in enumerate(subscribers):
                ids = getattr(sub, kind)
                if ids:
                    found = [
                        slot.setdefault(i, len(slot)) for i in dict.fromkeys(ids) if i in vectors
                    ]
                    flat.extend(found)
                    counts[row] = len(found)
            ptr = np.zeros(len(subscribers) + 1, dtype=np.intp)
            np.cumsum(counts, out=ptr[1:])
            self.slots[kind] = (ptr, np.frombuffer(flat, dtype=np.int32))
        # the examples themselves, when they are candidates too: never offered again (a
        # compact column array and per-row counts, not a million (row, column) tuples)
        cols = array("i")
        per_row = np.zeros(len(subscribers), dtype=np.intp)
        for row, sub in enumerate(subscribers):
            if sub.liked or sub.disliked:
                found = [position[i] for i in (*sub.liked, *sub.disliked) if i in position]
                cols.extend(found)
                per_row[row] = len(found)
        self.own_rows = np.repeat(np.arange(len(subscribers), dtype=np.int32), per_row)
        self.own_cols = np.frombuffer(cols, dtype=np.int32)
        self.any = any(sub.liked or sub.disliked for sub in subscribers)
        self.papers = paper_vectors
        dim = paper_vectors.shape[1]
        self.vectors = np.zeros((len(slot), dim), dtype=np.float32)
        for pid, k in slot.items():
            self.vectors[k] = vectors[pid]
        self.sims: Floats | None = None
        if (len(slot) + 1) * paper_vectors.shape[0] <= dense_cells:
            self.sims = self._similarities(np.arange(len(slot)))

    def __bool__(self) -> bool:
        return self.any

    def _similarities(self, used: Rows) -> Floats:
        """Cosine of examples `used` to every paper, with a row of -1 below them (the slot
        of an example a subscriber does not have)."""
        out = np.full((len(used) + 1, self.papers.shape[0]), -1.0, dtype=np.float32)
        np.matmul(self.vectors[used], self.papers.T, out=out[:-1])
        return out

    def exclude(self, start: int, stop: int, open_: npt.NDArray[np.bool_]) -> None:
        """Close, in `open_` (rows start..stop x papers), each subscriber's own examples."""
        first, last = np.searchsorted(self.own_rows, [start, stop])
        open_[self.own_rows[first:last] - start, self.own_cols[first:last]] = False

    def best(self, start: int, stop: int, kind: str) -> tuple[Rows, Floats] | None:
        """For rows start..stop that have `kind` ("liked" or "disliked") examples: their
        positions within the block and, per paper, the best cosine to one of them."""
        ptr, flat = self.slots[kind]
        counts = np.diff(ptr[start : stop + 1])
        local = np.flatnonzero(counts)
        if not local.size:
            return None
        counts = counts[local]
        width = int(counts.max())
        blank = len(self.vectors)
        slots = np.full((local.size, width), blank, dtype=np.intp)
        begin = ptr[start + local]
        rows = np.repeat(np.arange(local.size), counts)
        cols = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        slots[rows, cols] = flat[np.repeat(begin, counts) + cols]
        if self.sims is not None:
            sims = self.sims
        else:
            used, inverse = np.unique(slots, return_inverse=True)
            real = used[used < blank]
            sims = self._similarities(real)
            # the blank slot, when used, is the last of `used`: the -1 row
            slots = inverse.reshape(slots.shape)
        # one gather-and-maximum per example slot, as for keywords (score._keyword_max)
        out = sims[slots[:, 0]]
        for j in range(1, width):
            np.maximum(out, sims[slots[:, j]], out=out)
        return local, out
