"""Entry point for ``python -m digest``; delegates to the CLI."""

from __future__ import annotations

from digest.cli import main

if __name__ == "__main__":
    main()
