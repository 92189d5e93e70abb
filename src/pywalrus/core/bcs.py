"""Binary Canonical Serialization (BCS), the wire format of Walrus and Sui.

Integers are little-endian, sequence lengths and enum variant indices are ULEB128,
and a value must be consumed exactly: readers reject truncated input and trailing bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pywalrus.core.errors import BcsError

MAX_ULEB128_U32: Final = (1 << 32) - 1


class BcsWriter:
    """Appends BCS-encoded values to a growing buffer."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def u8(self, value: int) -> BcsWriter:
        return self._int(value, 1)

    def u16(self, value: int) -> BcsWriter:
        return self._int(value, 2)

    def u32(self, value: int) -> BcsWriter:
        return self._int(value, 4)

    def u64(self, value: int) -> BcsWriter:
        return self._int(value, 8)

    def u256(self, value: int) -> BcsWriter:
        return self._int(value, 32)

    def boolean(self, value: bool) -> BcsWriter:
        return self.u8(1 if value else 0)

    def uleb128(self, value: int) -> BcsWriter:
        if not 0 <= value <= MAX_ULEB128_U32:
            raise BcsError(f"ULEB128 value {value} out of range")
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            if value:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                break
        self._parts.append(bytes(out))
        return self

    def fixed_bytes(self, data: bytes) -> BcsWriter:
        """Raw bytes with no length prefix (fixed-size arrays)."""
        self._parts.append(bytes(data))
        return self

    def vector(self, data: bytes) -> BcsWriter:
        """A `vector<u8>`: ULEB128 length then the bytes."""
        self.uleb128(len(data))
        self._parts.append(bytes(data))
        return self

    def string(self, text: str) -> BcsWriter:
        return self.vector(text.encode())

    def string_map(self, mapping: Mapping[str, str]) -> BcsWriter:
        """A `BTreeMap<String, String>`: entries in the order of their serialized keys.

        BCS sorts a map by the bytes of each serialized key, length prefix included, so "b"
        comes before "aa" (unlike plain string order).
        """
        entries = sorted(
            (BcsWriter().string(key).finish(), value) for key, value in mapping.items()
        )
        self.uleb128(len(entries))
        for key, value in entries:
            self._parts.append(key)
            self.string(value)
        return self

    def _int(self, value: int, width: int) -> BcsWriter:
        if not 0 <= value < 1 << (8 * width):
            raise BcsError(f"integer {value} does not fit u{8 * width}")
        self._parts.append(value.to_bytes(width, "little"))
        return self

    def finish(self) -> bytes:
        return b"".join(self._parts)


class BcsReader:
    """Reads BCS values from a buffer, failing on truncation; `finish` rejects trailing bytes."""

    def __init__(self, data: bytes | memoryview, what: str = "value") -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def _take(self, count: int) -> memoryview:
        if count < 0 or self._pos + count > len(self._data):
            raise BcsError(
                f"truncated {self._what}: needed {count} more bytes at offset {self._pos}"
            )
        view = self._data[self._pos : self._pos + count]
        self._pos += count
        return view

    def peek(self, count: int) -> memoryview | None:
        """The next `count` bytes without consuming them, or None if fewer remain."""
        if count > self.remaining:
            return None
        return self._data[self._pos : self._pos + count]

    def skip(self, count: int) -> None:
        self._take(count)

    def _int(self, width: int) -> int:
        return int.from_bytes(self._take(width), "little")

    def u8(self) -> int:
        return self._int(1)

    def u16(self) -> int:
        return self._int(2)

    def u32(self) -> int:
        return self._int(4)

    def u64(self) -> int:
        return self._int(8)

    def u256(self) -> int:
        return self._int(32)

    def boolean(self) -> bool:
        value = self.u8()
        if value > 1:
            raise BcsError(f"invalid bool byte {value} in {self._what}")
        return value == 1

    def uleb128(self) -> int:
        value = 0
        shift = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if byte == 0 and shift > 0:
                    raise BcsError(f"non-canonical ULEB128 in {self._what}")
                break
            shift += 7
            if shift > 28:
                raise BcsError(f"ULEB128 too long in {self._what}")
        if value > MAX_ULEB128_U32:
            raise BcsError(f"ULEB128 value out of range in {self._what}")
        return value

    def fixed_bytes(self, count: int) -> bytes:
        return bytes(self._take(count))

    def vector(self) -> bytes:
        return bytes(self._take(self.uleb128()))

    def vector_view(self) -> memoryview:
        """A `vector<u8>` as a zero-copy view."""
        return self._take(self.uleb128())

    def string(self) -> str:
        try:
            return self.vector().decode()
        except UnicodeDecodeError:
            raise BcsError(f"invalid UTF-8 string in {self._what}") from None

    def string_map(self) -> dict[str, str]:
        """A `BTreeMap<String, String>`; serialized keys must strictly increase (canonical)."""
        result: dict[str, str] = {}
        previous: bytes | None = None
        for _ in range(self.uleb128()):
            start = self._pos
            key = self.string()
            serialized = bytes(self._data[start : self._pos])
            if previous is not None and serialized <= previous:
                raise BcsError(f"map keys out of canonical order in {self._what}")
            previous = serialized
            result[key] = self.string()
        return result

    def finish(self) -> None:
        if self.remaining:
            raise BcsError(f"{self.remaining} trailing bytes after {self._what}")
