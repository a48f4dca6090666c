"""The one rule for a single file or folder name that comes from elsewhere (an info
dictionary from the tracker or a peer): it must stay one name in one directory and show
what it is."""

from __future__ import annotations

import unicodedata

from minitorrent.errors import MetainfoError

__all__ = ["MAX_NAME_BYTES", "safe_file_name"]

MAX_NAME_BYTES = 255

#: Unicode categories a file name may not contain: control (Cc), format (Cf: bidi
#: controls, zero-width characters), line and paragraph separators (Zl, Zp). They
#: change what a name looks like on screen, or hide part of it. Zero-width joiners in
#: emoji sequences and ZWNJ in some scripts are refused too: a name that shows its real
#: characters is worth more than those.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def safe_file_name(name: str) -> str:
    """Return ``name`` if it is safe to use as a single file name in a directory.

    Rejects empty names, ``.`` and ``..``, path separators (``/`` and ``\\``), control
    characters (NUL, newline, ...), format characters (bidi overrides such as U+202E,
    which make ``report<U+202E>fdp.exe`` show as ``reportexe.pdf``; zero-width characters),
    line and paragraph separators (U+2028, U+2029), names that are not valid Unicode, and
    names longer than 255 bytes in UTF-8.  Spaces, leading dashes and non-ASCII letters are
    fine.
    """
    if not isinstance(name, str):
        raise MetainfoError("a file name must be text")
    if not name:
        raise MetainfoError("the file name is empty")
    if name in (".", ".."):
        raise MetainfoError(f"{name!r} is not a file name")
    if "/" in name or "\\" in name:
        raise MetainfoError(f"the file name {name!r} contains a path separator")
    hidden = next((ch for ch in name if unicodedata.category(ch) in _HIDDEN_CATEGORIES), None)
    if hidden is not None:
        raise MetainfoError(
            f"the file name {name!r} contains the invisible or control character "
            f"U+{ord(hidden):04X}"
        )
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise MetainfoError(f"the file name {name!r} is not valid Unicode") from None
    if len(encoded) > MAX_NAME_BYTES:
        raise MetainfoError(
            f"the file name is too long ({len(encoded)} bytes in UTF-8; at most {MAX_NAME_BYTES})"
        )
    return name
