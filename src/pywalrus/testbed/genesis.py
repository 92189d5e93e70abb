"""Genesis configurations with freshly generated keys, for local networks and tests."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from pywalrus.chain.contracts.coin import FROST_PER_WAL
from pywalrus.core.accounts import Account
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.core.messages import sign_proof_of_possession

MIST_PER_SUI = 10**9


@dataclass(frozen=True)
class NodeIdentity:
    """The keys of one storage node."""

    name: str
    """Human-readable name, `node-0`, …"""
    operator: Account
    """The node's Sui-style wallet (owns its cap, pays its transactions)."""
    protocol_key: BlsPrivateKey
    """BLS key that signs storage confirmations."""
    network_address: str
    """host:port of its REST API."""


def node_genesis_entry(node: NodeIdentity, stake: int, votes: dict[str, int]) -> dict[str, Any]:
    """The genesis record of a node, with its proof of possession for epoch 0."""
    pop = sign_proof_of_possession(node.protocol_key, 0, bytes.fromhex(node.operator.address[2:]))
    return {
        "name": node.name,
        "operator": node.operator.address,
        "network_address": node.network_address,
        "public_key": node.protocol_key.public_key().to_bytes().hex(),
        "network_public_key": "",
        "proof_of_possession": base64.b64encode(pop.to_bytes()).decode(),
        "commission_rate": votes.get("commission_rate", 0),
        "storage_price": votes.get("storage_price", 100_000),
        "write_price": votes.get("write_price", 20_000),
        "node_capacity": votes.get("node_capacity", 1 << 40),
        "stake": stake,
    }


def make_genesis(
    nodes: list[NodeIdentity],
    n_shards: int,
    epoch_duration_ms: int,
    accounts: list[Account],
    stakes: list[int] | None = None,
    max_epochs_ahead: int = 53,
    wal_per_account: int = 1_000_000 * FROST_PER_WAL,
    gas_per_account: int = 1_000 * MIST_PER_SUI,
) -> dict[str, Any]:
    """A genesis configuration: nodes with stake, and funded accounts (operators included)."""
    stakes = stakes or [1_000_000 * FROST_PER_WAL] * len(nodes)
    funded = [*accounts, *(n.operator for n in nodes)]
    return {
        "n_shards": n_shards,
        "epoch_duration_ms": epoch_duration_ms,
        "max_epochs_ahead": max_epochs_ahead,
        "storage_price": 100_000,
        "write_price": 20_000,
        "nodes": [node_genesis_entry(n, s, {}) for n, s in zip(nodes, stakes, strict=True)],
        "accounts": [
            {"address": a.address, "wal": wal_per_account, "gas": gas_per_account} for a in funded
        ],
    }


def generate_nodes(count: int, ports: list[int] | None = None) -> list[NodeIdentity]:
    ports = ports or [9185 + i for i in range(count)]
    return [
        NodeIdentity(
            f"node-{i}", Account.generate(), BlsPrivateKey.generate(), f"127.0.0.1:{ports[i]}"
        )
        for i in range(count)
    ]
