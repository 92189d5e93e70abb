"""Storage units, costs and WAL text (`core/pricing.py`), against upstream's definitions."""

from __future__ import annotations

import random

import pytest

from pywalrus.cli import output
from pywalrus.core import pricing
from pywalrus.core.config import EncodingConfig
from pywalrus.core.pricing import BYTES_PER_UNIT_SIZE, Prices, coin_text, format_wal


def test_storage_units_round_up_whole_mebibytes() -> None:
    assert pricing.storage_units(0) == 0
    assert pricing.storage_units(1) == 1
    assert pricing.storage_units(BYTES_PER_UNIT_SIZE) == 1
    assert pricing.storage_units(BYTES_PER_UNIT_SIZE + 1) == 2
    config = EncodingConfig(10)
    # A blob's units are those of its encoded length, as the contracts charge them.
    for size in (0, 1, 1000, 1_000_000):
        encoded = config.encoded_length(size)
        assert config.storage_units(size) == pricing.storage_units(encoded)


def test_costs_are_units_times_price_and_epochs() -> None:
    encoded = 3 * BYTES_PER_UNIT_SIZE + 5  # 4 units
    assert pricing.storage_cost(encoded, 100, 7) == 4 * 100 * 7
    assert pricing.write_cost(encoded, 20) == 4 * 20
    prices = Prices(storage_price=100, write_price=20)
    assert prices.storage_fee(encoded, 7) == 2800
    assert prices.write_fee(encoded) == 80
    assert prices.store_fee(encoded, 7) == 2880


def test_wal_text_is_exact() -> None:
    # A float would print 123456789.012345672 here.
    assert format_wal(123456789012345678) == "123456789.012345678 WAL"
    assert format_wal(123456789012345678, grouped=True) == "123,456,789.012345678 WAL"
    assert format_wal(1_500_000_000) == "1.5 WAL"
    assert format_wal(10**9) == "1 WAL"
    assert format_wal(0) == "0 WAL"
    assert format_wal(1) == "0.000000001 WAL"
    assert format_wal(-1_500_000_000) == "-1.5 WAL"
    assert output.exact_wal(123456789012345678) == "123,456,789.012345678 WAL"


@pytest.mark.parametrize(
    ("amount", "places", "text"),
    [
        (1_000_500_000, 3, "1.000 WAL"),  # a tie rounds to even
        (1_001_500_000, 3, "1.002 WAL"),
        (1_000_500_001, 3, "1.001 WAL"),
        (1_999_999_999, 3, "2.000 WAL"),  # rounding carries into the whole part
        (12_345_678_901_234, 4, "12345.6789 WAL"),
        (5 * 10**8, 0, "0 WAL"),
        (15 * 10**8, 0, "2 WAL"),
        (25 * 10**8, 0, "2 WAL"),
    ],
)
def test_rounded_coin_text(amount: int, places: int, text: str) -> None:
    assert coin_text(amount, "WAL", places=places) == text


def test_human_frost_rounds_as_the_float_formatting_it_replaced() -> None:
    """Upstream's `HumanReadableCoin` rounds the f64 value; with at most 4 decimals of amounts
    below 2^53 FROST the integer rounding gives the same digits."""
    rng = random.Random(7)
    for _ in range(2000):
        amount = rng.randrange(1, 10**15)
        ratio = pricing.FROST_PER_WAL // amount
        if ratio > 10_000:
            continue
        digits = 3 if ratio <= 100 else 4
        whole, rest = divmod(amount, pricing.FROST_PER_WAL)
        fraction = round(rest * 10**digits / pricing.FROST_PER_WAL)
        if fraction == 10**digits:
            whole, fraction = whole + 1, 0
        assert output.human_frost(amount) == f"{whole:,}.{fraction:0{digits}d} WAL"
    assert output.human_frost(1_500_000_000) == "1.500 WAL"
    assert output.human_frost(5_000) == "5,000 FROST"
    assert output.human_frost(9_900_990) == "0.0099 WAL"
    assert output.human_mist(10**7) == "0.010 SUI"
