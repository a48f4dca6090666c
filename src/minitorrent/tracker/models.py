"""Database tables.

Types are kept portable (no SQLite- or PostgreSQL-only types) so one set of Alembic
migrations serves both. Times are stored as naive UTC and come back timezone-aware.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_LEN = 64
HEX40 = 40

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Naive UTC in the database (sortable as text on SQLite), aware UTC in Python."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    passkey: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginSession(Base):
    """One logged-in client process; only the SHA-256 of its token is kept."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    admin_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    # The surrogate key grows with every insert: it gives the join order even when
    # two members joined within the same clock tick.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JoinRequest(Base):
    __tablename__ = "join_requests"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SharedFile(Base):
    """One v1 info dictionary registered in a group, known by its info-hash."""

    __tablename__ = "files"
    __table_args__ = (UniqueConstraint("group_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    info_hash: Mapped[str] = mapped_column(String(HEX40), unique=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1024))
    length: Mapped[int] = mapped_column(BigInteger)
    piece_length: Mapped[int] = mapped_column(Integer)
    info: Mapped[bytes] = mapped_column(LargeBinary)
    # How many files a shared folder holds; NULL for a single file.
    file_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # BitTorrent "completed" events, reported by scrape as "downloaded".
    completed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Share(Base):
    """A user declared they share a file (upload, or a finished download)."""

    __tablename__ = "shares"

    file_id: Mapped[int] = mapped_column(
        ForeignKey("files.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Peer(Base):
    """A live swarm entry; it disappears after expires_at unless re-announced."""

    __tablename__ = "peers"
    __table_args__ = (UniqueConstraint("file_id", "user_id", "peer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    peer_id: Mapped[str] = mapped_column(String(HEX40))
    # NULL for announces made with a passkey (a BitTorrent client has no session).
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    ip: Mapped[str] = mapped_column(String(45))
    port: Mapped[int] = mapped_column(Integer)
    left: Mapped[int] = mapped_column(BigInteger)
    uploaded: Mapped[int] = mapped_column(BigInteger)
    downloaded: Mapped[int] = mapped_column(BigInteger)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class GroupEvent(Base):
    """One line of a group's activity log: who did what to whom (or to which file).

    actor and subject are plain strings, not foreign keys: the log tells what happened
    even after the people or files it names are gone. The log goes with its group."""

    __tablename__ = "group_events"
    # A page of one group's log: WHERE group_id = ? AND id < ? ORDER BY id DESC.
    __table_args__ = (Index("ix_group_events_group_id_id", "group_id", "id"),)

    # Grows with every insert: the log's order, and the cursor of its pages.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(ID_LEN))
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(1024))
