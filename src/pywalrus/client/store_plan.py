"""How long a store lasts, decided before anything is paid (pure functions).

A store names its lifetime as upstream's `--epochs N | max`, `--end-epoch E` or
`--earliest-expiry-time T`; each is turned into a number of epochs ahead of the current one
and checked against the system's maximum, with errors in the terms the user gave. An earliest
expiry time must lie in the future (after the current epoch's start and the chain's clock);
it then takes `(T − epoch start) / epoch duration + 1` epochs, as upstream counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from pywalrus.core.config import EncodingConfig
from pywalrus.core.errors import StoreRefused

EPOCHS_MAX: Literal["max"] = "max"
"""`--epochs max`: as many epochs as the system allows."""


@dataclass(frozen=True)
class StorePlan:
    """What stores under one set of options will be: lifetime, size limit and prices."""

    epoch: int
    """The current epoch."""
    epochs_ahead: int
    """Epochs the blobs are stored for."""
    encoding: EncodingConfig
    """The committee's encoding (its maximum blob size, encoded lengths)."""
    storage_price: int
    """FROST per storage unit and epoch."""
    write_price: int
    """FROST per storage unit, once."""

    @property
    def end_epoch(self) -> int:
        return self.epoch + self.epochs_ahead

    @property
    def max_blob_size(self) -> int:
        return self.encoding.max_blob_size

    def cost(self, length: int) -> int:
        """FROST to store a blob of `length` bytes on newly bought storage."""
        units = self.encoding.storage_units(length)
        return (self.storage_price * self.epochs_ahead + self.write_price) * units


@dataclass(frozen=True)
class ChainTime:
    """What the chain says about time, for planning a store."""

    epoch: int
    """The current epoch."""
    max_epochs_ahead: int
    """The system's limit on epochs ahead."""
    epoch_duration_ms: int
    """Length of an epoch."""
    epoch_start_ms: int | None
    """Start of the current epoch; None while an epoch change is in progress."""
    now_ms: int
    """The chain's clock."""

    @classmethod
    def from_chain(cls, system: dict[str, Any], staking: dict[str, Any], now_ms: int) -> ChainTime:
        state = staking["epoch_state"]
        start = state.get("at_ms") if state["kind"] != "EpochChangeSync" else None
        return cls(
            int(system["epoch"]),
            int(system["max_epochs_ahead"]),
            int(staking["epoch_duration_ms"]),
            None if start is None else int(start),
            now_ms,
        )


def epochs_ahead(
    chain: ChainTime,
    epochs: int | Literal["max"] | None = None,
    end_epoch: int | None = None,
    earliest_expiry_ms: int | None = None,
) -> int:
    """Epochs ahead of the current one that the given lifetime needs: an end epoch if given,
    else an earliest expiry time if given, else a number of epochs (default 1)."""
    limit = chain.max_epochs_ahead
    if end_epoch is not None:
        if end_epoch <= chain.epoch:
            raise StoreRefused(
                f"end epoch {end_epoch} must be greater than the current epoch {chain.epoch}"
            )
        ahead = end_epoch - chain.epoch
        if ahead > limit:
            raise StoreRefused(
                f"end epoch {end_epoch} is {ahead} epochs ahead of the current epoch "
                f"{chain.epoch}; blobs can only be stored for up to {limit} epochs ahead"
            )
        return ahead
    if earliest_expiry_ms is not None:
        start = chain.epoch_start_ms if chain.epoch_start_ms is not None else chain.now_ms
        if earliest_expiry_ms <= max(start, chain.now_ms):
            raise StoreRefused(
                f"earliest expiry time {_utc(earliest_expiry_ms)} is not in the future "
                f"(chain time {_utc(chain.now_ms)}, current epoch {chain.epoch} started "
                f"{_utc(start)})"
            )
        ahead = (earliest_expiry_ms - start) // chain.epoch_duration_ms + 1
        if ahead > limit:
            raise StoreRefused(
                f"earliest expiry time {_utc(earliest_expiry_ms)} is {ahead} epochs ahead; "
                f"blobs can only be stored for up to {limit} epochs ahead"
            )
        return ahead
    if epochs == EPOCHS_MAX:
        return limit
    count = 1 if epochs is None else int(epochs)
    if count < 1:
        raise StoreRefused(f"invalid epoch count {count}; give a number > 0 or `max`")
    if count > limit:
        raise StoreRefused(
            f"blobs can only be stored for up to {limit} epochs ahead; "
            f"{count} epochs were requested"
        )
    return count


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")
