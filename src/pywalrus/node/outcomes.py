"""What a storage node answers to a request, as values: the outcomes of the requests it
accepts, and `Refused`, with the `Refusal` naming why, for those it does not.

`StorageNode` decides; the REST API (`server`) only parses requests and renders these, each
refusal by its row of the one table of HTTP statuses and reasons (`api.HTTP_ERRORS`).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

BodyReader = Callable[[], Awaitable[bytes]]
"""Reads a request's body (within the transport's limits): the node calls it only once the
checks that need no body have passed."""


class Refusal(enum.Enum):
    """Why the node refuses a request (each one row of `api.HTTP_ERRORS`)."""

    # The request itself: path, query, headers, body.
    NO_ROUTE = enum.auto()
    INVALID_BLOB_ID = enum.auto()
    INVALID_SLIVER_TYPE = enum.auto()
    INVALID_PAIR_INDEX = enum.auto()
    INVALID_QUERY = enum.auto()
    INVALID_OBJECT_ID = enum.auto()
    INVALID_FILTER = enum.auto()
    BODY_TOO_LARGE = enum.auto()
    BODY_TOO_SLOW = enum.auto()
    # The node's limits: the client's own share used up, or the node's.
    ADDRESS_BUSY = enum.auto()
    NODE_BUSY = enum.auto()
    ADDRESS_PENDING_FULL = enum.auto()
    NODE_PENDING_FULL = enum.auto()
    # Uploads.
    INVALID_METADATA = enum.auto()
    INVALID_BLOB = enum.auto()
    NOT_REGISTERED = enum.auto()
    NO_METADATA = enum.auto()
    PAIR_OUT_OF_RANGE = enum.auto()
    SHARD_NOT_ASSIGNED = enum.auto()
    SLIVER_INDEX_MISMATCH = enum.auto()
    INVALID_SLIVER = enum.auto()
    # Confirmations and inconsistency proofs.
    NOT_IN_COMMITTEE = enum.auto()
    MISSING_SLIVERS = enum.auto()
    INVALID_PROOF = enum.auto()
    # Reads.
    METADATA_NOT_SERVED = enum.auto()
    SLIVER_NOT_SERVED = enum.auto()
    SLIVER_CORRUPTED = enum.auto()
    NO_SLIVERS_SPECIFIED = enum.auto()
    SYMBOL_OUT_OF_RANGE = enum.auto()
    NO_SYMBOLS_SPECIFIED = enum.auto()
    NO_TARGET_SLIVERS = enum.auto()
    SYMBOL_NOT_HELD = enum.auto()
    NO_SOURCE_SLIVERS = enum.auto()
    # Health.
    NOT_HEALTHY = enum.auto()
    # Shard sync (node to node).
    MISSING_AUTHORIZATION = enum.auto()
    INVALID_AUTHORIZATION = enum.auto()
    INVALID_SYNC_REQUEST = enum.auto()
    SYNC_UNAUTHORIZED = enum.auto()
    INVALID_EPOCH = enum.auto()
    SYNC_COUNT_EXCEEDED = enum.auto()
    # Storage challenges (issue 12) add their refusals here.


class Refused(Exception):
    """The node refuses the request: `refusal` says why, `message` says it to a human.
    `close` ends the connection after the answer (a request refused before its body was read).

    Control flow between the node and its REST API, never seen by callers of pywalrus (they
    get the answer, as a `NodeError`)."""

    def __init__(self, refusal: Refusal, message: str, close: bool = False) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        self.close = close


def over_limit(limit: str, what: str) -> Refused:
    """A request beyond a limit of `what` (`limit` is `"address"` or `"node"`)."""
    if limit == "address":
        return Refused(Refusal.ADDRESS_BUSY, f"this client address holds its share of {what}")
    return Refused(Refusal.NODE_BUSY, f"the node holds as much {what} as it accepts; retry later")


class Accepted(enum.Enum):
    """What became of accepted metadata or slivers."""

    STORED = "stored"
    ALREADY_STORED = "already stored"
    BUFFERED = "buffered pending registration"


@dataclass(frozen=True)
class SliversAccepted:
    """The outcome of a sliver upload (one sliver, or a batch all or nothing)."""

    accepted: Accepted
    """Stored (some were new), all already stored, or buffered until the registration."""
    uploaded: int
    """Slivers in the upload."""
    stored: int
    """Slivers written now (the new ones; 0 unless `accepted` is `STORED`)."""


class Held(enum.Enum):
    """Whether the node has metadata or a sliver of a blob (the `status` routes)."""

    STORED = "stored"
    BUFFERED = "buffered"
    NONEXISTENT = "nonexistent"
