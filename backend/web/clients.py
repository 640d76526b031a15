"""The client's address, for per-client limits: the peer, or, when the peer is a proxy listed in
`FORWARDED_ALLOW_IPS`, the address it forwarded (the right-most one it did not add itself)."""

from __future__ import annotations

import ipaddress

from litestar.types import Scope

from backend.settings import Settings


def client_ip(scope: Scope, settings: Settings) -> str:
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not settings.forwarded_allow_ips or not _trusted(peer, settings):
        return str(peer)
    # Several header lines are one list, in order (RFC 9110 §5.3): a proxy may add its own line.
    forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
    hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
    for hop in reversed(hops):  # walk back past our own proxies
        if not _trusted(hop, settings):
            return hop if _is_address(hop) else str(peer)
    return hops[0] if hops and _is_address(hops[0]) else str(peer)


def _trusted(address: str, settings: Settings) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in settings.forwarded_allow_ips)


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def limit_key(address: str) -> str:
    """What per-client limits count by: an IPv6 client holds a whole /64, so it counts as one."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is the IPv4 client it names
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)
