"""Insert-or-update in one statement, so concurrent requests never race on a unique key.

Both dialects we support (SQLite, PostgreSQL) spell it ON CONFLICT.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from minitorrent.tracker.models import Base


def _insert(db: Session, model: type[Base]) -> Any:
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"unsupported database {dialect!r}")


def insert_ignore(db: Session, model: type[Base], values: Mapping[str, Any]) -> None:
    db.execute(_insert(db, model).values(**values).on_conflict_do_nothing())


def upsert(
    db: Session, model: type[Base], values: Mapping[str, Any], *, keys: Sequence[str]
) -> None:
    """Insert values, or update every non-key column of the row with the same keys."""
    stmt = _insert(db, model).values(**values)
    changes = {name: stmt.excluded[name] for name in values if name not in keys}
    db.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=changes))
