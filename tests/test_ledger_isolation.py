"""A transaction that breaks something other than a contract rule fails alone.

A call may raise an error the contracts did not foresee (a `$result` key that is a list, an
argument nested deeper than Python recurses, a balance the store cannot hold). Such a
transaction is kept as failed: its sender's nonce is used and the fee charged, nothing else of
it is kept, and the other transactions of its commit group execute as if it were not there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from chain_harness import Harness
from pywalrus.chain.ledger import ExecutionResult
from pywalrus.chain.tx import Call, SignedTransaction, TransactionData, fee_for
from pywalrus.core.accounts import Account
from pywalrus.core.errors import TransactionFailed, TransactionRejected

GAS = 10**9


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "chain.sqlite")


def signed(
    h: Harness, account: Account, *calls: Call, nonce: int | None = None
) -> SignedTransaction:
    if nonce is None:
        nonce = h.ledger.account(account.address)[0]
    data = TransactionData("test-chain", account.address, nonce, 0, calls)
    data = TransactionData("test-chain", account.address, nonce, fee_for(data), calls)
    return data.sign(account)


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def poisons(h: Harness, account: Account, recipient: str) -> list[SignedTransaction]:
    """Transactions whose calls raise something other than an abort, one nonce after another."""
    nonce = h.ledger.account(account.address)[0]
    transfer = Call("gas::transfer", {"recipient": recipient, "amount": 1})
    return [
        # A `$result` key that is a list: unhashable, a TypeError while resolving it.
        signed(
            h,
            account,
            transfer,
            Call("gas::transfer", {"recipient": recipient, "amount": {"$result": [0, ["x"]]}}),
            nonce=nonce,
        ),
        # Nested 600 levels (the RPC refuses this when parsing; the ledger must
        # survive it from any caller).
        signed(
            h,
            account,
            Call("gas::transfer", {"recipient": nested(600), "amount": 1}),
            nonce=nonce + 1,
        ),
    ]


def test_poisoned_transactions_fail_alone_and_pay(h: Harness) -> None:
    honest = [Account.generate() for _ in range(40)]
    h.ledger.execute_system(
        [Call("gas::faucet", {"recipient": a.address, "amount": GAS}) for a in honest]
    )
    attacker = Account.generate()
    h.ledger.execute_system([Call("gas::faucet", {"recipient": attacker.address, "amount": GAS})])
    sink = Account.generate().address
    batch = [
        (signed(h, a, Call("gas::transfer", {"recipient": sink, "amount": 7})), False)
        for a in honest[:20]
    ]
    bad = poisons(h, attacker, sink)
    batch += [(tx, False) for tx in bad]
    batch += [
        (signed(h, a, Call("gas::transfer", {"recipient": sink, "amount": 7})), False)
        for a in honest[20:]
    ]
    before = h.ledger.store.tx_count()

    results = h.ledger.submit_batch(batch)

    honest_results = [r for r, (tx, _) in zip(results, batch, strict=True) if tx not in bad]
    assert all(isinstance(r, ExecutionResult) for r in honest_results), honest_results
    assert h.ledger.store.account(sink) == (0, 7 * len(honest))
    failed = [r for r, (tx, _) in zip(results, batch, strict=True) if tx in bad]
    assert all(isinstance(r, TransactionFailed) and r.code == "EExecutionFailed" for r in failed)
    # Each poisoned transaction used its nonce and paid its fee, and changed nothing else.
    fees = sum(fee_for(tx.data) for tx in bad)
    assert h.ledger.store.account(attacker.address) == (len(bad), GAS - fees)
    for tx in bad:
        stored = h.ledger.store.transaction(tx.data.digest())
        assert stored is not None
        assert stored["effects"]["status"] == "failure"
        assert stored["effects"]["fee"] == fee_for(tx.data)
    assert h.ledger.store.tx_count() == before + len(batch)
    # Replaying one is a duplicate, not a free retry.
    with pytest.raises(TransactionRejected, match="EDuplicate"):
        h.ledger.submit(bad[0])
    # The checkpoints still chain and the ledger keeps working.
    h.tx(honest[0], Call("gas::transfer", {"recipient": sink, "amount": 1}))


def test_a_failure_that_cannot_be_recorded_leaves_no_trace(h: Harness) -> None:
    """A transaction nested so deep that not even its failure can be written (the store cannot
    serialise it) is undone completely, half-written account included, and the rest of its
    group commits. (The RPC never lets such a transaction in: it is refused when parsed.)"""
    attacker = Account.generate()
    h.ledger.execute_system([Call("gas::faucet", {"recipient": attacker.address, "amount": GAS})])
    sink = Account.generate().address
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)
    try:
        deep = signed(h, attacker, Call("gas::transfer", {"recipient": nested(5000), "amount": 1}))
    finally:
        sys.setrecursionlimit(limit)
    fine = signed(h, h.user, Call("gas::transfer", {"recipient": sink, "amount": 5}))
    before = h.ledger.store.tx_count()
    results = h.ledger.submit_batch([(deep, False), (fine, False)])
    assert isinstance(results[0], TransactionRejected)
    assert not isinstance(results[0], TransactionFailed)
    assert isinstance(results[1], ExecutionResult)
    assert h.ledger.store.account(attacker.address) == (0, GAS)
    assert h.ledger.store.transaction(deep.data.digest()) is None
    assert h.ledger.store.account(sink) == (0, 5)
    assert h.ledger.store.tx_count() == before + 1
