"""Initial schema: users, sessions, groups, memberships, join requests, files, shares, peers.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain types on purpose: a migration must not change when models.py does.
ID = sa.String(length=64)
HEX40 = sa.String(length=40)


def _fk(column: str, target: str, table: str, *, cascade: bool = True) -> sa.ForeignKeyConstraint:
    ref_table = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column],
        [target],
        name=f"fk_{table}_{column}_{ref_table}",
        ondelete="CASCADE" if cascade else None,
    )


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID, nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("passkey", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("passkey", name="uq_users_passkey"),
    )
    op.create_table(
        "groups",
        sa.Column("id", ID, nullable=False),
        sa.Column("admin_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("admin_id", "users.id", "groups", cascade=False),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=False),
        _fk("user_id", "users.id", "sessions"),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_sessions_token_hash"),
    )
    op.create_index("ix_sessions_last_used_at", "sessions", ["last_used_at"])
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("joined_at", sa.DateTime(), nullable=False),
        _fk("group_id", "groups.id", "memberships"),
        _fk("user_id", "users.id", "memberships"),
        sa.PrimaryKeyConstraint("id", name="pk_memberships"),
        sa.UniqueConstraint("group_id", "user_id", name="uq_memberships_group_id_user_id"),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    op.create_table(
        "join_requests",
        sa.Column("group_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        _fk("group_id", "groups.id", "join_requests"),
        _fk("user_id", "users.id", "join_requests"),
        sa.PrimaryKeyConstraint("group_id", "user_id", name="pk_join_requests"),
    )
    op.create_index("ix_join_requests_user_id", "join_requests", ["user_id"])
    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("info_hash", HEX40, nullable=False),
        sa.Column("group_id", ID, nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("piece_length", sa.Integer(), nullable=False),
        sa.Column("sha1", HEX40, nullable=False),
        sa.Column("info", sa.LargeBinary(), nullable=False),
        sa.Column("completed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("group_id", "groups.id", "files"),
        sa.PrimaryKeyConstraint("id", name="pk_files"),
        sa.UniqueConstraint("group_id", "name", name="uq_files_group_id_name"),
        sa.UniqueConstraint("info_hash", name="uq_files_info_hash"),
    )
    op.create_table(
        "shares",
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _fk("file_id", "files.id", "shares"),
        _fk("user_id", "users.id", "shares"),
        sa.PrimaryKeyConstraint("file_id", "user_id", name="pk_shares"),
    )
    op.create_index("ix_shares_user_id", "shares", ["user_id"])
    op.create_table(
        "peers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("peer_id", HEX40, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("left", sa.BigInteger(), nullable=False),
        sa.Column("uploaded", sa.BigInteger(), nullable=False),
        sa.Column("downloaded", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        _fk("file_id", "files.id", "peers"),
        _fk("session_id", "sessions.id", "peers"),
        _fk("user_id", "users.id", "peers"),
        sa.PrimaryKeyConstraint("id", name="pk_peers"),
        sa.UniqueConstraint(
            "file_id", "user_id", "peer_id", name="uq_peers_file_id_user_id_peer_id"
        ),
    )
    op.create_index("ix_peers_expires_at", "peers", ["expires_at"])
    op.create_index("ix_peers_session_id", "peers", ["session_id"])
    op.create_index("ix_peers_user_id", "peers", ["user_id"])


def downgrade() -> None:
    # Children first; indexes go with their tables.
    for table in ("peers", "shares", "files", "join_requests", "memberships", "sessions", "groups"):
        op.drop_table(table)
    op.drop_table("users")
