"""SQL helpers: prebuilt statements on the request's connection; insert-or-update.

`run` is for the hot paths. Their statements are built once, at import, with
bindparam()s: SQLAlchemy then reuses the cache key and compiled form, and the
connection skips the ORM's execution layer. Built per call and run through the
session, one simple query cost 300-500 us here against 5-50 us in SQLite itself
(GET /groups/<g>/files: 1.36 ms of SQL work -> 0.4 ms).

Insert-or-update takes one statement, so concurrent requests never race on a unique
key; both dialects we support (SQLite, PostgreSQL) spell it ON CONFLICT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import CursorResult, Executable
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from minitorrent.tracker.models import Base


def run(db: Session, statement: Executable, **params: Any) -> CursorResult[*tuple[Any, ...]]:
    """A prebuilt statement (see the module's doc) in the session's transaction."""
    return db.connection().execute(statement, params)


def dialect_insert(dialect: str, model: type[Base]) -> Any:
    """An INSERT with ON CONFLICT for the named dialect ("sqlite" or "postgresql")."""
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"unsupported database {dialect!r}")


def dialect_of(db: Session) -> str:
    return db.get_bind().dialect.name


def insert_ignore(db: Session, model: type[Base], values: Mapping[str, Any]) -> None:
    db.execute(dialect_insert(dialect_of(db), model).values(**values).on_conflict_do_nothing())


def upsert(
    db: Session, model: type[Base], values: Mapping[str, Any], *, keys: Sequence[str]
) -> None:
    """Insert values, or update every non-key column of the row with the same keys."""
    stmt = dialect_insert(dialect_of(db), model).values(**values)
    changes = {name: stmt.excluded[name] for name in values if name not in keys}
    db.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))
