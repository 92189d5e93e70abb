"""Base58 (Bitcoin alphabet), the encoding of Sui transaction digests."""

from __future__ import annotations

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]
"""Two base58 digits for each value below 58², most significant first."""
_CHUNK = 58**10


def b58encode(data: bytes) -> str:
    value = int.from_bytes(data, "big")
    out = []
    # Peel ten digits per big-integer division, then two per small division.
    while value:
        value, chunk = divmod(value, _CHUNK)
        for _ in range(5):
            chunk, pair = divmod(chunk, 3364)
            out.append(_PAIRS[pair])
    text = "".join(reversed(out)).lstrip(ALPHABET[0])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + text


def b58decode(text: str) -> bytes:
    value = 0
    for char in text:
        if char not in _INDEX:
            raise ValueError(f"invalid base58 character {char!r}")
        value = value * 58 + _INDEX[char]
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + body
