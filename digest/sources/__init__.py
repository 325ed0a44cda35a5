"""Source parsers: each turns fetched bytes into Paper records; none of them does I/O."""

from __future__ import annotations
