"""Config: the TOML file's shape (``models``, built from ``fields``), its errors in the
file's own words (``messages``), and loading (``load``) into frozen ``values``.

Loading is the only I/O: it reads the file, the password variable, the CA file and checks
the templates folder once; afterwards a Config is plain values. Import the submodules
(``config.load``, ``config.values``) directly: this package imports nothing, so that
source types can use ``config.fields`` without an import cycle.
"""
