"""The machine codes of the tracker's JSON error answers ``{"error": code, "message": ...}``.

One list for both sides: the tracker's services raise with these, the client compares
with them. A StrEnum, so the JSON carries the same plain strings as ever. A client may
still meet a code it does not know (a newer tracker): it keeps that as a plain string.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    # The default of each kind of refusal (tracker/services/errors.py).
    ERROR = "error"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"
    INVALID = "invalid"
    TOO_MANY_ATTEMPTS = "too_many_attempts"

    # Accounts and login sessions.
    NOT_LOGGED_IN = "not_logged_in"
    WRONG_CREDENTIALS = "wrong_credentials"
    WRONG_PASSWORD = "wrong_password"
    SAME_PASSWORD = "same_password"
    NO_SUCH_USER = "no_such_user"
    USER_EXISTS = "user_exists"
    INVALID_USER_ID = "invalid_user_id"
    INVALID_GROUP_ID = "invalid_group_id"
    INVALID_PASSWORD = "invalid_password"

    # Groups, memberships, join requests, the activity log.
    NO_SUCH_GROUP = "no_such_group"
    GROUP_EXISTS = "group_exists"
    NOT_MEMBER = "not_member"
    NOT_ADMIN = "not_admin"
    ALREADY_MEMBER = "already_member"
    REQUEST_PENDING = "request_pending"
    NO_SUCH_REQUEST = "no_such_request"
    NO_SUCH_MEMBER = "no_such_member"
    REMOVE_SELF = "remove_self"
    BAD_LIMIT = "bad_limit"

    # Shared files and quotas.
    NO_SUCH_FILE = "no_such_file"
    NOT_SHARING = "not_sharing"
    FILE_NAME_TAKEN = "file_name_taken"
    BAD_INFO = "bad_info"
    QUOTA_EXCEEDED = "quota_exceeded"

    # Announces and vouching.
    UNKNOWN_TORRENT = "unknown_torrent"
    BAD_INFO_HASH = "bad_info_hash"
    BAD_PEER_ID = "bad_peer_id"
    BAD_IP = "bad_ip"
    BAD_PORT = "bad_port"
    BAD_UPLOADED = "bad_uploaded"
    BAD_DOWNLOADED = "bad_downloaded"
    BAD_LEFT = "bad_left"
    BAD_EVENT = "bad_event"
    BAD_INTERVAL = "bad_interval"
    BAD_NUMWANT = "bad_numwant"

    # Web forms.
    BAD_CSRF = "bad_csrf"

    # The HTTP layer (tracker/api/errors.py, api/body_limit.py).
    INVALID_REQUEST = "invalid_request"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HTTP_ERROR = "http_error"
    BODY_TOO_LARGE = "body_too_large"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"
