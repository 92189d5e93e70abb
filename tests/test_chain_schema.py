"""The typed chain schema (`chain/schema.py`) against what the ledger really stores.

A genesis of real keys and a workload through every contract entry function leave objects and
events of every type; each reads through its schema and writes back exactly the stored JSON
(the public interface of `docs/chain-rpc.md`: names, shapes and key order). Shapes stored by
older versions of the contracts still load, with the documented defaults.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chain_harness import FROST, Harness, rejected
from pywalrus.chain import schema
from pywalrus.chain.objects import Object
from pywalrus.chain.schema import (
    EVENT_SCHEMAS,
    OBJECT_SCHEMAS,
    Blob,
    EpochStateKind,
    Staking,
    StakingPool,
    System,
    UpgradeTally,
)
from pywalrus.chain.tx import Call
from pywalrus.core.errors import SchemaError
from pywalrus.core.types import BlobId, Epoch

# The top-level fields of each object type, as docs/chain-rpc.md lists them (optional ones
# that only appear once used are in OPTIONAL).
DOCUMENTED_FIELDS = {
    schema.COIN: {"balance"},
    schema.TREASURY: {"unissued", "burned"},
    schema.SYSTEM: {
        "epoch",
        "n_shards",
        "max_epochs_ahead",
        "total_capacity_size",
        "storage_price_per_unit_size",
        "write_price_per_unit_size",
        "committee",
        "previous_committee",
    },
    schema.FUTURE_ACCOUNTING: {"ring"},
    schema.STAKING: {
        "n_shards",
        "epoch_duration_ms",
        "epoch",
        "epoch_state",
        "pools",
        "active_set",
        "active_set_max",
        "committee",
        "previous_committee",
        "next_committee",
        "next_capacity",
    },
    schema.STAKING_POOL: {
        "state",
        "name",
        "network_address",
        "public_key",
        "next_epoch_public_key",
        "network_public_key",
        "metadata",
        "votes",
        "wal_balance",
        "num_shares",
        "exchange_rates",
        "pending_stake",
        "pending_withdraw_shares",
        "pre_active_withdrawals",
        "pending_withdraw_wal",
        "rewards_pool",
        "commission_rate",
        "pending_commission_rates",
        "pending_commission_rate",
        "commission",
        "commission_blocked",
        "commission_receiver",
        "governance_authorized",
        "operator",
    },
    schema.STORAGE_NODE_CAP: {"node_id", "last_epoch_sync_done"},
    schema.STAKED_WAL: {"node_id", "principal", "activation_epoch", "state", "withdraw_epoch"},
    schema.STORAGE: {"start_epoch", "end_epoch", "storage_size"},
    schema.BLOB: {
        "registered_epoch",
        "blob_id",
        "size",
        "encoding_type",
        "certified_epoch",
        "storage",
        "deletable",
        "attributes",
    },
    schema.SHARED_BLOB: {"blob", "funds"},
}
OPTIONAL = {
    schema.SYSTEM: {"future_accounting"},
    schema.STAKING: {"slashing_votes", "upgrade_votes", "package_version", "package_digest"},
}


def _plain(value: Any) -> bool:
    """Whether a value is made of JSON's own types only (no tuples, enums or newtypes left)."""
    if isinstance(value, dict):
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (str, int, bool)


def workload(h: Harness) -> None:
    """Every contract entry function at least once, across three epoch changes."""
    user, other = h.user, h.other
    coin = h.coin(user)
    piece = h.call(user, "wal::split", coin=coin, amount=5 * FROST)["coin"]
    h.call(user, "wal::pay", coin=coin, amount=FROST, recipient=other.address)
    h.call(user, "wal::merge", coin=coin, others=[piece])
    gift = h.call(user, "wal::split", coin=coin, amount=FROST)["coin"]
    h.call(user, "wal::transfer", coin=gift, recipient=other.address)
    h.tx(user, Call("gas::transfer", {"recipient": other.address, "amount": 1000}))

    epoch = h.epoch
    storage = h.reserve(user, 10_000, epochs=4)
    later = h.call(user, "storage::split_by_epoch", storage=storage, split_epoch=epoch + 2)
    h.call(user, "storage::fuse", storage=storage, other=later["storage"])
    part = h.call(user, "storage::split_by_size", storage=storage, split_size=4000)
    h.call(user, "storage::fuse", storage=storage, other=part["storage"])

    permanent = h.register(user, h.metadata(1000, seed=1), epochs=3)
    h.certify(user, permanent)
    h.call(user, "blob::set_attribute", blob=permanent, key="type", value="text")
    h.call(user, "blob::set_attribute", blob=permanent, key="lang", value="en")
    h.call(user, "blob::set_attribute", blob=permanent, key="type", value="json")
    h.call(user, "blob::remove_attribute", blob=permanent, key="lang")
    h.call(user, "system::extend_blob", blob=permanent, extended_epochs=1, payment=h.coin(user))
    blob = Blob.from_object(h.obj(permanent))
    extension = h.call(
        user,
        "system::reserve_space_for_epochs",
        storage_amount=blob.storage.storage_size,
        start_epoch=blob.end_epoch,
        end_epoch=blob.end_epoch + 1,
        payment=h.coin(user),
    )
    h.call(user, "system::extend_blob_with_resource", blob=permanent, storage=extension["storage"])

    deletable = h.register(user, h.metadata(2000, seed=2), epochs=3, deletable=True)
    h.certify(user, deletable)
    cleared = h.register(user, h.metadata(500, seed=3), epochs=2)
    h.call(user, "blob::set_attribute", blob=cleared, key="k", value="v")
    h.call(user, "blob::remove_attributes", blob=cleared)
    burnt = h.register(user, h.metadata(600, seed=4), epochs=2)
    h.call(user, "system::burn_blob", blob=burnt)
    to_share = h.register(user, h.metadata(700, seed=5), epochs=2)
    h.certify(user, to_share)
    shared = h.call(user, "shared_blob::new", blob=to_share, payment=h.coin(user), amount=10**12)[
        "shared_blob"
    ]
    h.call(other, "shared_blob::fund", shared_blob=shared, payment=h.coin(other), amount=10**12)
    h.call(other, "shared_blob::extend", shared_blob=shared, extended_epochs=2)
    invalid = h.metadata(800, seed=6).blob_id()
    signers = list(range(len(h.nodes)))
    certificate = h.certificate(h.invalid_blob_message(invalid), signers)
    h.call(user, "system::invalidate_blob_id", **certificate)

    candidate, candidate_id, candidate_cap = h.register_candidate()
    operator = candidate.operator
    h.call(operator, "staking::set_votes", cap=candidate_cap, storage_price=5, node_capacity=7)
    h.call(
        operator,
        "staking::set_node_info",
        cap=candidate_cap,
        name="renamed",
        metadata={"site": "example"},
    )
    h.call(
        operator, "staking::set_commission_receiver", node_id=candidate_id, receiver=h.user.address
    )
    h.stake(user, candidate_id, 2 * FROST)
    h.call(operator, "staking::try_join_active_set", cap=candidate_cap)
    node_id, node_operator = h.node_ids[0], h.nodes[0].operator
    h.call(node_operator, "staking::set_next_commission", node_id=node_id, commission_rate=500)
    early = h.stake(user, node_id, 3 * FROST)["staked_wal"]
    h.call(user, "staking::withdraw_stake", staked_wal=early)  # not active yet: directly
    staked = h.stake(user, node_id, 4 * FROST)["staked_wal"]
    h.next_epoch()
    h.call(user, "system::delete_blob", blob=deletable)
    h.call(user, "staking::request_withdraw_stake", staked_wal=staked)
    h.call(user, "staking::update_prices")

    committee = h.staking()["committee"]
    voters = [i for i, n in enumerate(h.node_ids) if n in committee]
    digest = "0x" + "ab" * 32
    for index in voters:
        vote = {"cap": h.caps[index], "package_digest": digest}
        if h.call(h.nodes[index].operator, "governance::vote_for_upgrade", **vote)["quorum"]:
            break
    h.call(user, "governance::commit_upgrade", package_digest=digest)
    target = h.node_ids[voters[-1]]
    for index in voters:
        vote = {"cap": h.caps[index], "target": target}
        h.call(h.nodes[index].operator, "governance::vote_for_slashing", **vote)
    h.next_epoch()
    h.next_epoch()
    h.call(user, "staking::withdraw_stake", staked_wal=staked)
    h.call(node_operator, "staking::collect_commission", node_id=node_id)


@pytest.fixture(scope="module")
def worked(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    h = Harness(tmp_path_factory.mktemp("schema") / "chain.sqlite")
    workload(h)
    return h


def _all_objects(h: Harness) -> list[Object]:
    return [o for t in OBJECT_SCHEMAS for o in h.ledger.store.objects_of_type(t)]


def test_every_stored_object_round_trips_through_its_schema(worked: Harness) -> None:
    objects = _all_objects(worked)
    seen = {o.type for o in objects}
    assert seen == set(OBJECT_SCHEMAS), f"the workload made no {set(OBJECT_SCHEMAS) - seen}"
    for obj in objects:
        cls = OBJECT_SCHEMAS[obj.type]
        fields = cls.from_object(obj).to_fields()
        # Same names, values and key order: the stored and served JSON does not change.
        assert json.dumps(fields) == json.dumps(obj.fields), obj.type
        assert _plain(fields), obj.type
        keys = set(fields)
        assert (
            DOCUMENTED_FIELDS[obj.type]
            <= keys
            <= DOCUMENTED_FIELDS[obj.type] | OPTIONAL.get(obj.type, set())
        ), obj.type
    # The workload reached the optional parts of the staking object too; they come last, in
    # the order they were first written (upgrade votes and their commit before slashing).
    staking = worked.staking()
    assert list(staking)[-4:] == [
        "upgrade_votes",
        "package_version",
        "package_digest",
        "slashing_votes",
    ]


def test_every_event_round_trips_through_its_schema(worked: Harness) -> None:
    events = worked.ledger.store.events(-1, 1000)
    assert len(events) < 1000
    assert {e.type for e in events} == set(EVENT_SCHEMAS)
    for event in events:
        cls = EVENT_SCHEMAS[event.type]
        fields = cls.from_event(event).to_fields()
        assert json.dumps(fields) == json.dumps(event.fields), event.type
        assert _plain(fields), event.type
        assert schema.parse_event(event) == cls.from_event(event)


def test_typed_values_are_the_stored_ones(worked: Harness) -> None:
    """A few values read typed mean what the JSON says (blob IDs, epochs, shard maps)."""
    system = System.from_object(worked.ledger.singleton(schema.SYSTEM))
    assert system.epoch == worked.epoch == 4
    assert [m.node_id for m in system.committee.members] == sorted(
        m["node_id"] for m in worked.system()["committee"]["members"]
    )
    staking = Staking.from_object(worked.ledger.singleton(schema.STAKING))
    assert staking.epoch_state.kind is EpochStateKind.DONE
    assert staking.version == 2
    assert {n: list(s) for n, s in staking.committee.items()} == worked.staking()["committee"]
    for obj in worked.ledger.store.objects_of_type(schema.BLOB):
        blob = Blob.from_object(obj)
        assert blob.blob_id == BlobId.parse(obj.fields["blob_id"])
        assert blob.end_epoch == obj.fields["storage"]["end_epoch"]
        assert blob.storage_id == obj.fields["storage"]["id"]


def test_reading_an_object_as_another_type_is_refused(worked: Harness) -> None:
    system = worked.ledger.singleton(schema.SYSTEM)
    with pytest.raises(SchemaError, match="walrus::System, not a walrus::Blob"):
        Blob.from_object(system)
    (event, *_) = worked.ledger.store.events(-1, 1)
    with pytest.raises(SchemaError, match="not a BlobCertified"):
        schema.BlobCertified.from_event(event)
    with pytest.raises(SchemaError, match="unknown object type"):
        schema.parse_object(Object("0x1", "walrus::Nothing", "shared", 0, {}))


# Shapes of older versions -------------------------------------------------------------------


def test_a_pool_of_an_older_version_reads_with_defaults(worked: Harness) -> None:
    stored = dict(worked.obj(worked.node_ids[1]).fields)
    del stored["pre_active_withdrawals"], stored["pending_commission_rates"]
    stored["pending_commission_rate"] = [7, 300]
    pool = StakingPool.from_fields(stored)
    assert pool.pre_active_withdrawals == {}
    assert pool.pending_commission_rates == {Epoch(7): 300}
    assert pool.next_commission == (7, 300)
    # Written back, it has the fields of today's pools, the old one unchanged.
    fields = pool.to_fields()
    assert fields == {
        **stored,
        "pre_active_withdrawals": {},
        "pending_commission_rates": {"7": 300},
    }
    assert StakingPool.from_fields(fields) == pool


def test_a_system_holding_its_accounting_ring_reads_it(worked: Harness) -> None:
    ring = worked.accounting_ring()
    stored = {**worked.system(), "future_accounting": ring}
    system = System.from_fields(stored)
    assert system.future_accounting is not None
    assert [e.to_fields() for e in system.future_accounting] == ring
    assert system.to_fields() == stored


def test_an_upgrade_tally_without_a_version_reads_as_one_for_the_next(worked: Harness) -> None:
    stored = {"epoch": 3, "voters": ["0x01"], "weight": 4, "quorum": True}
    tally = UpgradeTally.from_fields(stored)
    assert (tally.version, tally.quorum) == (None, True)
    assert tally.to_fields() == stored
    staking = dict(worked.staking())
    for key in OPTIONAL[schema.STAKING]:
        staking.pop(key, None)
    read = Staking.from_fields(staking)
    assert (read.slashing_votes, read.upgrade_votes, read.version) == (None, None, 1)
    assert read.to_fields() == staking


def test_pools_stored_by_an_older_version_still_work_in_the_ledger(tmp_path: Path) -> None:
    """Through the ledger: such a pool takes stake and commission changes and reads back."""
    h = Harness(tmp_path / "chain.sqlite")
    node_id = h.node_ids[2]
    fields = dict(h.obj(node_id).fields)
    del fields["pending_commission_rates"], fields["pre_active_withdrawals"]
    h.reopen_with_stored(node_id, fields)
    h.stake(h.user, node_id, 2 * FROST)
    pool = h.obj(node_id)
    assert StakingPool.from_object(pool).to_fields() == pool.fields
    assert pool.fields["pre_active_withdrawals"] == {}
    assert pool.fields["pending_stake"] == {str(h.epoch + 1): 2 * FROST}


def test_a_rejected_transaction_leaves_no_typed_value_behind(tmp_path: Path) -> None:
    """Working copies share the committed fields and schema values are remembered per fields
    dict: what a rejected transaction stored is not what the next one reads."""
    h = Harness(tmp_path / "chain.sqlite")
    coin = h.coin(h.user)
    before = h.accounting_ring()[0]["used_capacity"]
    balance = h.obj(coin).fields["balance"]
    reserve = {"storage_amount": 1000, "epochs_ahead": 1, "payment": coin}
    with rejected("EInsufficientFunds"):
        h.tx(
            h.user,
            Call("system::reserve_space", reserve),
            Call("wal::split", {"coin": coin, "amount": 10**19}),
        )
    assert h.accounting_ring()[0]["used_capacity"] == before
    assert h.obj(coin).fields["balance"] == balance
    cost = h.call(h.user, "system::reserve_space", **reserve)["cost"]
    assert h.accounting_ring()[0]["used_capacity"] == before + 1000
    assert h.obj(coin).fields["balance"] == balance - cost
