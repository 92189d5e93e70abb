"""Bounds on what clients can make a storage node hold, per node and per client address.

A node serves anyone, so nothing a client sends may hold the node's memory, connections or
time without bound:

- a connection must send a complete request head within `idle_timeout_s` of opening, and of
  each answer after that (slowloris headers, idle and half-open connections are closed);
- a request body must arrive within `body_timeout_s` plus its length at `min_body_rate`
  bytes per second, else 408 (slow bodies, a `Content-Length` the client never sends);
- connections are limited per node and per client address (a refused one gets a 503 or 429
  and is closed);
- request bodies in flight are accounted by their announced length, per node and per address,
  before they are read: beyond the budget the node answers 503 or 429 at once, rather than
  buffer;
- uploads buffered before their blob's registration (`?pending=true`) get their own, smaller
  byte budget, again per node and per address.

The figures are configurable in `node.yaml` under `limits:` (`NodeLimits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from aiohttp import web

from pywalrus.core.errors import WalrusError
from pywalrus.node.api import error_body
from pywalrus.node.outcomes import over_limit

MIB = 1 << 20


@dataclass(frozen=True)
class NodeLimits:
    """The limits of one node (all optional in `node.yaml`, under `limits:`)."""

    idle_timeout_s: float = 20.0
    """Time a connection may take to send a request head, after opening or an answer."""
    body_timeout_s: float = 10.0
    """Base time to receive a request body."""
    min_body_rate: int = MIB
    """Bytes per second a body must arrive at, on top of `body_timeout_s`."""
    max_connections: int = 1024
    """Open connections per node."""
    max_connections_per_address: int = 256
    """Open connections per client IP address."""
    max_upload_bytes: int = 128 * MIB
    """Request bodies in flight per node (by announced length)."""
    max_upload_bytes_per_address: int = 64 * MIB
    """Request bodies in flight per client address."""
    max_pending_bytes: int = 64 * MIB
    """Uploads buffered until their blob's registration, per node."""
    max_pending_bytes_per_address: int = 32 * MIB
    """Uploads buffered until registration, per client address."""

    @classmethod
    def from_config(cls, raw: Any) -> NodeLimits:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise WalrusError("node config: limits must be a mapping")
        known = {f.name: f for f in fields(cls)}
        unknown = set(raw) - set(known)
        if unknown:
            raise WalrusError(f"node config: unknown limits {sorted(unknown)}")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            kind = float if known[name].type == "float" else int
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise WalrusError(f"node config: limits.{name} must be a positive number")
            values[name] = kind(value)
        return cls(**values)

    def held_by_clients(self, addresses: int = 1) -> int:
        """The most bytes of request bodies in flight and pending uploads that clients from
        `addresses` addresses can make the node hold at once."""
        bodies = min(addresses * self.max_upload_bytes_per_address, self.max_upload_bytes)
        pending = min(addresses * self.max_pending_bytes_per_address, self.max_pending_bytes)
        return bodies + pending

    def body_timeout(self, length: int) -> float:
        """Seconds allowed to receive a body of `length` bytes."""
        return self.body_timeout_s + length / self.min_body_rate


class ByteBudget:
    """Bytes held per node and per client address. `acquire` refuses instead of waiting."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self.used = 0
        self._by_address: dict[str, int] = {}

    def acquire(self, address: str, size: int) -> str | None:
        """Take `size` bytes for `address`; None if granted, else the limit that refused
        (`"address"` or `"node"`)."""
        held = self._by_address.get(address, 0)
        if held + size > self.per_address:
            return "address"
        if self.used + size > self.total:
            return "node"
        self._by_address[address] = held + size
        self.used += size
        return None

    def release(self, address: str, size: int) -> None:
        held = self._by_address.get(address, 0) - size
        if held > 0:
            self._by_address[address] = held
        else:
            self._by_address.pop(address, None)
        self.used = max(0, self.used - size)

    def held_by(self, address: str) -> int:
        return self._by_address.get(address, 0)


def peer_address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "?"


class ConnectionLimiter:
    """Counts a server's connections per node and per client address and closes those beyond
    the limits (with a 429 or 503 answer), hooked into aiohttp's connection callbacks."""

    def __init__(self, limits: NodeLimits, on_refused: Callable[[str], None]) -> None:
        self.limits = limits
        self.on_refused = on_refused
        self.total = 0
        self.by_address: dict[str, int] = {}
        self._counted: dict[object, str] = {}

    def install(self, server: web.Server) -> None:
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            made(handler, transport)
            self._admit(handler, transport)

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            address = self._counted.pop(handler, None)
            if address is not None:
                self.total -= 1
                left = self.by_address[address] - 1
                if left:
                    self.by_address[address] = left
                else:
                    del self.by_address[address]
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def _admit(self, handler: object, transport: asyncio.Transport) -> None:
        address = peer_address(transport)
        limit = None
        if self.by_address.get(address, 0) >= self.limits.max_connections_per_address:
            limit = "address"
        elif self.total >= self.limits.max_connections:
            limit = "node"
        if limit is None:
            self._counted[handler] = address
            self.total += 1
            self.by_address[address] = self.by_address.get(address, 0) + 1
            return
        self.on_refused(f"connections per {limit}")
        status, body = error_body(over_limit(limit, "connections"))
        with contextlib.suppress(OSError, RuntimeError):
            transport.write(_raw_error(status, body))
        transport.close()


def _raw_error(status: int, error: dict[str, Any]) -> bytes:
    """A complete HTTP/1.1 error answer carrying an error envelope, for a connection refused
    before any request was read."""
    body = json.dumps(error).encode()
    phrase = {429: "Too Many Requests", 503: "Service Unavailable"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body
