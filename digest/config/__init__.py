"""Config: the TOML file's shape (``models``, built from ``fields``), its errors in the
file's own words (``messages``), and loading (``load``) into frozen ``values``.

Loading is the only I/O: it reads the file, the password variable, the CA file and checks
the templates folder once; afterwards a Config is plain values.
"""

from __future__ import annotations

from digest.config.fields import validate_email
from digest.config.load import load_config
from digest.config.values import Config

__all__ = ["Config", "load_config", "validate_email"]
