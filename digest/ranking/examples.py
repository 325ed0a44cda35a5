"""Liked and disliked example papers in the batched hybrid scorer: each subscriber's best cosine
similarity to its examples, for a block of subscribers at a time; pure, vectors only."""

from __future__ import annotations

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

        def slots(ids: Sequence[str]) -> list[int]:
            return [slot.setdefault(i, len(slot)) for i in dict.fromkeys(ids) if i in vectors]

        self.liked = [slots(sub.liked) if sub.liked else [] for sub in subscribers]
        self.disliked = [slots(sub.disliked) if sub.disliked else [] for sub in subscribers]
        # the examples themselves, when they are candidates too: never offered again
        self.own = {
            row: np.array([position[i] for i in ids if i in position], dtype=np.intp)
            for row, sub in enumerate(subscribers)
            if (ids := sub.liked + sub.disliked)
        }
        self.rows = np.flatnonzero(
            [bool(a or b) for a, b in zip(self.liked, self.disliked, strict=True)]
        )
        self.papers = paper_vectors
        dim = paper_vectors.shape[1]
        self.vectors = np.zeros((len(slot), dim), dtype=np.float32)
        for pid, k in slot.items():
            self.vectors[k] = vectors[pid]
        self.sims: Floats | None = None
        if (len(slot) + 1) * paper_vectors.shape[0] <= dense_cells:
            self.sims = self._similarities(np.arange(len(slot)))

    def __bool__(self) -> bool:
        return bool(self.own)

    def _similarities(self, used: Rows) -> Floats:
        """Cosine of examples `used` to every paper, with a row of -1 below them (the slot
        of an example a subscriber does not have)."""
        out = np.full((len(used) + 1, self.papers.shape[0]), -1.0, dtype=np.float32)
        np.matmul(self.vectors[used], self.papers.T, out=out[:-1])
        return out

    def exclude(self, start: int, stop: int, open_: npt.NDArray[np.bool_]) -> None:
        """Close, in `open_` (rows start..stop x papers), each subscriber's own examples."""
        for row in range(start, stop):
            own = self.own.get(row)
            if own is not None and own.size:
                open_[row - start, own] = False

    def best(self, start: int, stop: int, kind: str) -> tuple[Rows, Floats] | None:
        """For rows start..stop that have `kind` ("liked" or "disliked") examples: their
        positions within the block and, per paper, the best cosine to one of them."""
        lists = self.liked if kind == "liked" else self.disliked
        first, last = np.searchsorted(self.rows, [start, stop])
        who = [int(r) for r in self.rows[first:last] if lists[r]]
        if not who:
            return None
        width = max(len(lists[r]) for r in who)
        blank = len(self.vectors)
        slots = np.full((len(who), width), blank, dtype=np.intp)
        for i, r in enumerate(who):
            slots[i, : len(lists[r])] = lists[r]
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
        return np.array(who, dtype=np.intp) - start, out
