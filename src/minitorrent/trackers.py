"""tracker_info.txt: parse, validate, pick our entry.

Two layouts are accepted, and may even be mixed:

* the original one, IP and port on alternate lines::

      127.0.0.1
      5353

* one ``IP:PORT`` (or ``[IPv6]:PORT``, or ``https://HOST:PORT``) per line.

Blank lines and ``#`` comments are ignored; anything else is an error that
names the line.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from minitorrent.errors import ConfigError


@dataclass(frozen=True, slots=True)
class TrackerAddress:
    host: str
    port: int
    scheme: str = "http"

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return self.url


def _parse_port(text: str, where: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ConfigError(f"{where}: '{text}' is not a port number (1-65535)")
    return int(text)


def _is_host(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        # A host name: letters, digits, dots and dashes only.
        return bool(text) and all(c.isalnum() or c in ".-" for c in text)
    return True


def _split_host_port(text: str, where: str) -> tuple[str, int] | None:
    """Split ``HOST:PORT`` / ``[V6]:PORT``; None when the line is a bare host."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ConfigError(f"{where}: '{text}' is not [IPv6]:PORT")
        return host, _parse_port(rest[1:], where)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _parse_port(port, where)
    return None


def parse_tracker_lines(lines: list[str], source: str) -> list[TrackerAddress]:
    trackers: list[TrackerAddress] = []
    pending_host: tuple[str, int] | None = None  # (host, line number) awaiting its port
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}, line {number}"
        if pending_host is not None:
            host, _ = pending_host
            trackers.append(TrackerAddress(host, _parse_port(line, where)))
            pending_host = None
            continue
        scheme = "http"
        for prefix in ("http://", "https://"):
            if line.startswith(prefix):
                scheme, line = prefix[:-3], line[len(prefix) :].rstrip("/")
        split = _split_host_port(line, where)
        if split is not None:
            host, port = split
            if not _is_host(host):
                raise ConfigError(f"{where}: '{host}' is not an IP address or host name")
            trackers.append(TrackerAddress(host, port, scheme))
        elif scheme == "http" and _is_host(line) and not line.isdigit():
            pending_host = (line, number)
        else:
            raise ConfigError(
                f"{where}: expected an IP address, a port, or IP:PORT, got '{raw.strip()}'"
            )
    if pending_host is not None:
        raise ConfigError(f"{source}, line {pending_host[1]}: '{pending_host[0]}' has no port line")
    if not trackers:
        raise ConfigError(f"{source}: no trackers listed")
    return trackers


def load_trackers(path: str | Path) -> list[TrackerAddress]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"tracker info file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read tracker info file '{path}': {exc}") from None
    return parse_tracker_lines(text.splitlines(), str(path))


def pick_tracker(trackers: list[TrackerAddress], number: str) -> TrackerAddress:
    """The entry for ``minitorrent tracker FILE N`` (N counts from 1)."""
    if not number.isdigit() or not 1 <= int(number) <= len(trackers):
        raise ConfigError(
            f"tracker number must be between 1 and {len(trackers)} "
            f"(the file lists {len(trackers)}), got '{number}'"
        )
    return trackers[int(number) - 1]


def parse_endpoint(text: str) -> tuple[str, int]:
    """Parse the client's ``HOST:PORT`` argument (its own address, --advertise). A host
    name is resolved here, once: peers are told an IP address."""
    split = _split_host_port(text, "address")
    if split is None:
        raise ConfigError(f"address '{text}' is not IP:PORT")
    host, port = split
    return resolve_host(host, f"address '{text}'"), port


def resolve_host(host: str, where: str) -> str:
    """The IP address of `host` (itself if it is one); IPv4 first, as a peer list is."""
    if not _is_host(host):
        raise ConfigError(f"{where}: '{host}' is not an IP address or host name")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"{where}: cannot resolve '{host}': {reason}") from None
    ipv4 = [entry for entry in found if entry[0] == socket.AF_INET]
    return str((ipv4 or found)[0][4][0])
