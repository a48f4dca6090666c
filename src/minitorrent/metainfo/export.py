""".torrent files and magnet links for an info dictionary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastbencode import bencode  # type: ignore[attr-defined]  # not re-exported in its stub

from minitorrent.errors import MetainfoError
from minitorrent.metainfo.info import InfoDict


def torrent_bytes(
    info: InfoDict, announce: str, announce_list: Sequence[Sequence[str]] = ()
) -> bytes:
    """A standard v1 .torrent file for ``info``.

    The info dictionary is embedded as its exact canonical bytes.  ``announce_list`` is the
    BEP 12 list of tiers (clients that understand it ignore ``announce``, so include the
    primary tracker in it); empty tiers are dropped.  No creation date, so the output is
    deterministic.
    """
    if not announce:
        raise MetainfoError("a .torrent needs an announce URL")
    outer: dict[bytes, Any] = {
        b"announce": announce.encode("utf-8"),
        b"created by": b"minitorrent",
    }
    tiers = [[url.encode("utf-8") for url in tier] for tier in announce_list if tier]
    if tiers:
        outer[b"announce-list"] = tiers
    head: bytes = bencode(outer)
    # b"info" sorts after every other key, so it goes last: splice the exact bytes in.
    return head[:-1] + b"4:info" + info.encode() + b"e"


def private_announce_urls(tracker_urls: Sequence[str], passkey: str) -> list[str]:
    """A user's private announce URL on every tracker (base URLs, in tracker_info.txt's
    order)."""
    return [f"{url}/announce/{passkey}" for url in tracker_urls]


def private_torrent(info: InfoDict, tracker_urls: Sequence[str], passkey: str) -> bytes:
    """The .torrent a user hands to any BitTorrent client: every tracker, one per tier,
    with the user's passkey. The shell's export_torrent and the web page's download
    button both write these bytes."""
    urls = private_announce_urls(tracker_urls, passkey)
    return torrent_bytes(info, urls[0], [[url] for url in urls])


def magnet_link(info: InfoDict, trackers: Sequence[str]) -> str:
    """``magnet:?xt=urn:btih:<hex>&dn=<name>&xl=<length>&tr=<tracker>...`` (BEP 9)."""
    return magnet_of(info.info_hash_hex, info.name, info.length, trackers)


def magnet_of(info_hash_hex: str, name: str, length: int, trackers: Sequence[str]) -> str:
    """magnet_link from what a file listing has, without decoding its info dictionary."""
    parts = [f"xt=urn:btih:{info_hash_hex}", f"dn={quote(name, safe='')}", f"xl={length}"]
    parts.extend(f"tr={quote(url, safe='')}" for url in trackers)
    return "magnet:?" + "&".join(parts)
