"""Paper Digest: fetch paper listings, rank them per subscriber, email one digest a day."""

from __future__ import annotations

__version__ = "0.1.0"
