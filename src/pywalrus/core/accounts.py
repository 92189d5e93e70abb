"""Ed25519 accounts with Sui-style addresses, as the coordination chain uses them.

An address is BLAKE2b-256(flag ‖ public key) with flag 0x00 for Ed25519, printed as 0x-hex.
A serialized signature is flag ‖ 64-byte signature ‖ 32-byte public key (Sui's layout),
base64 in JSON.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import cached_property
from hashlib import blake2b

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from pywalrus.core.errors import InvalidAddressError, VerificationError

ED25519_FLAG = 0x00
ADDRESS_LENGTH = 32
SIGNATURE_LENGTH = 1 + 64 + 32


def parse_address(text: str) -> str:
    """Normalise a 0x-hex address or object ID (32 bytes) to lower-case, full length."""
    if not isinstance(text, str) or not text.startswith("0x"):
        raise InvalidAddressError(f"invalid address {text!r}: expected 0x-prefixed hex")
    digits = text[2:]
    if not 0 < len(digits) <= 2 * ADDRESS_LENGTH:
        raise InvalidAddressError(f"invalid address {text!r}: expected up to 64 hex digits")
    try:
        raw = bytes.fromhex(digits.rjust(2 * ADDRESS_LENGTH, "0"))
    except ValueError:
        raise InvalidAddressError(f"invalid address {text!r}: not hex") from None
    return "0x" + raw.hex()


def address_bytes(address: str) -> bytes:
    return bytes.fromhex(parse_address(address)[2:])


def address_from_public_key(public_key: bytes) -> str:
    return "0x" + blake2b(bytes([ED25519_FLAG]) + public_key, digest_size=32).hexdigest()


@dataclass(frozen=True)
class Account:
    """An Ed25519 key pair that signs chain transactions."""

    private_key: Ed25519PrivateKey
    """The signing key."""

    @classmethod
    def generate(cls) -> Account:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Account:
        """A deterministic account from a 32-byte seed (private key bytes)."""
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def seed(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @cached_property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @cached_property
    def address(self) -> str:
        return address_from_public_key(self.public_key)

    def sign(self, message: bytes) -> str:
        """Sui-style serialized signature (flag ‖ sig ‖ pk), base64."""
        signature = self.private_key.sign(message)
        return base64.b64encode(bytes([ED25519_FLAG]) + signature + self.public_key).decode()

    def to_keystore(self) -> str:
        """The base64 `flag ‖ private key` form of a Sui keystore entry."""
        return base64.b64encode(bytes([ED25519_FLAG]) + self.seed).decode()

    @classmethod
    def from_keystore(cls, text: str) -> Account:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("invalid keystore entry: not base64") from None
        if len(raw) != 33 or raw[0] != ED25519_FLAG:
            raise ValueError("invalid keystore entry: expected an Ed25519 key")
        return cls.from_seed(raw[1:])


def verify_signature(message: bytes, signature: str) -> str:
    """Check a serialized signature over `message`; return the signer's address."""
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise VerificationError("signature is not base64") from None
    if len(raw) != SIGNATURE_LENGTH or raw[0] != ED25519_FLAG:
        raise VerificationError("signature is not an Ed25519 signature in Sui's layout")
    sig, public_key = raw[1:65], raw[65:]
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, message)
    except (InvalidSignature, ValueError):
        raise VerificationError("signature does not verify") from None
    return address_from_public_key(public_key)
