"""Pure inputs: bytes a transaction carries for others to read, as a Sui programmable
transaction's `CallArg::Pure` inputs.

Our transactions are lists of calls with named arguments and have no separate input list, so
a transaction that must commit to data without acting on it (an upload relay's tip carries the
hash of the blob it pays for in its first input) makes its first call `tx::pure`
(`pywalrus.chain.tx.pure_call`). The call changes nothing; the bytes stay in the signed
transaction, which `chain_getTransaction` returns and the transaction's checkpoint seals.
"""

from __future__ import annotations

from pywalrus.chain.context import TxContext
from pywalrus.chain.contracts import entry
from pywalrus.chain.tx import decode_pure
from pywalrus.core.errors import Abort


@entry("tx::pure")
def pure(ctx: TxContext, value: str) -> dict[str, int]:
    """Carry `value` (base64 bytes) in the transaction; returns its length as `length`."""
    del ctx
    try:
        return {"length": len(decode_pure(value))}
    except ValueError as exc:
        raise Abort("EBadArgument", str(exc)) from None
