"""Base58 (Bitcoin alphabet), the encoding of Sui transaction digests."""

from __future__ import annotations

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


_CHUNK = 58**10


def b58encode(data: bytes) -> str:
    value = int.from_bytes(data, "big")
    out = []
    # Peel ten digits per big-integer division; the inner divisions are on small ints.
    while value:
        value, chunk = divmod(value, _CHUNK)
        for _ in range(10):
            chunk, digit = divmod(chunk, 58)
            out.append(ALPHABET[digit])
    while out and out[-1] == ALPHABET[0]:
        out.pop()
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    value = 0
    for char in text:
        if char not in _INDEX:
            raise ValueError(f"invalid base58 character {char!r}")
        value = value * 58 + _INDEX[char]
    body = value.to_bytes((value.bit_length() + 7) // 8, "big")
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + body
