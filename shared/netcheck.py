"""Parsing the two list-valued security settings: trusted proxy networks and CORS origins.

Kept apart from `settings.py` so the gateway reads them with the very code that checked them at
start-up: a value that passed the check is one the gateway understands the same way.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidrs(text: str | None) -> tuple[IPNetwork, ...]:
    """`"10.0.0.0/8, 127.0.0.1"` → networks (a bare address is a /32 or /128). ValueError names the bad one."""
    networks = []
    for item in _items(text):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXY_CIDRS: `{item}` is not a network such as 10.0.0.0/8 or ::1/128") from None
    return tuple(networks)


def parse_origins(text: str | None) -> frozenset[str]:
    """Exact origins, `scheme://host[:port]`, compared as the browser sends them (lower-case, no path).

    A wildcard is refused on purpose: allowing every origin to call an API that acts on a bearer
    token would let any page a user visits use that user's token if it ever got it into a browser."""
    origins = set()
    for item in _items(text):
        if "*" in item:
            raise ValueError(f"CORS_ORIGINS: `{item}`: wildcards are not allowed; list each origin exactly")
        parts = urlsplit(item)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError(f"CORS_ORIGINS: `{item}` is not an origin such as https://app.example.com")
        origins.add(f"{parts.scheme}://{parts.netloc.lower()}")
    return frozenset(origins)


def check_cidrs(text: str | None) -> None:
    parse_cidrs(text)


def check_origins(text: str | None) -> None:
    parse_origins(text)


def _items(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]
