"""Alembic migrations of the store: ``env.py`` runs them on the connection the store hands
over; ``versions/`` holds one revision per schema change, written out in full (never built
from the live Table objects, so an old revision keeps meaning what it meant)."""
