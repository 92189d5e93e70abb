"""Transactions of the coordination chain: a short list of contract calls, signed by a sender.

A transaction is canonical JSON (sorted keys, no spaces); the sender signs
BLAKE2b-256(intent ‖ bytes) with Ed25519, as Sui signs its intent messages. Calls run in order
and atomically; an argument `{"$result": [i, "key"]}` refers to a value returned by call i,
so that, like a Sui programmable transaction, one transaction can reserve storage and
register a blob in it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from functools import cached_property
from hashlib import blake2b
from typing import Any

from pywalrus.core.accounts import Account, parse_address, verify_signature
from pywalrus.core.base58 import b58encode
from pywalrus.core.errors import TransactionFormatError, VerificationError

TX_INTENT = b"\x00\x00\x00"
MAX_CALLS = 64
MAX_ARG_DEPTH = 16
"""Deepest nesting of one call's arguments (contracts take flat values and small objects)."""
MAX_DATA_SIZE = 256 * 1024
"""Largest transaction data, approximately in bytes of JSON (strings, plus 8 per other value)."""
U64_MAX = (1 << 64) - 1
BASE_FEE = 1_000
FEE_PER_CALL = 1_000
"""Fees in MIST: a small, fixed price per transaction and per call."""
PURE_FUNCTION = "tx::pure"
"""The call that carries bytes and does nothing else (`contracts/pure.py`)."""
MAX_PURE_BYTES = 16 * 1024
"""Sui's limit on one pure argument (`max_pure_argument_size`)."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def json_shape(value: Any) -> tuple[int, int]:
    """(nesting depth, approximate size in bytes) of a JSON value, without recursion: a value
    nested thousands of levels deep must be measurable to be refused."""
    depth, size = 0, 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        depth = max(depth, level)
        if isinstance(item, dict):
            size += 2 + sum(len(k) + 3 for k in item)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            size += 2
            stack.extend((v, level + 1) for v in item)
        elif isinstance(item, str):
            size += len(item) + 2
        else:
            size += 8
    return depth, size


@dataclass(frozen=True)
class Call:
    """One contract call: `module::function` with named JSON arguments."""

    function: str
    """Entry function, e.g. `system::register_blob`."""
    args: dict[str, Any] = field(default_factory=dict)
    """Named arguments; `{"$result": [i, key]}` takes a value returned by an earlier call."""

    def to_json(self) -> dict[str, Any]:
        return {"function": self.function, "args": self.args}


def pure_call(data: bytes) -> Call:
    """A `tx::pure` call carrying `data`: a Sui programmable transaction's pure input. Made the
    first call, it is the transaction's input 0 (what an upload relay's tip reads)."""
    if len(data) > MAX_PURE_BYTES:
        raise ValueError(f"a pure input holds at most {MAX_PURE_BYTES} bytes")
    return Call(PURE_FUNCTION, {"value": base64.b64encode(data).decode()})


def decode_pure(value: object) -> bytes:
    """The bytes of a `tx::pure` argument (standard padded base64); `ValueError` if it is
    not that, or longer than `MAX_PURE_BYTES`."""
    if not isinstance(value, str):
        raise ValueError("a pure input must be a base64 string")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a pure input must be standard padded base64") from None
    if len(data) > MAX_PURE_BYTES:
        raise ValueError(f"a pure input holds at most {MAX_PURE_BYTES} bytes")
    return data


@dataclass(frozen=True)
class TransactionData:
    """What the sender signs."""

    chain_id: str
    """The chain this transaction is for (no replay across chains)."""
    sender: str
    """0x-hex address of the signer; pays the fee."""
    nonce: int
    """Must equal the sender's count of executed transactions (no replay within the chain)."""
    gas_budget: int
    """The most the sender agrees to pay in fees (MIST)."""
    calls: tuple[Call, ...]
    """The calls, executed in order, all or nothing."""

    def to_json(self) -> dict[str, Any]:
        return {
            "chainId": self.chain_id,
            "sender": self.sender,
            "nonce": self.nonce,
            "gasBudget": self.gas_budget,
            "calls": [c.to_json() for c in self.calls],
        }

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def first_pure_input(self) -> bytes | None:
        """The bytes of the first call if it is `tx::pure` (input 0), else None; `ValueError`
        if that call's argument is malformed."""
        first = self.calls[0]
        if first.function != PURE_FUNCTION:
            return None
        return decode_pure(first.args.get("value"))

    def signing_digest(self) -> bytes:
        return self._digest_bytes

    def use_digest(self, digest: bytes) -> None:
        """Adopt a signing digest computed elsewhere (by our own worker) for these exact data."""
        self.__dict__["_digest_bytes"] = digest

    @cached_property
    def _digest_bytes(self) -> bytes:
        return blake2b(TX_INTENT + self.to_bytes(), digest_size=32).digest()

    def digest(self) -> str:
        """The transaction digest, base58 like Sui's."""
        return self._digest_text

    @cached_property
    def _digest_text(self) -> str:
        return b58encode(self._digest_bytes)

    def sign(self, account: Account) -> SignedTransaction:
        return SignedTransaction(self, account.sign(self.signing_digest()))

    @classmethod
    def from_json(cls, value: Any) -> TransactionData:
        if not isinstance(value, dict):
            raise TransactionFormatError("transaction data must be an object")
        try:
            calls_json = value["calls"]
            if not isinstance(calls_json, list) or not 0 < len(calls_json) <= MAX_CALLS:
                raise TransactionFormatError(f"a transaction has 1 to {MAX_CALLS} calls")
            calls = []
            for call in calls_json:
                if not isinstance(call, dict) or not isinstance(call.get("function"), str):
                    raise TransactionFormatError("each call needs a function name")
                args = call.get("args", {})
                if not isinstance(args, dict):
                    raise TransactionFormatError("call arguments must be an object")
                calls.append(Call(call["function"], args))
            data = cls(
                chain_id=_typed(value, "chainId", str),
                sender=parse_address(_typed(value, "sender", str)),
                nonce=_typed(value, "nonce", int),
                gas_budget=_typed(value, "gasBudget", int),
                calls=tuple(calls),
            )
        except KeyError as exc:
            raise TransactionFormatError(f"transaction data lacks {exc.args[0]!r}") from None
        if not (0 <= data.nonce <= U64_MAX and 0 <= data.gas_budget <= U64_MAX):
            raise TransactionFormatError("nonce and gas budget must be u64 (0 to 2^64 - 1)")
        depth, size = json_shape(calls_json)
        if depth > MAX_ARG_DEPTH + 2:  # the list of calls, a call, then its arguments
            raise TransactionFormatError(f"arguments nested deeper than {MAX_ARG_DEPTH} levels")
        if size > MAX_DATA_SIZE:
            raise TransactionFormatError(f"transaction data is larger than {MAX_DATA_SIZE} bytes")
        return data


def _typed(value: dict[str, Any], key: str, kind: type) -> Any:
    item = value[key]
    if not isinstance(item, kind) or isinstance(item, bool):
        raise TransactionFormatError(f"{key!r} must be of type {kind.__name__}")
    return item


@dataclass(frozen=True)
class SignedTransaction:
    """Transaction data with the sender's signature."""

    data: TransactionData
    """The signed content."""
    signature: str
    """Sui-style serialized Ed25519 signature, base64."""

    def verify(self) -> None:
        """Raise `VerificationError` unless the signature is the sender's over the data."""
        signer = verify_signature(self.data.signing_digest(), self.signature)
        if signer != self.data.sender:
            raise VerificationError("transaction is not signed by its sender")

    def to_json(self) -> dict[str, Any]:
        return {"data": self.data.to_json(), "signature": self.signature}

    @classmethod
    def from_json(cls, value: Any) -> SignedTransaction:
        if not isinstance(value, dict) or not isinstance(value.get("signature"), str):
            raise TransactionFormatError("a signed transaction has data and a signature")
        return cls(TransactionData.from_json(value.get("data")), value["signature"])


def fee_for(data: TransactionData) -> int:
    """The fee (MIST) the ledger charges for a transaction: known before it is sent, so that a
    client can set the budget to exactly it."""
    return BASE_FEE + FEE_PER_CALL * len(data.calls)
