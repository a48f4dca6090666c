"""The info-hash is a shared file's identity: files.sha1 (whole-file SHA1) goes.

The info-hash binds the piece hashes, and every piece of a download is verified against
them, so the whole-file SHA1 was a second identity and a second pass over every byte.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ALTER TABLE (SQLite 3.35 and later, PostgreSQL): a batch migration would
    # copy and drop the table on SQLite, and dropping it cascades to its shares and peers.
    op.drop_column("files", "sha1")


def downgrade() -> None:
    # The dropped values are gone: files come back with an empty one (as folders had).
    op.add_column(
        "files", sa.Column("sha1", sa.String(length=40), server_default="", nullable=False)
    )
