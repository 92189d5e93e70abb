"""BLS12-381 min-pk signatures, exactly as Walrus storage nodes use them.

Walrus nodes sign protocol messages with BLS12-381 keys in the "min-pk" arrangement: a public
key is a 48-byte compressed G1 point, a signature a 96-byte compressed G2 point, and messages are
hashed to G2 with the IETF basic-scheme ciphersuite `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_`
(`contracts/walrus/docs/msg_formats.txt`). Aggregation is point addition: a certificate carries
the sum of its signers' signatures, which verifies against the sum of their public keys. Rogue
keys are kept out of a committee by the proof of possession checked on chain; in Walrus that is
an ordinary basic-scheme signature over a BCS message (see `pywalrus.core.messages`), not the
IETF `PopProve` of the `_POP_` ciphersuite.

This module is the only one that touches a BLS binding. Two backends give identical bytes:

- ``blspy`` (default): `BasicSchemeMPL` from blspy, the fastest binding measured;
- ``arkworks``: curve operations of py-arkworks-bls12381 (sign = H(m)·sk, verify = one pairing
  check), selected with ``PYWALRUS_BLS_BACKEND=arkworks``.

Every parse is strict: wrong length, uncompressed form, the point at infinity, a point off the
curve or outside the prime-order subgroup, and non-canonical encodings are refused with a
`BlsError` that names the problem. Parsed points are kept next to their bytes, and public-key
parsing is memoised, so checking a certificate against a known committee costs point additions
and one pairing check rather than a decompression per signer.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import importlib
import os
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeAlias

from pywalrus.core.errors import BlsError, InvalidSignatureError

BLS_DST: Final = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_"
"""Domain separation tag of every Walrus BLS signature (basic scheme, hash to G2)."""
SECRET_KEY_LENGTH: Final = 32
PUBLIC_KEY_LENGTH: Final = 48
SIGNATURE_LENGTH: Final = 96
CURVE_ORDER: Final = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
"""r, the order of the BLS12-381 prime-order subgroups; secret keys lie in [1, r)."""
MIN_SEED_LENGTH: Final = 32
"""The IETF KeyGen requires at least 32 bytes of input keying material."""
KEY_FILE_FLAG: Final = 4
"""`SignatureScheme::BLS12381`: the byte before the scalar in Walrus' protocol key files."""

BACKEND_ENV_VAR: Final = "PYWALRUS_BLS_BACKEND"
DEFAULT_BACKEND: Final = "blspy"
BACKENDS: Final = ("blspy", "arkworks")

_KEYGEN_SALT: Final = b"BLS-SIG-KEYGEN-SALT-"
_KEYGEN_OKM_LENGTH: Final = 48
_COMPRESSED_FLAG: Final = 0x80
_INFINITY_FLAG: Final = 0x40
_PUBLIC_KEY_CACHE_SIZE: Final = 8192

_Native: TypeAlias = Any
"""An opaque scalar or curve point belonging to one backend."""


# --------------------------------------------------------------------------------------------
# Backends


class _Backend(Protocol):
    """The handful of curve operations the adapter needs; handles are backend-specific."""

    name: str

    def secret(self, data: bytes) -> _Native:
        """A native secret scalar from 32 big-endian bytes already checked to lie in [1, r)."""
        ...

    def public_key(self, secret: _Native) -> _Native:
        """sk · G1 generator."""
        ...

    def sign(self, secret: _Native, message: bytes) -> _Native:
        """sk · H(message), hashed to G2 with `BLS_DST`."""
        ...

    def g1_from_bytes(self, data: bytes) -> _Native:
        """Decompress a G1 point; raise ValueError with a reason if off-curve or off-subgroup."""
        ...

    def g2_from_bytes(self, data: bytes) -> _Native:
        """Decompress a G2 point; raise ValueError with a reason if off-curve or off-subgroup."""
        ...

    def g1_to_bytes(self, point: _Native) -> bytes: ...

    def g2_to_bytes(self, point: _Native) -> bytes: ...

    def g1_sum(self, points: Sequence[_Native]) -> _Native: ...

    def g2_sum(self, points: Sequence[_Native]) -> _Native: ...

    def g1_is_identity(self, point: _Native) -> bool: ...

    def g2_is_identity(self, point: _Native) -> bool: ...

    def verify(self, public_key: _Native, message: bytes, signature: _Native) -> bool:
        """e(pk, H(m)) == e(G1, sig)."""
        ...


class _BlspyBackend:
    """blspy 2.x: `BasicSchemeMPL` is the min-pk basic scheme with the NUL ciphersuite."""

    name = "blspy"

    def __init__(self) -> None:
        # Imported by name: blspy ships no type information.
        self._lib = importlib.import_module("blspy")
        self._scheme = self._lib.BasicSchemeMPL
        self._g1_identity = self._lib.G1Element()
        self._g2_identity = self._lib.G2Element()

    def secret(self, data: bytes) -> _Native:
        return self._lib.PrivateKey.from_bytes(data)

    def public_key(self, secret: _Native) -> _Native:
        return secret.get_g1()

    def sign(self, secret: _Native, message: bytes) -> _Native:
        return self._scheme.sign(secret, message)

    @staticmethod
    def _decode(element: Any, data: bytes) -> _Native:
        try:
            return element.from_bytes(data)
        except (ValueError, RuntimeError):
            pass
        try:
            element.from_bytes_unchecked(data)
        except (ValueError, RuntimeError):
            raise ValueError("not a point on the curve") from None
        raise ValueError("not in the prime-order subgroup")

    def g1_from_bytes(self, data: bytes) -> _Native:
        return self._decode(self._lib.G1Element, data)

    def g2_from_bytes(self, data: bytes) -> _Native:
        return self._decode(self._lib.G2Element, data)

    def g1_to_bytes(self, point: _Native) -> bytes:
        return bytes(point)

    def g2_to_bytes(self, point: _Native) -> bytes:
        return bytes(point)

    def g1_sum(self, points: Sequence[_Native]) -> _Native:
        return functools.reduce(lambda a, b: a + b, points, self._g1_identity)

    def g2_sum(self, points: Sequence[_Native]) -> _Native:
        return self._scheme.aggregate(list(points))

    def g1_is_identity(self, point: _Native) -> bool:
        return bool(point == self._g1_identity)

    def g2_is_identity(self, point: _Native) -> bool:
        return bool(point == self._g2_identity)

    def verify(self, public_key: _Native, message: bytes, signature: _Native) -> bool:
        return bool(self._scheme.verify(public_key, message, signature))


class _ArkworksBackend:
    """py-arkworks-bls12381: raw curve operations, composed into the basic scheme here."""

    name = "arkworks"

    def __init__(self) -> None:
        import py_arkworks_bls12381 as ark

        self._ark = ark
        self._g1_generator = ark.G1Point()
        self._neg_g1_generator = -ark.G1Point()

    def _hash_to_g2(self, message: bytes) -> _Native:
        # The argument order is (message, dst); swapped, it still returns a valid point, so
        # only the cross-library known-answer test would notice.
        return self._ark.G2Point.hash_to_curve(message, BLS_DST)

    def secret(self, data: bytes) -> _Native:
        return self._ark.Scalar.from_be_bytes(data)

    def public_key(self, secret: _Native) -> _Native:
        return self._g1_generator * secret

    def sign(self, secret: _Native, message: bytes) -> _Native:
        return self._hash_to_g2(message) * secret

    @staticmethod
    def _decode(decode_unchecked: Callable[[bytes], Any], data: bytes) -> _Native:
        try:
            point = decode_unchecked(data)
        except ValueError:
            raise ValueError("not a point on the curve") from None
        if not point.is_in_subgroup():
            raise ValueError("not in the prime-order subgroup")
        return point

    def g1_from_bytes(self, data: bytes) -> _Native:
        return self._decode(self._ark.G1Point.from_compressed_bytes_unchecked, data)

    def g2_from_bytes(self, data: bytes) -> _Native:
        return self._decode(self._ark.G2Point.from_compressed_bytes_unchecked, data)

    def g1_to_bytes(self, point: _Native) -> bytes:
        return bytes(point.to_compressed_bytes())

    def g2_to_bytes(self, point: _Native) -> bytes:
        return bytes(point.to_compressed_bytes())

    def g1_sum(self, points: Sequence[_Native]) -> _Native:
        return functools.reduce(lambda a, b: a + b, points, self._ark.G1Point.identity())

    def g2_sum(self, points: Sequence[_Native]) -> _Native:
        return functools.reduce(lambda a, b: a + b, points, self._ark.G2Point.identity())

    def g1_is_identity(self, point: _Native) -> bool:
        return bool(point == self._ark.G1Point.identity())

    def g2_is_identity(self, point: _Native) -> bool:
        return bool(point == self._ark.G2Point.identity())

    def verify(self, public_key: _Native, message: bytes, signature: _Native) -> bool:
        # e(pk, H(m)) · e(−G1, sig) == 1
        return bool(
            self._ark.GT.pairing_check(
                [public_key, self._neg_g1_generator], [self._hash_to_g2(message), signature]
            )
        )


_LOADED: dict[str, _Backend] = {}


def _backend(name: str) -> _Backend:
    """The backend called `name`, loaded on first use."""
    backend = _LOADED.get(name)
    if backend is None:
        if name == "blspy":
            backend = _BlspyBackend()
        elif name == "arkworks":
            backend = _ArkworksBackend()
        else:
            raise BlsError(
                f"unknown BLS backend {name!r}; {BACKEND_ENV_VAR} must be one of {BACKENDS}"
            )
        _LOADED[name] = backend
    return backend


_active: _Backend = _backend(os.environ.get(BACKEND_ENV_VAR, "").strip() or DEFAULT_BACKEND)


def backend_name() -> str:
    """The name of the backend new keys and signatures are made with."""
    return _active.name


def set_backend(name: str) -> None:
    """Switch the backend (for tests and benchmarks); existing values keep working."""
    global _active
    _active = _backend(name)


# --------------------------------------------------------------------------------------------
# Parsing


def _decode_point(
    data: bytes,
    length: int,
    what: str,
    decode: Callable[[bytes], _Native],
    encode: Callable[[_Native], bytes],
) -> _Native:
    if not isinstance(data, bytes):
        raise BlsError(f"a BLS {what} must be bytes, not {type(data).__name__}")
    if len(data) != length:
        raise BlsError(f"a BLS {what} is {length} bytes, got {len(data)}")
    if not data[0] & _COMPRESSED_FLAG:
        raise BlsError(f"invalid BLS {what}: not in compressed form")
    if data[0] & _INFINITY_FLAG:
        raise BlsError(f"invalid BLS {what}: the point at infinity")
    try:
        point = decode(data)
    except ValueError as exc:
        raise BlsError(f"invalid BLS {what}: {exc}") from None
    if encode(point) != data:
        raise BlsError(f"invalid BLS {what}: non-canonical encoding")
    return point


@functools.lru_cache(maxsize=_PUBLIC_KEY_CACHE_SIZE)
def _parse_public_key(name: str, data: bytes) -> _Native:
    backend = _backend(name)
    return _decode_point(
        data, PUBLIC_KEY_LENGTH, "public key", backend.g1_from_bytes, backend.g1_to_bytes
    )


def _parse_signature(backend: _Backend, data: bytes) -> _Native:
    return _decode_point(
        data, SIGNATURE_LENGTH, "signature", backend.g2_from_bytes, backend.g2_to_bytes
    )


# --------------------------------------------------------------------------------------------
# Values


@dataclass(frozen=True, slots=True, repr=False)
class BlsPublicKey:
    """A BLS12-381 min-pk public key: a G1 point of the prime-order subgroup, not the identity.

    Constructing one validates the point; parsing the same bytes again is served from a cache.
    """

    data: bytes
    """The 48-byte compressed G1 encoding (ZCash flag bits, big-endian x coordinate)."""
    _backend: _Backend = field(init=False, compare=False)
    """The backend that parsed `_point`."""
    _point: _Native = field(init=False, compare=False)
    """The decompressed point, owned by `_backend`."""

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise BlsError(f"a BLS public key must be bytes, not {type(self.data).__name__}")
        backend = _active
        object.__setattr__(self, "_point", _parse_public_key(backend.name, self.data))
        object.__setattr__(self, "_backend", backend)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> BlsPublicKey:
        """Parse and validate a 48-byte compressed public key; raise `BlsError` if invalid."""
        return cls(bytes(data))

    @classmethod
    def _from_point(cls, backend: _Backend, point: _Native) -> BlsPublicKey:
        key = object.__new__(cls)
        object.__setattr__(key, "data", backend.g1_to_bytes(point))
        object.__setattr__(key, "_backend", backend)
        object.__setattr__(key, "_point", point)
        return key

    def to_bytes(self) -> bytes:
        return self.data

    def __bytes__(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"BlsPublicKey({self.data.hex()})"

    def __reduce__(self) -> tuple[type[BlsPublicKey], tuple[bytes]]:
        # Native points do not pickle; the bytes are re-parsed on the other side.
        return (type(self), (self.data,))

    def verify(self, message: bytes, signature: BlsSignature) -> bool:
        """Whether `signature` is this key's signature on `message`."""
        return verify(self, message, signature)


@dataclass(frozen=True, slots=True, repr=False)
class BlsSignature:
    """A BLS12-381 min-pk signature (single or aggregate): a G2 subgroup point, not the identity."""

    data: bytes
    """The 96-byte compressed G2 encoding (ZCash flag bits, big-endian x.c1 ‖ x.c0)."""
    _backend: _Backend = field(init=False, compare=False)
    """The backend that parsed `_point`."""
    _point: _Native = field(init=False, compare=False)
    """The decompressed point, owned by `_backend`."""

    def __post_init__(self) -> None:
        backend = _active
        object.__setattr__(self, "_point", _parse_signature(backend, self.data))
        object.__setattr__(self, "_backend", backend)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> BlsSignature:
        """Parse and validate a 96-byte compressed signature; raise `BlsError` if invalid."""
        return cls(bytes(data))

    @classmethod
    def _from_point(cls, backend: _Backend, point: _Native) -> BlsSignature:
        signature = object.__new__(cls)
        object.__setattr__(signature, "data", backend.g2_to_bytes(point))
        object.__setattr__(signature, "_backend", backend)
        object.__setattr__(signature, "_point", point)
        return signature

    def to_bytes(self) -> bytes:
        return self.data

    def __bytes__(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"BlsSignature({self.data.hex()})"

    def __reduce__(self) -> tuple[type[BlsSignature], tuple[bytes]]:
        # Native points do not pickle; the bytes are re-parsed on the other side.
        return (type(self), (self.data,))


def _g1(key: BlsPublicKey, backend: _Backend) -> _Native:
    return key._point if key._backend is backend else _parse_public_key(backend.name, key.data)


def _g2(signature: BlsSignature, backend: _Backend) -> _Native:
    if signature._backend is backend:
        return signature._point
    return _parse_signature(backend, signature.data)


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def keygen(ikm: bytes, key_info: bytes = b"") -> int:
    """The IETF BLS KeyGen (draft-irtf-cfrg-bls-signature-05 §2.3): HKDF-SHA256 mod r.

    This is what blst, and hence fastcrypto and Walrus, run on 32 random bytes to make a
    node's protocol key; it equals EIP-2333's `HKDF_mod_r`.
    """
    if len(ikm) < MIN_SEED_LENGTH:
        raise BlsError(f"a BLS key seed must be at least {MIN_SEED_LENGTH} bytes, got {len(ikm)}")
    salt = _KEYGEN_SALT
    info = key_info + _KEYGEN_OKM_LENGTH.to_bytes(2, "big")
    while True:
        salt = hashlib.sha256(salt).digest()
        prk = hmac.new(salt, ikm + b"\x00", hashlib.sha256).digest()
        secret = int.from_bytes(_hkdf_expand(prk, info, _KEYGEN_OKM_LENGTH), "big") % CURVE_ORDER
        if secret:
            return secret


@dataclass(frozen=True, slots=True, eq=False)
class BlsPrivateKey:
    """A BLS12-381 secret scalar sk in [1, r); its public key is sk·G1."""

    data: bytes = field(repr=False)
    """The scalar as 32 big-endian bytes (the blst / fastcrypto encoding)."""
    _public_key: BlsPublicKey | None = field(init=False, repr=False, default=None)
    """The public key, computed on first use."""

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes) or len(self.data) != SECRET_KEY_LENGTH:
            raise BlsError(f"a BLS secret key is {SECRET_KEY_LENGTH} bytes")
        if not 0 < int.from_bytes(self.data, "big") < CURVE_ORDER:
            raise BlsError("a BLS secret key must be a scalar in [1, r)")

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> BlsPrivateKey:
        """Load a 32-byte big-endian scalar; raise `BlsError` if zero or not below r."""
        return cls(bytes(data))

    @classmethod
    def from_seed(cls, seed: bytes) -> BlsPrivateKey:
        """Derive a key deterministically from ≥ 32 bytes of secret seed (IETF KeyGen)."""
        return cls(keygen(seed).to_bytes(SECRET_KEY_LENGTH, "big"))

    @classmethod
    def generate(cls) -> BlsPrivateKey:
        """A fresh random key: KeyGen over 32 bytes from the OS CSPRNG, as Walrus does."""
        return cls.from_seed(secrets.token_bytes(MIN_SEED_LENGTH))

    def to_bytes(self) -> bytes:
        return self.data

    def to_base64(self) -> str:
        """Walrus' protocol key encoding: standard base64 of flag 0x04 ‖ the 32-byte scalar."""
        return base64.b64encode(bytes([KEY_FILE_FLAG]) + self.data).decode()

    @classmethod
    def from_base64(cls, text: str) -> BlsPrivateKey:
        """Parse `to_base64` output (a `protocol_key` file of a Walrus storage node)."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise BlsError("a BLS key file is not standard base64") from None
        if len(raw) != SECRET_KEY_LENGTH + 1 or raw[0] != KEY_FILE_FLAG:
            raise BlsError(
                f"a BLS key file holds flag {KEY_FILE_FLAG} and {SECRET_KEY_LENGTH} key bytes"
            )
        return cls(raw[1:])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BlsPrivateKey):
            return NotImplemented
        return hmac.compare_digest(self.data, other.data)

    def __hash__(self) -> int:
        return hash(self.public_key())

    def public_key(self) -> BlsPublicKey:
        """sk·G1, computed once."""
        if self._public_key is None:
            backend = _active
            point = backend.public_key(backend.secret(self.data))
            object.__setattr__(self, "_public_key", BlsPublicKey._from_point(backend, point))
        assert self._public_key is not None
        return self._public_key

    def sign(self, message: bytes) -> BlsSignature:
        """sk·H(message) with the NUL ciphersuite: the signature Walrus nodes produce."""
        backend = _active
        point = backend.sign(backend.secret(self.data), bytes(message))
        return BlsSignature._from_point(backend, point)


# --------------------------------------------------------------------------------------------
# Operations


def verify(public_key: BlsPublicKey, message: bytes, signature: BlsSignature) -> bool:
    """Whether `signature` is valid for `message` under `public_key` (single or aggregate)."""
    backend = _active
    return backend.verify(_g1(public_key, backend), bytes(message), _g2(signature, backend))


def verify_or_raise(public_key: BlsPublicKey, message: bytes, signature: BlsSignature) -> None:
    """Like `verify`, but raise `InvalidSignatureError` on failure."""
    if not verify(public_key, message, signature):
        raise InvalidSignatureError("BLS signature does not verify for this key and message")


def aggregate_signatures(signatures: Iterable[BlsSignature]) -> BlsSignature:
    """The sum of the signatures; it verifies against the sum of the signers' keys."""
    backend = _active
    points = [_g2(signature, backend) for signature in signatures]
    if not points:
        raise BlsError("cannot aggregate an empty list of signatures")
    point = backend.g2_sum(points)
    if backend.g2_is_identity(point):
        raise BlsError("the aggregate signature is the point at infinity")
    return BlsSignature._from_point(backend, point)


def aggregate_public_keys(public_keys: Iterable[BlsPublicKey]) -> BlsPublicKey:
    """The sum of the keys (safe only for keys with a checked proof of possession)."""
    backend = _active
    points = [_g1(key, backend) for key in public_keys]
    if not points:
        raise BlsError("cannot aggregate an empty list of public keys")
    point = backend.g1_sum(points)
    if backend.g1_is_identity(point):
        raise BlsError("the aggregate public key is the point at infinity")
    return BlsPublicKey._from_point(backend, point)
