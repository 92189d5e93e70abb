"""Objects, events and aborts: the vocabulary shared by the ledger and the contracts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pywalrus.core.jsoncodec import copy

SHARED = "shared"
IMMUTABLE = "immutable"


@dataclass
class Object:
    """A ledger object, addressed by ID, with an owner and a version."""

    id: str
    """0x-hex object ID (32 bytes)."""
    type: str
    """Type tag, e.g. `walrus::Blob`, `wal::Coin`."""
    owner: str
    """An 0x-hex address, `shared`, or `immutable`."""
    version: int
    """Sequence number of the transaction that last changed it."""
    fields: dict[str, Any] = field(default_factory=dict)
    """The object's content, JSON values."""

    def to_json(self) -> dict[str, Any]:
        return {
            "objectId": self.id,
            "type": self.type,
            "owner": self.owner,
            "version": self.version,
            "fields": self.fields,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Object:
        return cls(
            value["objectId"], value["type"], value["owner"], value["version"], value["fields"]
        )

    def clone(self) -> Object:
        return Object(self.id, self.type, self.owner, self.version, copy(self.fields))


@dataclass(frozen=True)
class Event:
    """An event emitted by a contract, with its place in the chain."""

    seq: int
    """Global cursor: events are numbered 0, 1, 2, … in execution order."""
    tx_digest: str
    """Digest of the emitting transaction."""
    event_index: int
    """Index among the transaction's events (Walrus' `eventSeq`)."""
    type: str
    """Event type, e.g. `BlobRegistered`."""
    fields: dict[str, Any]
    """The event's fields."""
    checkpoint: int
    """Checkpoint that seals this event."""
    timestamp_ms: int
    """Chain time of execution."""

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": {"txDigest": self.tx_digest, "eventSeq": str(self.event_index)},
            "type": self.type,
            "fields": self.fields,
            "checkpoint": self.checkpoint,
            "timestampMs": self.timestamp_ms,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Event:
        return cls(
            value["seq"],
            value["id"]["txDigest"],
            int(value["id"]["eventSeq"]),
            value["type"],
            value["fields"],
            value["checkpoint"],
            value["timestampMs"],
        )
