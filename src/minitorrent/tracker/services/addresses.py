"""The address a peer is listed under: what it says (`ip`, `--advertise`) only if it may.

Other members connect to whatever address the tracker hands out, so an announce must
not be able to point them at an address nobody listens on (0.0.0.0, broadcast,
multicast), at their own machine (loopback), or at a third party. The rule:

* no `ip`, or the unspecified address (a client listening on 0.0.0.0 or ::): the
  address the request came from;
* otherwise the claimed address must be unicast (not multicast, broadcast, reserved or
  link-local), and one of: the request's own source; any address when the request came
  from loopback (a process on the tracker's host, e.g. a reverse proxy, which the
  operator runs); a private address when the request came from a private one (a peer
  on the same site naming its LAN address, e.g. the tracker behind the same NAT);
* anything else is refused with a clear reason rather than silently replaced, so that
  a wrong `--advertise` is noticed at the first announce.
"""

from __future__ import annotations

import functools
import ipaddress

from minitorrent.error_codes import ErrorCode
from minitorrent.tracker.services.errors import Invalid

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> Address:
    """An IP literal; IPv4-mapped IPv6 becomes plain IPv4 (Invalid, bad_ip, if none)."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise Invalid(f"not an IP address: {text!r}", code=ErrorCode.BAD_IP) from None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@functools.lru_cache(maxsize=65536)  # every announce parses one; peers repeat them
def normalize_ip(text: str) -> str:
    """The canonical text of an IP literal (see parse_ip)."""
    return str(parse_ip(text))


def is_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _not_unicast(ip: Address) -> bool:
    # IPv4's reserved 240/4 holds the broadcast address; IPv6's "reserved" ::/8 holds
    # loopback, which has its own rule.
    reserved = isinstance(ip, ipaddress.IPv4Address) and ip.is_reserved
    return reserved or ip.is_multicast or ip.is_link_local


def _same_site(claimed: Address, source: Address) -> bool:
    return source.is_loopback or (
        source.is_private and claimed.is_private and not claimed.is_loopback
    )


@functools.lru_cache(maxsize=65536)  # every announce asks; peers repeat the question
def peer_address(claimed: str | None, source: str | None) -> str:
    """The address to list a peer under (canonical text; IPv4-mapped IPv6 as IPv4).
    `claimed`: its `ip` parameter, if any; `source`: the address the request came from
    (None: unknown). Raises Invalid (code bad_ip) when the claim may not be used."""
    # An unknown source (no TCP peer address) can only be a local transport: as loopback.
    origin = parse_ip(source) if source else None
    ip = parse_ip(claimed) if claimed else None
    if ip is None or ip.is_unspecified:
        if origin is None:
            raise Invalid("cannot tell your IP address", code=ErrorCode.BAD_IP)
        return str(origin)
    if _not_unicast(ip):
        raise Invalid(f"ip {ip} is not a unicast address", code=ErrorCode.BAD_IP)
    if origin is not None and ip != origin and not _same_site(ip, origin):
        raise Invalid(
            f"ip {ip} may not be announced from {origin}: give the address you connect from",
            code=ErrorCode.BAD_IP,
        )
    return str(ip)
