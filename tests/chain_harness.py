"""A ledger with a genesis of real keys, driven in-process, for contract tests."""

from __future__ import annotations

import base64
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pywalrus.chain.ledger import Clock, ExecutionResult, Ledger
from pywalrus.chain.objects import Object
from pywalrus.chain.tx import Call, TransactionData, fee_for
from pywalrus.core.accounts import Account
from pywalrus.core.certificates import encode_signers
from pywalrus.core.config import EncodingConfig
from pywalrus.core.crypto.bls import aggregate_signatures
from pywalrus.core.encoding import compute_metadata
from pywalrus.core.errors import TransactionRejected
from pywalrus.core.messages import (
    Deletable,
    InvalidBlobIdMsg,
    StorageConfirmation,
    sign_proof_of_possession,
)
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.types import BlobId, Epoch
from pywalrus.testbed.genesis import (
    NodeIdentity,
    generate_nodes,
    make_genesis,
    node_genesis_entry,
)

START_MS = 1_700_000_000_000
FROST = 10**9


def rejected(code: str) -> pytest.RaisesExc[TransactionRejected]:
    """Expect a transaction refused with the abort `code`."""
    return pytest.raises(TransactionRejected, match=code)


class Harness:
    """A chain with `n_nodes` equal-stake nodes, two funded users, and a manual clock."""

    def __init__(
        self,
        path: Path,
        n_nodes: int = 4,
        n_shards: int = 10,
        epoch_ms: int = 60_000,
        active_set_max: int | None = None,
    ) -> None:
        self.nodes = generate_nodes(n_nodes)
        self.user = Account.generate()
        self.other = Account.generate()
        self.chain_key = Account.generate()
        self.epoch_ms = epoch_ms
        self.n_shards = n_shards
        self.path = path
        self.ledger = Ledger(path, "test-chain", self.chain_key, Clock(True, START_MS))
        genesis = make_genesis(self.nodes, n_shards, epoch_ms, [self.user, self.other])
        if active_set_max is not None:
            genesis["active_set_max"] = active_set_max
        result = self.ledger.execute_system([Call("genesis::init", {"config": genesis})])
        ids = result.effects["results"][0]["nodes"]
        self.node_ids = [ids[n.name]["node_id"] for n in self.nodes]
        self.caps = [ids[n.name]["cap"] for n in self.nodes]
        self.staked = [ids[n.name]["staked_wal"] for n in self.nodes]

    # Transactions ------------------------------------------------------------------------

    def tx(self, account: Account, *calls: Call, gas_budget: int | None = None) -> ExecutionResult:
        nonce = self.ledger.store.account(account.address)[0]
        data = TransactionData("test-chain", account.address, nonce, 0, calls)
        budget = fee_for(data) if gas_budget is None else gas_budget
        data = TransactionData("test-chain", account.address, nonce, budget, calls)
        return self.ledger.submit(data.sign(account))

    def call(self, account: Account, function: str, **args: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.tx(account, Call(function, args)).effects["results"][0]
        return result

    def coin(self, account: Account) -> str:
        coins = self.ledger.store.objects_owned_by(account.address, "wal::Coin")
        return max(coins, key=lambda c: c.fields["balance"]).id

    def balance(self, account: Account) -> int:
        coins = self.ledger.store.objects_owned_by(account.address, "wal::Coin")
        return sum(int(c.fields["balance"]) for c in coins)

    def obj(self, object_id: str) -> Object:
        obj = self.ledger.object(object_id)
        assert obj is not None, object_id
        return obj

    def system(self) -> dict[str, Any]:
        return self.ledger.singleton("walrus::System").fields

    def accounting_ring(self) -> list[dict[str, Any]]:
        ring: list[dict[str, Any]] = self.ledger.singleton("walrus::FutureAccounting").fields[
            "ring"
        ]
        return ring

    def staking(self) -> dict[str, Any]:
        return self.ledger.singleton("walrus::Staking").fields

    @property
    def epoch(self) -> int:
        return int(self.system()["epoch"])

    def stake(self, account: Account, node_id: str, amount: int) -> dict[str, Any]:
        return self.call(
            account,
            "staking::stake_with_pool",
            payment=self.coin(account),
            amount=amount,
            node_id=node_id,
        )

    def active_stake(self, node_id: str) -> int | None:
        """The stake the active set records for `node_id`, None if it is not in the set."""
        return next((s for n, s in self.staking()["active_set"] if n == node_id), None)

    def register_candidate(self) -> tuple[NodeIdentity, str, str]:
        """A new candidate registered now (funded operator, proof for this epoch); no stake."""
        (node,) = generate_nodes(1)
        entry = node_genesis_entry(node, 0, {})
        args = {k: v for k, v in entry.items() if k not in ("operator", "stake")}
        gas = {"recipient": node.operator.address, "amount": 10**9}
        self.tx(self.user, Call("gas::transfer", gas))
        pop = sign_proof_of_possession(
            node.protocol_key, self.epoch, bytes.fromhex(node.operator.address[2:])
        )
        args["proof_of_possession"] = base64.b64encode(pop.to_bytes()).decode()
        result = self.call(node.operator, "staking::register_candidate", **args)
        return node, str(result["node_id"]), str(result["cap"])

    def reopen_with_stored(self, object_id: str, fields: dict[str, Any]) -> None:
        """Close the chain, store `fields` for an object on disk (as an older version of the
        contracts left it) and open the chain again."""
        clock = self.ledger.clock
        self.ledger.close()
        with sqlite3.connect(self.path) as db:
            db.execute(
                "UPDATE objects SET fields = ? WHERE id = ?", (json.dumps(fields), object_id)
            )
        db.close()
        self.ledger = Ledger(self.path, "test-chain", self.chain_key, clock)

    # Blobs -------------------------------------------------------------------------------

    def metadata(self, size: int = 1000, seed: int = 0) -> BlobMetadata:
        data = random.Random(seed).randbytes(size)
        return compute_metadata(data, EncodingConfig(self.n_shards))

    def reserve(self, account: Account, size: int, epochs: int = 3) -> str:
        result = self.call(
            account,
            "system::reserve_space",
            storage_amount=size,
            epochs_ahead=epochs,
            payment=self.coin(account),
        )
        return str(result["storage"])

    def register(
        self,
        account: Account,
        metadata: BlobMetadata,
        epochs: int = 3,
        deletable: bool = False,
    ) -> str:
        config = EncodingConfig(self.n_shards)
        encoded = config.encoded_length(metadata.unencoded_length)
        coin = self.coin(account)
        result = self.tx(
            account,
            Call(
                "system::reserve_space",
                {"storage_amount": encoded, "epochs_ahead": epochs, "payment": coin},
            ),
            Call(
                "system::register_blob",
                {
                    "storage": {"$result": [0, "storage"]},
                    "blob_id": str(metadata.blob_id()),
                    "root_hash": metadata.root_hash().hex(),
                    "size": metadata.unencoded_length,
                    "encoding_type": 1,
                    "deletable": deletable,
                    "write_payment": coin,
                },
            ),
        )
        return str(result.effects["results"][1]["blob"])

    def members(self) -> list[NodeIdentity]:
        """Nodes in committee order (by node ID)."""
        order = [m["node_id"] for m in self.system()["committee"]["members"]]
        by_id = dict(zip(self.node_ids, self.nodes, strict=True))
        return [by_id[node_id] for node_id in order]

    def certificate(
        self,
        message: bytes,
        signers: list[int],
        signer_keys: list[int] | None = None,
    ) -> dict[str, str]:
        """Certificate arguments: `signers` in the bitmap, `signer_keys` actually signing."""
        members = self.members()
        keys = signers if signer_keys is None else signer_keys
        signature = aggregate_signatures(members[i].protocol_key.sign(message) for i in keys)
        return {
            "signature": base64.b64encode(signature.to_bytes()).decode(),
            "signers_bitmap": base64.b64encode(encode_signers(signers, len(members))).decode(),
            "message": base64.b64encode(message).decode(),
        }

    def confirmation(
        self, blob_id: BlobId, object_id: str | None = None, epoch: int | None = None
    ) -> bytes:
        persistence = Deletable(bytes.fromhex(object_id[2:])) if object_id else None
        message = StorageConfirmation(
            Epoch(self.epoch if epoch is None else epoch),
            blob_id,
            *([persistence] if persistence else []),
        )
        return message.to_bytes()

    def invalid_blob_message(self, blob_id: BlobId) -> bytes:
        return InvalidBlobIdMsg(Epoch(self.epoch), blob_id).to_bytes()

    def certify(self, account: Account, blob: str, signers: list[int] | None = None) -> None:
        fields = self.obj(blob).fields
        blob_id = BlobId.parse(fields["blob_id"])
        message = self.confirmation(blob_id, blob if fields["deletable"] else None)
        signers = list(range(len(self.nodes))) if signers is None else signers
        self.call(account, "system::certify_blob", blob=blob, **self.certificate(message, signers))

    # Epochs ------------------------------------------------------------------------------

    def advance_time(self, ms: int) -> None:
        self.ledger.clock.advance(ms)

    def run_epoch_steps(self) -> list[str]:
        """Run due permissionless epoch steps; returns the event types they emitted."""
        from pywalrus.chain.service import tick

        before = self.ledger.store.event_count()
        tick(self.ledger)
        tick(self.ledger)
        return [e.type for e in self.ledger.store.events(before - 1, 100)]

    def all_sync_done(self) -> None:
        epoch = self.epoch
        for node, cap in zip(self.nodes, self.caps, strict=True):
            if self.staking()["epoch_state"]["kind"] != "EpochChangeSync":
                break
            if self.staking()["committee"].get(self.node_ids[self.nodes.index(node)]):
                self.call(node.operator, "staking::epoch_sync_done", cap=cap, epoch=epoch)

    def next_epoch(self) -> None:
        """Drive the clock through voting end and epoch change, and finish the sync."""
        start = self.staking()["epoch_state"]["at_ms"]
        now = self.ledger.clock.now_ms()
        self.advance_time(max(0, start + self.epoch_ms - now))
        self.run_epoch_steps()
        self.all_sync_done()
