"""Checkpoints: every executed transaction is sealed into a signed, hash-chained checkpoint.

A checkpoint commits to its predecessor's digest, the transaction digest and a digest over the
transaction's events, and is signed by the chain key. A client that knows the chain's public
key can check that events it read are exactly those the chain executed, in order.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from functools import cached_property
from hashlib import blake2b
from typing import Any

from pywalrus.chain.objects import Event
from pywalrus.chain.tx import canonical_json
from pywalrus.core.accounts import Account, verify_signature
from pywalrus.core.base58 import b58encode
from pywalrus.core.errors import VerificationError

GENESIS_DIGEST = b58encode(bytes(32))


def events_digest(events: list[Event]) -> str:
    """BLAKE2b-256 over the canonical JSON of the events, base58."""
    body = canonical_json([e.to_json() for e in events])
    return b58encode(blake2b(body, digest_size=32).digest())


@dataclass(frozen=True)
class Checkpoint:
    """A signed seal over one transaction and its events."""

    sequence: int
    """0, 1, 2, …; equal to the transaction's position in the chain."""
    previous_digest: str
    """Digest of the previous checkpoint (all-zero digest for the first)."""
    tx_digest: str
    """The sealed transaction."""
    events_digest: str
    """`events_digest` of the transaction's events."""
    first_event: int
    """Cursor of the transaction's first event."""
    event_count: int
    """Number of events the transaction emitted."""
    timestamp_ms: int
    """Chain time of execution."""
    epoch: int
    """Walrus epoch at execution."""
    signature: str = ""
    """Chain key's signature over the digest (Sui-style serialized Ed25519)."""

    def summary(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "previousDigest": self.previous_digest,
            "txDigest": self.tx_digest,
            "eventsDigest": self.events_digest,
            "firstEvent": self.first_event,
            "eventCount": self.event_count,
            "timestampMs": self.timestamp_ms,
            "epoch": self.epoch,
        }

    def digest_bytes(self) -> bytes:
        return self._digest_bytes

    @cached_property
    def _digest_bytes(self) -> bytes:
        return blake2b(canonical_json(self.summary()), digest_size=32).digest()

    @cached_property
    def digest(self) -> str:
        return b58encode(self._digest_bytes)

    def signed(self, key: Account) -> Checkpoint:
        signed = dataclasses.replace(self, signature=key.sign(self.digest_bytes()))
        # The signature is not part of the digest: hand over what was computed already.
        for name in ("_digest_bytes", "digest"):
            if name in self.__dict__:
                signed.__dict__[name] = self.__dict__[name]
        return signed

    def verify(self, chain_address: str) -> None:
        """Raise `VerificationError` unless the chain key signed this checkpoint."""
        if verify_signature(self.digest_bytes(), self.signature) != chain_address:
            raise VerificationError(f"checkpoint {self.sequence} is not signed by the chain key")

    def verify_events(self, events: list[Event]) -> None:
        """Raise unless `events` are exactly the events this checkpoint seals."""
        if len(events) != self.event_count or events_digest(events) != self.events_digest:
            raise VerificationError(f"events do not match checkpoint {self.sequence}")

    def to_json(self) -> dict[str, Any]:
        return {**self.summary(), "digest": self.digest, "signature": self.signature}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Checkpoint:
        return cls(
            sequence=value["sequence"],
            previous_digest=value["previousDigest"],
            tx_digest=value["txDigest"],
            events_digest=value["eventsDigest"],
            first_event=value["firstEvent"],
            event_count=value["eventCount"],
            timestamp_ms=value["timestampMs"],
            epoch=value["epoch"],
            signature=value["signature"],
        )


def verify_chain(checkpoints: list[Checkpoint], chain_address: str) -> None:
    """Check signatures and hash links of consecutive checkpoints."""
    for previous, current in itertools.pairwise(checkpoints):
        if current.sequence != previous.sequence + 1 or current.previous_digest != previous.digest:
            raise VerificationError(
                f"checkpoint {current.sequence} does not follow its predecessor"
            )
    for checkpoint in checkpoints:
        checkpoint.verify(chain_address)
