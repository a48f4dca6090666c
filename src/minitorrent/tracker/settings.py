"""Tracker settings; every field can also come from a MINITORRENT_TRACKER_<NAME> variable."""

from __future__ import annotations

from typing import Self

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from minitorrent.file_list import HARD_LIMITS, FolderLimits
from minitorrent.tracker.services import quotas


class TrackerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINITORRENT_TRACKER_", frozen=True)

    # None means the default SQLite file of tracker 1 (see db.default_db_url).
    db_url: str | None = None

    session_idle_ttl: int = Field(3600, ge=1, description="seconds a session lives unused")
    # Refreshing last_used_at on every call would turn every read into a write.
    session_touch_interval: int = Field(10, ge=0)

    announce_interval: int = Field(30, ge=1, le=3600)
    announce_min_interval: int = Field(10, ge=1, le=3600)
    # A peer is dropped after 2 * interval + peer_grace seconds without an announce.
    peer_grace: int = Field(5, ge=0)
    max_peers: int = Field(50, ge=1, le=1000)
    cleanup_interval: float = Field(30.0, gt=0)

    # A user id's own failures lock it; an address (often a whole lab behind one NAT)
    # only after far more than typing mistakes make (services/throttle.py).
    login_max_failures_per_user: int = Field(5, ge=1)
    login_max_failures_per_ip: int = Field(300, ge=1)
    login_window: int = Field(600, ge=1)
    # New accounts per address (an IPv6 /64) and window: each costs an argon2 hash.
    signup_max_per_address: int = Field(30, ge=1)
    signup_window: int = Field(600, ge=1)

    # Slow clients (http_guard.py): a request head must arrive within this many seconds;
    # a body must keep coming at this many bytes/s on average after its first seconds.
    request_head_timeout: float = Field(10.0, gt=0)
    request_body_grace: float = Field(10.0, gt=0)
    request_body_min_rate: int = Field(8192, ge=1)

    # What one member and one group may register (services/quotas.py says why these).
    quota_files_per_member: int = Field(quotas.FILES_PER_MEMBER, ge=1, description="per group")
    quota_files_per_group: int = Field(quotas.FILES_PER_GROUP, ge=1)
    quota_info_bytes_per_member: int = Field(quotas.INFO_BYTES_PER_MEMBER, ge=1)
    quota_info_bytes_per_group: int = Field(quotas.INFO_BYTES_PER_GROUP, ge=1)
    # A shared folder: files in it, and UTF-8 bytes of one path (its name included).
    folder_max_files: int = Field(FolderLimits.max_files, ge=1, le=HARD_LIMITS.max_files)
    folder_max_path_bytes: int = Field(
        FolderLimits.max_path_bytes, ge=1, le=HARD_LIMITS.max_path_bytes
    )

    # Every tracker's base URL in tracker_info.txt's order, for the .torrent files and
    # magnet links the web pages hand out; empty: this tracker's own, as the browser saw it.
    tracker_urls: tuple[str, ...] = ()

    # argon2id cost; tests lower it, production keeps argon2-cffi's defaults.
    password_time_cost: int = Field(3, ge=1)
    password_memory_kib: int = Field(65536, ge=8)
    password_parallelism: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _argon2_can_hash(self) -> Self:
        # argon2 wants at least 8 KiB of memory per lane; refused here, not at the first hash.
        if self.password_memory_kib < 8 * self.password_parallelism:
            raise ValueError(
                f"password_memory_kib must be at least 8 x password_parallelism "
                f"({8 * self.password_parallelism})"
            )
        return self


def settings_error(exc: ValidationError) -> str:
    """One line naming each bad setting by the variable that sets it."""
    prefix = TrackerSettings.model_config.get("env_prefix", "")
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{prefix}{field.upper()}: {message}" if field else message)
    return "bad tracker settings: " + "; ".join(parts)
