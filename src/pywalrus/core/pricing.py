"""What storage costs, and WAL amounts as text.

Storage is bought in units of 1 MiB of *encoded* size, rounded up; a price is FROST per unit
and epoch (storage) or per unit once (the write fee of a registration). Upstream computes this
in `system_state_inner.move` (`storage_units_from_size`) and in `walrus-sui/src/utils.rs`
(`price_for_encoded_length`, `write_price_for_encoded_length`); the contracts, the SDK and
`walrus info` all call the functions here, so they cannot disagree.

Amounts are integers throughout: FROST is exact, and so is its text (no floats, which turn
123456789012345678 FROST into `123456789.012345672 WAL`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pywalrus.core.types import Frost

BYTES_PER_UNIT_SIZE: Final = 1024 * 1024
"""Storage is bought in units of 1 MiB of encoded size."""
WAL_DECIMALS: Final = 9
"""1 WAL = 10^9 FROST (and 1 SUI = 10^9 MIST likewise)."""
FROST_PER_WAL: Final = 10**WAL_DECIMALS


def storage_units(encoded_size: int) -> int:
    """Storage units (1 MiB each, rounded up) of `encoded_size` bytes (upstream
    `storage_units_from_size`)."""
    return -(-encoded_size // BYTES_PER_UNIT_SIZE)


def storage_cost(encoded_size: int, price_per_unit: int, epochs: int) -> Frost:
    """FROST to keep `encoded_size` bytes for `epochs` epochs at `price_per_unit` per unit and
    epoch (upstream `price_for_encoded_length`)."""
    return Frost(storage_units(encoded_size) * price_per_unit * epochs)


def write_cost(encoded_size: int, price_per_unit: int) -> Frost:
    """The one-off FROST to register a blob of `encoded_size` encoded bytes (upstream
    `write_price_for_encoded_length`)."""
    return Frost(storage_units(encoded_size) * price_per_unit)


@dataclass(frozen=True, slots=True)
class Prices:
    """The system's current prices (upstream `PriceComputation`)."""

    storage_price: int
    """FROST per storage unit and epoch (`storage_price_per_unit_size`)."""
    write_price: int
    """FROST per storage unit, once per registration (`write_price_per_unit_size`)."""

    def storage_fee(self, encoded_size: int, epochs: int) -> Frost:
        """Storage for `epochs` epochs."""
        return storage_cost(encoded_size, self.storage_price, epochs)

    def write_fee(self, encoded_size: int) -> Frost:
        """The write fee of one registration."""
        return write_cost(encoded_size, self.write_price)

    def store_fee(self, encoded_size: int, epochs: int) -> Frost:
        """A registration on newly bought storage: storage for `epochs` plus the write fee."""
        return Frost(self.storage_fee(encoded_size, epochs) + self.write_fee(encoded_size))


def coin_text(amount: int, unit: str, *, places: int | None = None, grouped: bool = False) -> str:
    """`amount` in a coin's smallest unit (10^9 per `unit`) as text in `unit`.

    With `places` None the value is exact and trailing zeros go (`1.5 WAL`); otherwise it is
    rounded half to even to that many decimals, zeros kept (`1.500 WAL`), as upstream's
    `HumanReadableCoin` formats the f64 value. `grouped` separates thousands with commas.
    """
    sign = "-" if amount < 0 else ""
    whole, rest = divmod(abs(amount), FROST_PER_WAL)
    if places is None:
        fraction = f"{rest:0{WAL_DECIMALS}d}".rstrip("0")
    else:
        scaled, remainder = divmod(rest * 10**places, FROST_PER_WAL)
        last = scaled if places else whole  # the digit a tie rounds to even
        if 2 * remainder > FROST_PER_WAL or (2 * remainder == FROST_PER_WAL and last % 2):
            scaled += 1
        if scaled == 10**places:
            whole, scaled = whole + 1, 0
        fraction = f"{scaled:0{places}d}" if places else ""
    integer = f"{whole:,}" if grouped else str(whole)
    return f"{sign}{integer}{'.' + fraction if fraction else ''} {unit}"


def format_wal(frost: int, *, grouped: bool = False) -> str:
    """FROST as WAL, exactly: 123456789012345678 → `123456789.012345678 WAL`, 1500000000 →
    `1.5 WAL`."""
    return coin_text(frost, "WAL", grouped=grouped)
