"""Alembic environment: run on the connection handed over by minitorrent.tracker.db.migrate.

For development (`alembic revision --autogenerate`) it can also open
``sqlalchemy.url`` from the Alembic config.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from minitorrent.tracker.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


run()
