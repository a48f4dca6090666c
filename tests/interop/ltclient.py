"""A real libtorrent session on loopback, for interop tests (PyPI `libtorrent`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import libtorrent as lt  # installed by `make test` (the test extra)

from minitorrent.driver import free_port, wait_until


def session(port: int) -> Any:
    """A libtorrent session confined to loopback: no DHT, LSD, UPnP or NAT-PMP."""
    return lt.session(
        {
            "listen_interfaces": f"127.0.0.1:{port}",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "allow_multiple_connections_per_ip": True,
            "announce_to_all_trackers": True,
            "announce_to_all_tiers": False,
            "alert_mask": lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification
            | lt.alert.category_t.tracker_notification,
            "user_agent": "libtorrent-interop-test",
        }
    )


def add_torrent(ses: Any, torrent: Path, save_path: Path, *, seed: bool = False) -> Any:
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(str(torrent))
    params.save_path = str(save_path)
    if seed:
        params.flags |= lt.torrent_flags.seed_mode
    return ses.add_torrent(params)


def add_magnet(ses: Any, uri: str, save_path: Path) -> Any:
    params = lt.parse_magnet_uri(uri)
    params.save_path = str(save_path)
    return ses.add_torrent(params)


def is_seeding(handle: Any) -> bool:
    return bool(handle.status().is_seeding)


def describe(handle: Any, ses: Any) -> str:
    status = handle.status()
    alerts = [f"{type(a).__name__}: {a.message()}" for a in ses.pop_alerts()][-15:]
    return (
        f"state={status.state} progress={status.progress:.3f} peers={status.num_peers} "
        f"tracker_error={getattr(status, 'current_tracker', '')}\n" + "\n".join(alerts)
    )


def fetch(torrent: Path, out: Path, timeout: float = 60) -> None:
    """A fresh libtorrent session downloads the .torrent's file into `out`."""
    ses = session(free_port())
    handle = add_torrent(ses, torrent, out)
    try:
        wait_until(lambda: is_seeding(handle), timeout, "libtorrent to finish")
    except AssertionError:
        raise AssertionError(describe(handle, ses)) from None
