"""The SDK's exception tree (all under `WalrusError`)."""

from __future__ import annotations

from pywalrus.core.errors import InconsistentBlobError, WalrusError

__all__ = [
    "BlobNotFound",
    "InconsistentBlob",
    "InsufficientFunds",
    "InsufficientGas",
    "NodeError",
    "NotEnoughConfirmations",
    "NotEnoughSlivers",
    "WalrusError",
]

InconsistentBlob = InconsistentBlobError
"""The blob's slivers were encoded inconsistently; its data is never returned."""


class NodeError(WalrusError):
    """A storage node answered with an error or could not be reached."""

    def __init__(self, url: str, status: int, reason: str, message: str) -> None:
        super().__init__(f"{url}: {status} {reason}: {message}")
        self.url = url
        self.status = status
        self.reason = reason


class NotEnoughConfirmations(WalrusError):
    """Storage confirmations covered less than a quorum of shards."""


class NotEnoughSlivers(WalrusError):
    """Fewer verified slivers than decoding needs could be fetched."""


class BlobNotFound(WalrusError):
    """The blob does not exist, has expired, or was deleted."""


class InsufficientFunds(WalrusError):
    """The wallet's WAL or gas does not cover the operation."""


class InsufficientGas(InsufficientFunds):
    """The wallet's gas (SUI, not WAL) does not cover a transaction's fee."""
