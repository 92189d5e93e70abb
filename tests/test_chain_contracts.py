"""Contract functions of the chain, executed through the ledger: happy paths and refusals."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from chain_harness import FROST, Harness, rejected
from pywalrus.chain.tx import MAX_PURE_BYTES, Call, SignedTransaction, TransactionData, pure_call
from pywalrus.core.accounts import Account
from pywalrus.core.config import EncodingConfig


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "chain.sqlite")


def test_genesis_state(h: Harness) -> None:
    system = h.system()
    assert system["epoch"] == 1
    members = system["committee"]["members"]
    assert sorted(m["node_id"] for m in members) == sorted(h.node_ids)
    assert sum(m["weight"] for m in members) == h.n_shards
    assert [m["node_id"] for m in members] == sorted(m["node_id"] for m in members)
    assert system["storage_price_per_unit_size"] == 100_000
    assert h.balance(h.user) == 1_000_000 * FROST
    staking = h.staking()
    assert staking["epoch_state"]["kind"] == "EpochChangeDone"


def test_wal_split_merge_transfer_pay(h: Harness) -> None:
    coin = h.coin(h.user)
    new = h.call(h.user, "wal::split", coin=coin, amount=5 * FROST)["coin"]
    assert h.obj(new).fields["balance"] == 5 * FROST
    h.call(h.user, "wal::merge", coin=coin, others=[new])
    assert h.ledger.object(new) is None
    h.call(h.user, "wal::pay", coin=coin, amount=7, recipient=h.other.address)
    assert h.balance(h.other) == 1_000_000 * FROST + 7
    given = h.call(h.user, "wal::split", coin=coin, amount=3)["coin"]
    h.call(h.user, "wal::transfer", coin=given, recipient=h.other.address)
    assert h.obj(given).owner == h.other.address
    with rejected("EInsufficientFunds"):
        h.call(h.user, "wal::split", coin=coin, amount=10**19)
    with rejected("ENotOwner"):
        h.call(h.user, "wal::split", coin=given, amount=1)
    with rejected("ENotAuthorized"):
        h.call(h.user, "wal::faucet", recipient=h.user.address, amount=1)


def test_pure_input_is_carried_and_changes_nothing(h: Harness) -> None:
    """`tx::pure` (a Sui pure input): its bytes are read back from the stored transaction as
    input 0; a malformed or oversized one aborts the whole transaction."""
    payload = bytes(range(72))
    before = h.ledger.store.account(h.other.address)[1]
    result = h.tx(
        h.user,
        pure_call(payload),
        Call("gas::transfer", {"recipient": h.other.address, "amount": 5}),
    )
    assert result.effects["results"][0] == {"length": 72}
    stored = h.ledger.store.transaction(result.digest)
    assert stored is not None
    data = SignedTransaction.from_json(stored["transaction"]).data
    assert data.first_pure_input() == payload
    assert h.ledger.store.account(h.other.address)[1] == before + 5
    with rejected("EBadArgument"):
        h.tx(h.user, Call("tx::pure", {"value": "not base64!"}))
    with rejected("EBadArgument"):
        h.tx(
            h.user,
            Call("tx::pure", {"value": base64.b64encode(bytes(MAX_PURE_BYTES + 1)).decode()}),
        )
    with pytest.raises(ValueError, match="at most"):
        pure_call(bytes(MAX_PURE_BYTES + 1))
    later = h.tx(h.user, Call("gas::transfer", {"recipient": h.other.address, "amount": 1}))
    stored = h.ledger.store.transaction(later.digest)
    assert stored is not None
    assert SignedTransaction.from_json(stored["transaction"]).data.first_pure_input() is None


def test_transaction_checks(h: Harness) -> None:
    calls = (Call("wal::split", {"coin": h.coin(h.user), "amount": 1}),)
    nonce = h.ledger.store.account(h.user.address)[0]
    good = TransactionData("test-chain", h.user.address, nonce, 10**6, calls)
    # Signed by someone else.
    with rejected("EBadSignature"):
        h.ledger.submit(good.sign(h.other))
    # Another chain.
    with rejected("EWrongChain"):
        h.ledger.submit(TransactionData("other", h.user.address, nonce, 10**6, calls).sign(h.user))
    # Wrong nonce, budget too small, no gas.
    with rejected("EWrongNonce"):
        h.ledger.submit(
            TransactionData("test-chain", h.user.address, nonce + 1, 10**6, calls).sign(h.user)
        )
    with rejected("EGasBudget"):
        h.ledger.submit(TransactionData("test-chain", h.user.address, nonce, 1, calls).sign(h.user))
    poor = Account.generate()
    with rejected("EInsufficientGas"):
        h.ledger.submit(TransactionData("test-chain", poor.address, 0, 10**6, calls).sign(poor))
    before = h.ledger.store.tx_count()
    h.ledger.submit(good.sign(h.user))
    # Replay of an executed transaction is refused, nothing changes.
    with rejected("EDuplicate"):
        h.ledger.submit(good.sign(h.user))
    assert h.ledger.store.tx_count() == before + 1
    # An old nonce on a new transaction is a wrong nonce, not a duplicate.
    with rejected("EWrongNonce"):
        h.ledger.submit(
            TransactionData("test-chain", h.user.address, nonce, 10**6 + 1, calls).sign(h.user)
        )
    # Bad arguments abort before any effect.
    with rejected("EBadArgument"):
        h.call(h.user, "wal::split", coin=h.coin(h.user), amount="1")
    with rejected("EBadArgument"):
        h.call(h.user, "wal::split", coin=h.coin(h.user), amount=1, extra=2)
    with rejected("EUnknownFunction"):
        h.call(h.user, "wal::steal")
    with rejected("EBadResultReference"):
        h.tx(h.user, Call("wal::split", {"coin": {"$result": [0, "coin"]}, "amount": 1}))


def test_atomicity_of_failed_transaction(h: Harness) -> None:
    coin = h.coin(h.user)
    balance = h.obj(coin).fields["balance"]
    gas = h.ledger.store.account(h.user.address)
    with rejected("EInsufficientFunds"):
        h.tx(
            h.user,
            Call("wal::split", {"coin": coin, "amount": 10}),
            Call("wal::split", {"coin": coin, "amount": 10**19}),
        )
    assert h.obj(coin).fields["balance"] == balance
    assert h.ledger.store.account(h.user.address) == gas


def test_register_and_certify(h: Harness) -> None:
    metadata = h.metadata(5000)
    blob = h.register(h.user, metadata, epochs=3)
    fields = h.obj(blob).fields
    assert fields["blob_id"] == str(metadata.blob_id())
    assert fields["certified_epoch"] is None
    assert fields["storage"]["end_epoch"] == h.epoch + 3
    config = EncodingConfig(h.n_shards)
    assert fields["storage"]["storage_size"] == config.encoded_length(5000)
    h.certify(h.user, blob, signers=[0, 1, 2])
    assert h.obj(blob).fields["certified_epoch"] == h.epoch
    types = [e.type for e in h.ledger.store.events(-1, 1000)]
    assert "BlobRegistered" in types and "BlobCertified" in types
    certified = h.ledger.store.events(-1, 10, ["BlobCertified"], blob)
    assert certified[0].fields["object_id"] == blob
    assert certified[0].fields["is_extension"] is False
    with rejected("EBlobAlreadyCertified"):
        h.certify(h.user, blob)


def test_payment_goes_into_accounting(h: Harness) -> None:
    metadata = h.metadata(100)
    before = h.balance(h.user)
    h.register(h.user, metadata, epochs=2)
    units = EncodingConfig(h.n_shards).storage_units(100)
    storage_cost = 100_000 * units * 2
    write_cost = 20_000 * units
    assert before - h.balance(h.user) == storage_cost + write_cost
    ring = h.accounting_ring()
    assert ring[0]["rewards"] == 100_000 * units + write_cost
    assert ring[1]["rewards"] == 100_000 * units
    assert ring[2]["rewards"] == 0


def test_register_refusals(h: Harness) -> None:
    metadata = h.metadata(5000)
    config = EncodingConfig(h.n_shards)
    needed = config.encoded_length(5000)
    small = h.reserve(h.user, needed - 1)
    base = {
        "blob_id": str(metadata.blob_id()),
        "root_hash": metadata.root_hash().hex(),
        "size": 5000,
        "encoding_type": 1,
        "deletable": False,
        "write_payment": h.coin(h.user),
    }
    with rejected("EResourceSize"):
        h.call(h.user, "system::register_blob", storage=small, **base)
    storage = h.reserve(h.user, needed)
    with rejected("EInvalidBlobId"):
        h.call(h.user, "system::register_blob", storage=storage, **{**base, "size": 5001})
    other_id = str(h.metadata(10, seed=9).blob_id())
    with rejected("EInvalidBlobId"):
        h.call(h.user, "system::register_blob", storage=storage, **{**base, "blob_id": other_id})
    with rejected("EInvalidEncodingType"):
        h.call(h.user, "system::register_blob", storage=storage, **{**base, "encoding_type": 0})
    with rejected("ENotOwner"):
        h.call(
            h.other,
            "system::register_blob",
            storage=storage,
            **{**base, "write_payment": h.coin(h.other)},
        )
    poor = h.call(h.user, "wal::split", coin=h.coin(h.user), amount=1)["coin"]
    with rejected("EInsufficientFunds"):
        h.call(h.user, "system::register_blob", storage=storage, **{**base, "write_payment": poor})
    # The storage resource is untouched by the refusals and still works.
    h.call(h.user, "system::register_blob", storage=storage, **base)


def test_reserve_refusals(h: Harness) -> None:
    with rejected("EInvalidEpochsAhead"):
        h.reserve(h.user, 1000, epochs=54)
    with rejected("EInvalidEpochsAhead"):
        h.reserve(h.user, 1000, epochs=0)
    poor = h.call(h.user, "wal::split", coin=h.coin(h.user), amount=5)["coin"]
    with rejected("EInsufficientFunds"):
        h.call(h.user, "system::reserve_space", storage_amount=1000, epochs_ahead=1, payment=poor)
    with rejected("EStorageExceeded"):
        h.reserve(h.user, h.system()["total_capacity_size"] + 1, epochs=1)


def test_storage_split_and_fuse(h: Harness) -> None:
    storage = h.reserve(h.user, 4 << 20, epochs=4)
    start = h.epoch
    later = h.call(h.user, "storage::split_by_epoch", storage=storage, split_epoch=start + 2)[
        "storage"
    ]
    assert h.obj(storage).fields["end_epoch"] == start + 2
    assert h.obj(later).fields["start_epoch"] == start + 2
    part = h.call(h.user, "storage::split_by_size", storage=storage, split_size=1 << 20)["storage"]
    assert h.obj(part).fields["storage_size"] == 3 << 20
    with rejected("EIncompatibleStorage"):
        h.call(h.user, "storage::fuse", storage=storage, other=later)
    h.call(h.user, "storage::fuse", storage=storage, other=part)
    assert h.obj(storage).fields["storage_size"] == 4 << 20
    h.call(h.user, "storage::fuse", storage=storage, other=later)
    assert h.obj(storage).fields["end_epoch"] == start + 4
    with rejected("EInvalidSplitEpoch"):
        h.call(h.user, "storage::split_by_epoch", storage=storage, split_epoch=start)


def test_split_by_size_takes_any_size_up_to_the_whole(h: Harness) -> None:
    storage = h.reserve(h.user, 4 << 20, epochs=2)

    def split(size: int) -> str:
        result = h.call(h.user, "storage::split_by_size", storage=storage, split_size=size)
        return str(result["storage"])

    # As upstream's split_by_size: 0 and the whole size are allowed, more is not.
    def sizes(other: str) -> tuple[int, int]:
        return h.obj(storage).fields["storage_size"], h.obj(other).fields["storage_size"]

    rest = split(0)
    assert sizes(rest) == (0, 4 << 20)
    h.call(h.user, "storage::fuse", storage=storage, other=rest)
    assert sizes(split(4 << 20)) == (4 << 20, 0)
    with rejected("EIncompatibleAmount"):
        split((4 << 20) + 1)
    assert h.obj(storage).fields["storage_size"] == 4 << 20


def test_certificate_refusals(h: Harness) -> None:
    metadata = h.metadata(2000)
    blob = h.register(h.user, metadata)
    blob_id = metadata.blob_id()
    good = h.confirmation(blob_id)
    # Below quorum: 2 of 4 nodes hold 5 of 10 shards (quorum needs 7).
    weights = [m["weight"] for m in h.system()["committee"]["members"]]
    small = [i for i in range(4) if sum(weights[j] for j in range(i + 1)) < 7][:2]
    with rejected("EInvalidCertificate"):
        h.call(h.user, "system::certify_blob", blob=blob, **h.certificate(good, small))
    # Forged: the bitmap claims three signers, only two signed.
    with rejected("EInvalidCertificate"):
        h.call(h.user, "system::certify_blob", blob=blob, **h.certificate(good, [0, 1, 2], [0, 1]))
    # Duplicated: one signer's signature counted twice for a missing one.
    with rejected("EInvalidCertificate"):
        h.call(
            h.user, "system::certify_blob", blob=blob, **h.certificate(good, [0, 1, 2], [0, 1, 1])
        )
    # Wrong epoch in the message.
    stale = h.confirmation(blob_id, epoch=h.epoch + 1)
    with rejected("EInvalidCertificate"):
        h.call(h.user, "system::certify_blob", blob=blob, **h.certificate(stale, [0, 1, 2, 3]))
    # A certificate for another blob, and for a deletable persistence.
    other = h.confirmation(h.metadata(5, seed=3).blob_id())
    with rejected("EInvalidBlobId"):
        h.call(h.user, "system::certify_blob", blob=blob, **h.certificate(other, [0, 1, 2, 3]))
    wrong_kind = h.confirmation(blob_id, blob)
    with rejected("EInvalidBlobPersistenceType"):
        h.call(h.user, "system::certify_blob", blob=blob, **h.certificate(wrong_kind, [0, 1, 2, 3]))
    # Bitmap longer than the committee, garbage signature bytes.
    args = h.certificate(good, [0, 1, 2, 3])
    with rejected("EInvalidCertificate"):
        h.call(
            h.user,
            "system::certify_blob",
            blob=blob,
            **{**args, "signers_bitmap": base64.b64encode(b"\x0f\x00").decode()},
        )
    with rejected("EInvalidCertificate"):
        h.call(
            h.user,
            "system::certify_blob",
            blob=blob,
            **{**args, "signature": base64.b64encode(b"\x01" * 96).decode()},
        )
    assert h.obj(blob).fields["certified_epoch"] is None
    h.call(h.user, "system::certify_blob", blob=blob, **args)
    assert h.obj(blob).fields["certified_epoch"] == h.epoch


def test_deletable_blob_delete_and_permanent_refusal(h: Harness) -> None:
    deletable = h.register(h.user, h.metadata(100), deletable=True)
    h.certify(h.user, deletable)
    storage = h.call(h.user, "system::delete_blob", blob=deletable)["storage"]
    assert h.ledger.object(deletable) is None
    assert h.obj(storage).type == "walrus::Storage"
    event = h.ledger.store.events(-1, 10, ["BlobDeleted"])[0]
    assert event.fields["was_certified"] is True and event.fields["object_id"] == deletable
    # The returned storage can register another blob.
    metadata = h.metadata(100, seed=2)
    h.call(
        h.user,
        "system::register_blob",
        storage=storage,
        blob_id=str(metadata.blob_id()),
        root_hash=metadata.root_hash().hex(),
        size=100,
        encoding_type=1,
        deletable=False,
        write_payment=h.coin(h.user),
    )
    permanent = h.register(h.user, h.metadata(100, seed=4))
    with rejected("EBlobNotDeletable"):
        h.call(h.user, "system::delete_blob", blob=permanent)
    with rejected("ENotOwner"):
        h.call(h.other, "system::delete_blob", blob=permanent)


def test_extend_blob(h: Harness) -> None:
    blob = h.register(h.user, h.metadata(100), epochs=2)
    with rejected("ENotCertified"):
        h.call(h.user, "system::extend_blob", blob=blob, extended_epochs=1, payment=h.coin(h.user))
    h.certify(h.user, blob)
    end = h.obj(blob).fields["storage"]["end_epoch"]
    h.call(h.user, "system::extend_blob", blob=blob, extended_epochs=3, payment=h.coin(h.user))
    assert h.obj(blob).fields["storage"]["end_epoch"] == end + 3
    event = h.ledger.store.events(-1, 100, ["BlobCertified"], blob)[-1]
    assert event.fields["is_extension"] is True and event.fields["end_epoch"] == end + 3
    with rejected("EInvalidEpochsAhead"):
        h.call(h.user, "system::extend_blob", blob=blob, extended_epochs=60, payment=h.coin(h.user))


def test_attributes_burn_and_shared_blob(h: Harness) -> None:
    blob = h.register(h.user, h.metadata(100))
    h.call(h.user, "blob::set_attribute", blob=blob, key="content-type", value="text/plain")
    assert h.obj(blob).fields["attributes"] == {"content-type": "text/plain"}
    h.call(h.user, "blob::remove_attribute", blob=blob, key="content-type")
    assert h.obj(blob).fields["attributes"] == {}
    with rejected("ENotOwner"):
        h.call(h.other, "blob::set_attribute", blob=blob, key="k", value="v")
    h.certify(h.user, blob)
    shared = h.call(h.user, "shared_blob::new", blob=blob, payment=h.coin(h.user), amount=10**12)[
        "shared_blob"
    ]
    end = h.obj(shared).fields["blob"]["storage"]["end_epoch"]
    h.call(h.other, "shared_blob::fund", shared_blob=shared, payment=h.coin(h.other), amount=10**12)
    assert h.obj(shared).fields["funds"] == 2 * 10**12
    h.call(h.other, "shared_blob::extend", shared_blob=shared, extended_epochs=2)
    assert h.obj(shared).fields["blob"]["storage"]["end_epoch"] == end + 2
    # A deletable blob may be shared too (upstream's shared_blob::new takes any blob); shared,
    # it can no longer be deleted, since nobody owns it.
    deletable = h.register(h.user, h.metadata(100, seed=6), deletable=True)
    h.certify(h.user, deletable)
    wrapped = h.call(h.user, "shared_blob::new", blob=deletable)["shared_blob"]
    assert h.obj(wrapped).fields["blob"]["deletable"] is True
    assert h.obj(wrapped).fields["funds"] == 0
    with rejected("EObjectNotFound"):
        h.call(h.user, "system::delete_blob", blob=deletable)
    burnt = h.register(h.user, h.metadata(100, seed=5))
    h.call(h.user, "system::burn_blob", blob=burnt)
    assert h.ledger.object(burnt) is None


def test_invalidate_blob_id(h: Harness) -> None:
    blob_id = h.metadata(100).blob_id()
    message = h.invalid_blob_message(blob_id)
    weights = [m["weight"] for m in h.system()["committee"]["members"]]
    # Validity needs 3w ≥ n + 1: 4 of 10 shards.
    one = [i for i, w in enumerate(weights) if w < 4][:1]
    with rejected("EInvalidCertificate"):
        h.call(h.user, "system::invalidate_blob_id", **h.certificate(message, one))
    result = h.call(h.user, "system::invalidate_blob_id", **h.certificate(message, [0, 1]))
    assert result["blob_id"] == str(blob_id)
    assert h.ledger.store.events(-1, 100, ["InvalidBlobID"])[0].fields["blob_id"] == str(blob_id)


def test_epochs_advance_with_rewards_and_sync(h: Harness) -> None:
    metadata = h.metadata(1000)
    blob = h.register(h.user, metadata, epochs=5)
    h.certify(h.user, blob)
    bucket = h.accounting_ring()[0]["rewards"]
    supply_before = h.ledger.singleton("wal::Treasury").fields["burned"]
    h.advance_time(h.epoch_ms // 2)
    assert "EpochParametersSelected" in h.run_epoch_steps()
    assert h.staking()["next_committee"] is not None
    h.advance_time(h.epoch_ms // 2)
    assert "EpochChangeStart" in h.run_epoch_steps()
    assert h.epoch == 2
    assert h.staking()["epoch_state"]["kind"] == "EpochChangeSync"
    burned = h.ledger.singleton("wal::Treasury").fields["burned"] - supply_before
    assert burned == bucket * 3 // 100
    pools = [h.obj(n).fields for n in h.node_ids]
    paid = sum(p["rewards_pool"] + p["commission_blocked"] for p in pools)
    assert 0 < paid <= bucket - burned
    # Nodes report sync: the epoch change completes at a quorum of shards.
    h.all_sync_done()
    assert h.staking()["epoch_state"]["kind"] == "EpochChangeDone"
    assert [e.type for e in h.ledger.store.events(-1, 1000)].count("EpochChangeDone") == 2
    with rejected("EInvalidSyncEpoch"):
        h.call(h.nodes[0].operator, "staking::epoch_sync_done", cap=h.caps[0], epoch=1)
    # Early epoch steps are refused.
    with rejected("EWrongEpochState"):
        h.call(h.user, "staking::initiate_epoch_change")
    # The blob expires after its end epoch.
    while h.epoch < 6:
        h.next_epoch()
    with rejected("EResourceBounds"):
        h.call(h.user, "system::extend_blob", blob=blob, extended_epochs=1, payment=h.coin(h.user))


def test_stake_activation_and_withdrawal(h: Harness) -> None:
    node = h.node_ids[0]
    epoch = h.epoch
    early = h.call(
        h.user, "staking::stake_with_pool", payment=h.coin(h.user), amount=10 * FROST, node_id=node
    )
    assert early["activation_epoch"] == epoch + 1
    # Stake after voting end counts only from E+2.
    h.advance_time(h.epoch_ms // 2)
    h.run_epoch_steps()
    late = h.call(
        h.user, "staking::stake_with_pool", payment=h.coin(h.user), amount=10 * FROST, node_id=node
    )
    assert late["activation_epoch"] == epoch + 2
    # Not yet active: withdrawn directly, principal only.
    before = h.balance(h.user)
    paid = h.call(h.user, "staking::withdraw_stake", staked_wal=late["staked_wal"])
    assert paid["principal"] == 10 * FROST and paid["rewards"] == 0
    assert h.balance(h.user) == before + 10 * FROST
    with rejected("EInsufficientStake"):
        h.call(
            h.user,
            "staking::stake_with_pool",
            payment=h.coin(h.user),
            amount=FROST - 1,
            node_id=node,
        )
    # Active stake: request, then withdraw when the epoch comes, not before.
    h.next_epoch()
    request = h.call(h.user, "staking::request_withdraw_stake", staked_wal=early["staked_wal"])
    assert request["withdraw_epoch"] in (h.epoch + 1, h.epoch + 2)
    with rejected("EWithdrawEpochNotReached"):
        h.call(h.user, "staking::withdraw_stake", staked_wal=early["staked_wal"])
    while h.epoch < request["withdraw_epoch"]:
        h.next_epoch()
    paid = h.call(h.user, "staking::withdraw_stake", staked_wal=early["staked_wal"])
    assert paid["principal"] == 10 * FROST


def test_rewards_raise_stake_value(h: Harness) -> None:
    node = h.node_ids[1]
    staked = h.call(
        h.user,
        "staking::stake_with_pool",
        payment=h.coin(h.user),
        amount=1000 * FROST,
        node_id=node,
    )
    h.next_epoch()  # stake active from here
    blob = h.register(h.user, h.metadata(50_000), epochs=3)
    h.certify(h.user, blob)
    h.next_epoch()  # rewards of the stored bytes are paid at this change
    request = h.call(h.user, "staking::request_withdraw_stake", staked_wal=staked["staked_wal"])
    while h.epoch < request["withdraw_epoch"]:
        h.next_epoch()
    paid = h.call(h.user, "staking::withdraw_stake", staked_wal=staked["staked_wal"])
    assert paid["principal"] == 1000 * FROST
    assert paid["rewards"] > 0


def test_commission_and_slashing_spare_principal(h: Harness) -> None:
    operator = h.nodes[0].operator
    node = h.node_ids[0]
    h.call(operator, "staking::set_next_commission", node_id=node, commission_rate=5000)
    with rejected("ENotAuthorized"):
        h.call(h.user, "staking::set_next_commission", node_id=node, commission_rate=1)
    blob = h.register(h.user, h.metadata(50_000), epochs=5)
    h.certify(h.user, blob)
    for _ in range(3):
        h.next_epoch()
    pool = h.obj(node).fields
    assert pool["commission_rate"] == 5000
    assert pool["commission"] + pool["commission_blocked"] > 0
    # Slashing by a quorum of shards burns the commission only.
    members = h.system()["committee"]["members"]
    voters = [h.node_ids.index(m["node_id"]) for m in members]
    burned_before = h.ledger.singleton("wal::Treasury").fields["burned"]
    commission = pool["commission"] + pool["commission_blocked"]
    for i in voters:
        if h.obj(node).fields["commission"] + h.obj(node).fields["commission_blocked"] == 0:
            break
        h.call(h.nodes[i].operator, "governance::vote_for_slashing", cap=h.caps[i], target=node)
    assert h.obj(node).fields["commission"] == 0
    assert h.ledger.singleton("wal::Treasury").fields["burned"] - burned_before == commission
    with rejected("EDuplicateVote"):
        h.call(
            h.nodes[voters[0]].operator,
            "governance::vote_for_slashing",
            cap=h.caps[voters[0]],
            target=node,
        )
    # The operator's delegated stake still withdraws in full.
    request = h.call(operator, "staking::request_withdraw_stake", staked_wal=h.staked[0])
    while h.epoch < request["withdraw_epoch"]:
        h.next_epoch()
    paid = h.call(operator, "staking::withdraw_stake", staked_wal=h.staked[0])
    assert paid["principal"] == 1_000_000 * FROST


def test_price_votes_and_upgrade_votes(h: Harness) -> None:
    for i, (node, cap) in enumerate(zip(h.nodes, h.caps, strict=True)):
        h.call(
            node.operator,
            "staking::set_votes",
            cap=cap,
            storage_price=1000 * (i + 1),
            write_price=7,
        )
    h.call(h.user, "staking::update_prices")
    members = h.system()["committee"]["members"]
    from pywalrus.core.voting import quorum_below

    votes = [(1000 * (h.node_ids.index(m["node_id"]) + 1), m["weight"]) for m in members]
    assert h.system()["storage_price_per_unit_size"] == quorum_below(votes, h.n_shards)
    assert h.system()["write_price_per_unit_size"] == 7
    with rejected("ENotOwner"):
        h.call(h.user, "staking::set_votes", cap=h.caps[0], storage_price=1)
    digest = "0x" + "ab" * 32
    with rejected("ENoProposalForDigest"):
        h.call(h.user, "governance::commit_upgrade", package_digest=digest)
    for node, cap in zip(h.nodes, h.caps, strict=True):
        result = h.call(
            node.operator, "governance::vote_for_upgrade", cap=cap, package_digest=digest
        )
        if result["quorum"]:
            break
    assert h.call(h.user, "governance::commit_upgrade", package_digest=digest)["version"] == 2


def vote_upgrade(h: Harness, index: int, digest: str) -> dict[str, Any]:
    node, cap = h.nodes[index], h.caps[index]
    return h.call(node.operator, "governance::vote_for_upgrade", cap=cap, package_digest=digest)


def test_upgrade_digests_are_32_bytes_and_proposals_are_for_one_version(h: Harness) -> None:
    for bad in ("digest-1", "", "0x" + "ab" * 31, "ab" * 33, "0x" + "zz" * 32, "ab " * 21 + "a"):
        with rejected("EInvalidPackageDigest"):
            vote_upgrade(h, 0, bad)
        with rejected("EInvalidPackageDigest"):
            h.call(h.user, "governance::commit_upgrade", package_digest=bad)
    first, second = "AB" * 32, "0x" + "cd" * 32
    # Hex with or without 0x, in either case: one digest, named in lower case with 0x.
    vote_upgrade(h, 0, first)
    assert vote_upgrade(h, 1, "0x" + first.lower())["weight"] > 0
    proposed = h.ledger.store.events(-1, 100, ["ContractUpgradeProposed"])
    assert [e.fields["package_digest"] for e in proposed] == ["0x" + "ab" * 32]
    with rejected("EDuplicateVote"):
        vote_upgrade(h, 1, first)
    with rejected("ENotEnoughVotes"):
        h.call(h.user, "governance::commit_upgrade", package_digest=first)
    for index in range(len(h.nodes)):
        vote_upgrade(h, index, second)
        if index > 1:
            vote_upgrade(h, index, first)
    assert h.call(h.user, "governance::commit_upgrade", package_digest=first)["version"] == 2
    # The other proposal had a quorum for version 2, which is taken now.
    with rejected("EWrongVersion"):
        h.call(h.user, "governance::commit_upgrade", package_digest=second)
    # A vote for it starts a proposal for version 3 afresh.
    assert vote_upgrade(h, 0, second) == {
        "weight": len(h.staking()["committee"][h.node_ids[0]]),
        "quorum": False,
    }
    h.next_epoch()
    with rejected("EWrongEpoch"):
        h.call(h.user, "governance::commit_upgrade", package_digest=second)


def test_register_candidate_checks_proof_of_possession(h: Harness) -> None:
    from pywalrus.testbed.genesis import generate_nodes, node_genesis_entry

    (node,) = generate_nodes(1)
    entry = node_genesis_entry(node, 0, {})
    args = {k: entry[k] for k in entry if k not in ("operator", "stake")}
    h.tx(h.user, Call("gas::transfer", {"recipient": node.operator.address, "amount": 10**9}))
    # The genesis proof is for epoch 0, not the current epoch.
    with rejected("EInvalidProofOfPossession"):
        h.call(node.operator, "staking::register_candidate", **args)
    from pywalrus.core.messages import sign_proof_of_possession

    pop = sign_proof_of_possession(
        node.protocol_key, h.epoch, bytes.fromhex(node.operator.address[2:])
    )
    args["proof_of_possession"] = base64.b64encode(pop.to_bytes()).decode()
    result = h.call(node.operator, "staking::register_candidate", **args)
    assert h.obj(result["node_id"]).fields["public_key"] == entry["public_key"]
    # The new node, now staked, joins the committee at the next epoch.
    h.call(
        h.user,
        "staking::stake_with_pool",
        payment=h.coin(h.user),
        amount=900_000 * FROST,
        node_id=result["node_id"],
    )
    h.next_epoch()
    assert result["node_id"] in h.staking()["committee"]


def test_argument_types_and_ranges_are_checked(h: Harness) -> None:
    cap = h.caps[0]
    operator = h.nodes[0].operator
    with rejected("EBadArgument"):
        h.call(operator, "staking::set_votes", cap=cap, storage_price="x")
    with rejected("EBadArgument"):
        h.call(operator, "staking::set_node_info", cap=cap, name=5)
    with rejected("EBadArgument"):
        h.call(operator, "staking::set_votes", cap=cap, write_price=True)
    metadata = h.metadata(10)
    storage = h.reserve(h.user, 1 << 20)
    with rejected("EBadArgument"):
        h.call(
            h.user,
            "system::register_blob",
            storage=storage,
            blob_id=str(metadata.blob_id()),
            root_hash=metadata.root_hash().hex(),
            size=1 << 64,
            encoding_type=1,
            deletable=False,
            write_payment=h.coin(h.user),
        )
    with rejected("EInvalidAddress"):
        h.tx(h.user, Call("gas::transfer", {"recipient": "nobody", "amount": 1}))
    upper = "0x" + h.other.address[2:].upper()
    before = h.ledger.store.account(h.other.address)[1]
    h.tx(h.user, Call("gas::transfer", {"recipient": upper, "amount": 5}))
    assert h.ledger.store.account(h.other.address)[1] == before + 5
    with rejected("EOverflow"):
        h.ledger.execute_system(
            [Call("gas::faucet", {"recipient": h.other.address, "amount": (1 << 64) - 1})]
        )


def test_chain_from_before_the_accounting_object_is_migrated(h: Harness) -> None:
    """A database whose system object still holds the ring gets its own ring object back."""
    from pywalrus.chain.contracts.system import (
        ACCOUNTING,
        SYSTEM,
        needs_accounting_migration,
    )

    h.reserve(h.user, 1000, epochs=2)
    ring = h.accounting_ring()
    system_id = h.ledger.singleton_id(SYSTEM)
    accounting_id = h.ledger.singleton_id(ACCOUNTING)
    fields = {**h.system(), "future_accounting": ring}
    db = h.ledger.store._db
    db.execute("UPDATE objects SET fields = ? WHERE id = ?", (json.dumps(fields), system_id))
    db.execute("DELETE FROM objects WHERE id = ?", (accounting_id,))
    db.execute("DELETE FROM meta WHERE key = ?", (f"singleton:{ACCOUNTING}",))
    h.ledger._reload_counters()
    assert needs_accounting_migration(h.ledger.singleton(SYSTEM), h.ledger.singleton_id(ACCOUNTING))
    with rejected("EObjectNotFound"):
        h.reserve(h.user, 1000, epochs=1)
    h.ledger.execute_system([Call("system::migrate_accounting")])
    assert h.accounting_ring() == ring
    assert "future_accounting" not in h.system()
    h.reserve(h.user, 1000, epochs=1)
    assert h.accounting_ring()[0]["used_capacity"] == ring[0]["used_capacity"] + 1000
    with rejected("EAlreadyMigrated"):
        h.ledger.execute_system([Call("system::migrate_accounting")])
    with rejected("ENotAuthorized"):
        h.call(h.user, "system::migrate_accounting")
