"""Numbered Alembic migrations of the store (``versions/0001_baseline.py``, ``0002_...``).

Run by :func:`collector.store.migrate.ensure_schema`; no ``alembic.ini`` is needed.
"""
