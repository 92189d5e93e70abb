"""Base58 (Bitcoin alphabet) of transaction and checkpoint digests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pywalrus.core.base58 import b58decode, b58encode

KNOWN = [
    (b"", ""),
    (b"\x00", "1"),
    (b"\x00\x00\x01", "112"),
    (b"hello world", "StV1DL6CwTryKyV"),
    (bytes.fromhex("00000000000000000000"), "1111111111"),
    (bytes.fromhex("ff" * 32), "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG"),
]


@pytest.mark.parametrize(("raw", "text"), KNOWN)
def test_known_answers(raw: bytes, text: str) -> None:
    assert b58encode(raw) == text
    assert b58decode(text) == raw


@given(st.binary(max_size=80))
def test_round_trip(raw: bytes) -> None:
    assert b58decode(b58encode(raw)) == raw


def test_bad_character() -> None:
    with pytest.raises(ValueError, match="invalid base58 character '0'"):
        b58decode("10")
