"""What a client and an upload relay agree on (upstream's `walrus-sdk/src/upload_relay`):
the relay's tip configuration, the auth package a tip transaction commits to, and the JSON of
the relay's answer.

An upload relay takes a registered blob's bytes, encodes them, sends the slivers to the nodes
and hands back the confirmation certificate; the client certifies it on chain. A relay that
wants paying says so at `GET /v1/tip-config`; the client then pays the tip in a transaction
whose input 0 is the BCS of a `HashedAuthPackage`: SHA-256 of the blob, SHA-256 of a random
nonce, and the blob's length. Sending the blob with the transaction ID and the nonce proves
that whoever paid sent it (only the payer knows the nonce) and that it is the blob paid for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from pywalrus.core.accounts import parse_address
from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.certificates import Certificate
from pywalrus.core.config import EncodingConfig
from pywalrus.core.crypto.bls import BlsSignature
from pywalrus.core.errors import (
    AuthPackageError,
    BcsError,
    BlsError,
    CertificateError,
    InvalidAddressError,
)
from pywalrus.core.types import BlobId

BLOB_UPLOAD_RELAY_ROUTE: Final = "/v1/blob-upload-relay"
TIP_CONFIG_ROUTE: Final = "/v1/tip-config"
DIGEST_LEN: Final = 32
NONCE_LEN: Final = 32
U64_MAX: Final = (1 << 64) - 1


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# Auth package -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HashedAuthPackage:
    """What a tip transaction carries as input 0 (upstream's `HashedAuthPackage`); BCS: the
    two 32-byte digests as fixed arrays, then the length as a little-endian u64 (72 bytes)."""

    blob_digest: bytes
    """SHA-256 of the unencoded blob."""
    nonce_digest: bytes
    """SHA-256 of the nonce the client sends the relay with the blob."""
    unencoded_length: int
    """The blob's length in bytes."""

    def to_bcs(self) -> bytes:
        return (
            BcsWriter()
            .fixed_bytes(self.blob_digest)
            .fixed_bytes(self.nonce_digest)
            .u64(self.unencoded_length)
            .finish()
        )

    @classmethod
    def from_bcs(cls, data: bytes) -> HashedAuthPackage:
        reader = BcsReader(data, "auth package")
        package = cls(reader.fixed_bytes(DIGEST_LEN), reader.fixed_bytes(DIGEST_LEN), reader.u64())
        reader.finish()
        return package

    def check(self, blob: bytes, nonce: bytes) -> None:
        """Upstream's `auth_package_checks`, in its order: the nonce first (refuses whoever
        did not pay before any work), then the length (the hashing about to be done is the
        one paid for), then the blob's digest. Raises `AuthPackageError`."""
        self.check_nonce(nonce)
        self.check_blob(blob)

    def check_nonce(self, nonce: bytes) -> None:
        """The first check alone: a relay makes it before it reads the body."""
        if sha256(nonce) != self.nonce_digest:
            raise AuthPackageError(
                "INVALID_NONCE_HASH", "the provided nonce hash in the tip is invalid"
            )

    def check_blob(self, blob: bytes) -> None:
        """The length and digest checks."""
        if len(blob) != self.unencoded_length:
            raise AuthPackageError(
                "BLOB_LENGTH_MISMATCH",
                f"the blob is {len(blob)} bytes, the tip transaction paid for "
                f"{self.unencoded_length}",
            )
        if sha256(blob) != self.blob_digest:
            raise AuthPackageError(
                "BLOB_DIGEST_MISMATCH",
                "the SHA-256 of the uploaded blob is not the blob digest in the tip transaction",
            )


@dataclass(frozen=True)
class AuthPackage:
    """The client's side of the auth package: the nonce in the clear (upstream's
    `AuthPackage`)."""

    blob_digest: bytes
    """SHA-256 of the unencoded blob."""
    nonce: bytes
    """32 random bytes, sent to the relay with the blob."""
    unencoded_length: int
    """The blob's length in bytes."""

    @classmethod
    def for_blob(cls, blob: bytes, nonce: bytes | None = None) -> AuthPackage:
        return cls(
            sha256(blob), secrets.token_bytes(NONCE_LEN) if nonce is None else nonce, len(blob)
        )

    def hashed(self) -> HashedAuthPackage:
        return HashedAuthPackage(self.blob_digest, sha256(self.nonce), self.unencoded_length)


def encode_nonce(nonce: bytes) -> str:
    """A nonce in the query string: URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(nonce).rstrip(b"=").decode()


def decode_nonce(text: str) -> bytes:
    """The 32 bytes of a nonce from the query string; `ValueError` if not that."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("the nonce is not URL-safe base64") from None
    if len(raw) != NONCE_LEN or encode_nonce(raw) != text:
        raise ValueError(f"the nonce must be {NONCE_LEN} bytes in unpadded URL-safe base64")
    return raw


# Tips ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConstTip:
    """A constant tip (MIST), whatever the blob."""

    amount: int
    """The tip."""


@dataclass(frozen=True)
class LinearTip:
    """`base + encoded_size_mul_per_kib × ⌈encoded size / 1 KiB⌉` MIST (upstream rounds the
    encoded size up, whatever its API text says)."""

    base: int
    """The tip of every upload."""
    encoded_size_mul_per_kib: int
    """The tip per KiB of the blob's encoded size over all shards."""


TipKind: TypeAlias = ConstTip | LinearTip


@dataclass(frozen=True)
class SendTip:
    """The relay wants a tip: how much, paid in gas (MIST, as upstream's SUI) to `address`."""

    address: str
    """The relay's address, 0x-hex."""
    kind: TipKind
    """How the tip is computed."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", parse_address(self.address))


TipConfig: TypeAlias = SendTip | None
"""A relay's tip configuration: None is upstream's `no_tip`."""


def compute_tip(kind: TipKind, n_shards: int, unencoded_length: int) -> int:
    """The tip for a blob of `unencoded_length` bytes on a network of `n_shards` (MIST)."""
    if isinstance(kind, ConstTip):
        return kind.amount
    encoded = EncodingConfig(n_shards).encoded_length(unencoded_length)
    return kind.base + -(-encoded // 1024) * kind.encoded_size_mul_per_kib


def tip_config_json(config: TipConfig) -> Any:
    """Upstream's JSON: `"no_tip"` or `{"send_tip": {"address", "kind": {"const": n} |
    {"linear": {"base", "encoded_size_mul_per_kib"}}}}`."""
    if config is None:
        return "no_tip"
    kind: dict[str, Any]
    if isinstance(config.kind, ConstTip):
        kind = {"const": config.kind.amount}
    else:
        kind = {
            "linear": {
                "base": config.kind.base,
                "encoded_size_mul_per_kib": config.kind.encoded_size_mul_per_kib,
            }
        }
    return {"send_tip": {"address": config.address, "kind": kind}}


def _amount(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U64_MAX:
        raise ValueError(f"{name} must be an integer from 0 to 2^64 - 1, not {value!r}")
    return value


def _one_key(value: Any, what: str, keys: tuple[str, ...]) -> tuple[str, Any]:
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in keys:
        raise ValueError(f"{what} must be one of {', '.join(keys)}, not {value!r}")
    ((key, body),) = value.items()
    return str(key), body


def parse_tip_config(value: Any) -> TipConfig:
    """Read upstream's tip configuration JSON (or the same shape from YAML); `ValueError`
    names what is wrong."""
    if value == "no_tip":
        return None
    _, body = _one_key(value, "a tip config", ("no_tip", "send_tip"))
    if body is None:
        return None
    if not isinstance(body, Mapping) or set(body) != {"address", "kind"}:
        raise ValueError("send_tip needs exactly an address and a kind")
    name, kind_body = _one_key(body["kind"], "a tip kind", ("const", "linear"))
    kind: TipKind
    if name == "const":
        kind = ConstTip(_amount(kind_body, "const"))
    else:
        if not isinstance(kind_body, Mapping) or set(kind_body) != {
            "base",
            "encoded_size_mul_per_kib",
        }:
            raise ValueError("a linear tip needs exactly base and encoded_size_mul_per_kib")
        kind = LinearTip(
            _amount(kind_body["base"], "base"),
            _amount(kind_body["encoded_size_mul_per_kib"], "encoded_size_mul_per_kib"),
        )
    address = body["address"]
    try:
        return SendTip(address if isinstance(address, str) else repr(address), kind)
    except InvalidAddressError as exc:
        raise ValueError(str(exc)) from None


# The relay's answer -------------------------------------------------------------------------


def relay_response_json(blob_id: BlobId, certificate: Certificate) -> dict[str, Any]:
    """Upstream's `ResponseType` as serde writes it: the blob ID and the message as arrays of
    byte values, the aggregate signature as standard padded base64 (fastcrypto's)."""
    return {
        "blob_id": list(blob_id.value),
        "confirmation_certificate": {
            "signers": list(certificate.signers),
            "serialized_message": list(certificate.serialized_message),
            "signature": base64.b64encode(certificate.signature.to_bytes()).decode(),
        },
    }


def _byte_list(value: Any, name: str) -> bytes:
    if not isinstance(value, list) or not all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value
    ):
        raise BcsError(f"{name} must be a list of byte values")
    return bytes(value)


def parse_relay_response(value: Any) -> tuple[BlobId, Certificate]:
    """The blob ID and certificate of a relay's answer; `BcsError` if it is not that shape.
    (Whether the certificate is any good is for the caller to check.)"""
    if not isinstance(value, Mapping):
        raise BcsError("the relay's answer must be a JSON object")
    raw_id = _byte_list(value.get("blob_id"), "blob_id")
    if len(raw_id) != DIGEST_LEN:
        raise BcsError("blob_id must be 32 bytes")
    body = value.get("confirmation_certificate")
    if not isinstance(body, Mapping):
        raise BcsError("the answer has no confirmation_certificate object")
    signers = body.get("signers")
    if not isinstance(signers, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in signers
    ):
        raise BcsError("signers must be a list of member indices")
    message = _byte_list(body.get("serialized_message"), "serialized_message")
    signature = body.get("signature")
    if not isinstance(signature, str):
        raise BcsError("signature must be a base64 string")
    try:
        padded = signature + "=" * (-len(signature) % 4)
        url_safe = "-" in signature or "_" in signature
        raw = base64.b64decode(padded, altchars=b"-_" if url_safe else None, validate=True)
        certificate = Certificate(tuple(signers), message, BlsSignature.from_bytes(raw))
    except (binascii.Error, ValueError, BlsError, CertificateError) as exc:
        raise BcsError(f"confirmation_certificate: {exc}") from None
    return BlobId(raw_id), certificate
