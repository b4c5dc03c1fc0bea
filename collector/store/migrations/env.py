"""Alembic's entry point, for posfleet's store (SQLite or PostgreSQL).

posfleet runs migrations programmatically (:mod:`collector.store.migrate`): it hands over
the store's own connection in ``config.attributes["connection"]``, inside the transaction
that holds the store's write lock, so nothing here opens a connection or commits. A
developer may also point ``sqlalchemy.url`` at a scratch store (``--sql`` renders the SQL).
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from collector.store.migrate import autogenerate_options

config = context.config


def _options(dialect_name: str) -> dict[str, Any]:
    return autogenerate_options(dialect_name)


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url to render migrations as SQL"
    context.configure(url=url, literal_binds=True, **_options(url.split(":")[0].split("+")[0]))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **_options(connection.dialect.name))
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url, or run through collector.store.migrate"
    with create_engine(url).connect() as conn:
        context.configure(connection=conn, **_options(conn.dialect.name))
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
