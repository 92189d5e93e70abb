"""What `walrus info` shows, in upstream's sections and JSON shapes (`InfoOutput`).

Each section is a small typed value with `to_json()` giving upstream's camelCase JSON:
epoch (`epochInfo`), storage (`storageInfo`), size (`sizeInfo`), price (`priceInfo`), BFT
(`bftInfo`) and committee (`committeeInfo`). Sizes and prices follow upstream's formulas
(`responses.rs`): metadata is n·(64n + 32) bytes, prices are per storage unit of 1 MiB of
encoded size, example blobs are max_blob_size.next_power_of_two() / 1024, 32 times that, and
the maximum blob size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pywalrus.core.config import (
    BYTES_PER_UNIT_SIZE,
    MAX_SYMBOL_SIZE,
    EncodingConfig,
    max_n_faulty,
)

if TYPE_CHECKING:
    from pywalrus.chain.client import ChainClient

MAX_BLOB_SIZE_IN_QUILT = 2**32 - 1
"""Upstream's quilt blob header limit (`BlobHeaderV1::MAX_SERIALIZED_BLOB_SIZE`)."""
ENCODING = "RS2"


def units(size: int) -> int:
    """Storage units (1 MiB each, rounded up) of `size` encoded bytes."""
    return -(-size // BYTES_PER_UNIT_SIZE)


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class EpochInfo:
    current_epoch: int
    start_ms: int | None
    """Start of the current epoch; None during an epoch change."""
    duration_ms: int
    max_epochs_ahead: int
    now_ms: int

    def to_json(self) -> dict[str, Any]:
        start: dict[str, str]
        if self.start_ms is None:
            earliest = iso(self.now_ms + self.duration_ms)
            start = {
                "Message": "Epoch change is currently in progress... Earliest epoch end time "
                f"is {earliest}"
            }
        else:
            start = {"DateTime": iso(self.start_ms)}
        secs, ms = divmod(self.duration_ms, 1000)
        return {
            "currentEpoch": self.current_epoch,
            "startOfCurrentEpoch": start,
            "epochDuration": {"secs": secs, "nanos": ms * 1_000_000},
            "maxEpochsAhead": self.max_epochs_ahead,
        }


@dataclass(frozen=True)
class StorageInfo:
    n_shards: int
    n_nodes: int

    def to_json(self) -> dict[str, Any]:
        return {"nShards": self.n_shards, "nNodes": self.n_nodes}


@dataclass(frozen=True)
class SizeInfo:
    max_blob_size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "storageUnitSize": BYTES_PER_UNIT_SIZE,
            "maxBlobSize": self.max_blob_size,
            "maxBlobSizeInQuilt": MAX_BLOB_SIZE_IN_QUILT,
        }


@dataclass(frozen=True)
class ExampleBlob:
    unencoded_size: int
    encoded_size: int
    price: int
    """FROST to store it for one epoch (storage only, as upstream's examples)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "unencodedSize": self.unencoded_size,
            "encodedSize": self.encoded_size,
            "price": self.price,
            "encodingType": ENCODING,
        }


@dataclass(frozen=True)
class PriceInfo:
    storage_price: int
    """FROST per storage unit and epoch."""
    write_price: int
    """FROST per storage unit, once per write."""
    marginal_size: int
    metadata_price: int
    marginal_price: int
    examples: tuple[ExampleBlob, ...]

    @classmethod
    def compute(cls, config: EncodingConfig, storage_price: int, write_price: int) -> PriceInfo:
        n = config.n_shards
        marginal = 1 << 20
        while marginal > config.max_blob_size:
            marginal //= 4
        slivers = n * (config.n_primary_source_symbols + config.n_secondary_source_symbols)
        first = (1 << (config.max_blob_size - 1).bit_length()) // 1024
        examples = tuple(
            ExampleBlob(
                size,
                config.encoded_length(size),
                units(config.encoded_length(size)) * storage_price,
            )
            for size in (first, first * 32, config.max_blob_size)
        )
        return cls(
            storage_price,
            write_price,
            marginal,
            units(n * config.metadata_length) * storage_price,
            units(slivers * config.symbol_size(marginal)) * storage_price,
            examples,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "storagePricePerUnitSize": self.storage_price,
            "writePricePerUnitSize": self.write_price,
            "encodingDependentPriceInfo": [
                {
                    "marginalSize": self.marginal_size,
                    "metadataPrice": self.metadata_price,
                    "marginalPrice": self.marginal_price,
                    "exampleBlobs": [e.to_json() for e in self.examples],
                    "encodingType": ENCODING,
                }
            ],
        }


@dataclass(frozen=True)
class BftInfo:
    n_shards: int
    shards_per_node: tuple[int, ...]

    @property
    def f(self) -> int:
        return max_n_faulty(self.n_shards)

    def min_nodes_above_f(self) -> tuple[int, int]:
        """The fewest nodes whose shards exceed f, and how many shards they hold."""
        total = 0
        for count, shards in enumerate(sorted(self.shards_per_node, reverse=True), 1):
            total += shards
            if total > self.f:
                return count, total
        return len(self.shards_per_node), total

    def to_json(self) -> dict[str, Any]:
        nodes, shards = self.min_nodes_above_f()
        return {
            "maxFaultyShards": self.f,
            "minCorrectShards": self.n_shards - self.f,
            "quorumThreshold": 2 * self.f + 1,
            "minNodesAbove": nodes,
            "shardsAbove": shards,
        }


@dataclass(frozen=True)
class StorageNodeInfo:
    name: str
    node_id: str
    network_address: str
    public_key: str
    next_epoch_public_key: str | None
    network_public_key: str
    shard_ids: tuple[int, ...]
    stake: int
    voting_params: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "networkAddress": self.network_address,
            "publicKey": self.public_key,
        }
        if self.next_epoch_public_key:
            body["nextEpochPublicKey"] = self.next_epoch_public_key
        body.update(
            {
                "networkPublicKey": self.network_public_key,
                "nShards": len(self.shard_ids),
                "shardIds": list(self.shard_ids),
                "nodeId": self.node_id,
                "stake": self.stake,
                "votingParams": self.voting_params,
            }
        )
        return body


@dataclass(frozen=True)
class CommitteeInfo:
    config: EncodingConfig
    current: tuple[StorageNodeInfo, ...]
    next: tuple[StorageNodeInfo, ...]

    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "nShards": c.n_shards,
            "nPrimarySourceSymbols": c.n_primary_source_symbols,
            "nSecondarySourceSymbols": c.n_secondary_source_symbols,
            "maxSliverSize": c.n_secondary_source_symbols * MAX_SYMBOL_SIZE,
            "metadataStorageSize": c.n_shards * c.metadata_length,
            "maxEncodedBlobSize": c.encoded_length(c.max_blob_size),
            "currentStorageNodes": [n.to_json() for n in self.current],
            "nextStorageNodes": [n.to_json() for n in self.next],
        }


@dataclass(frozen=True)
class SystemInfo:
    """Everything `walrus info` can show."""

    epoch: EpochInfo
    storage: StorageInfo
    size: SizeInfo
    price: PriceInfo
    bft: BftInfo
    committee: CommitteeInfo

    def to_json(self, full: bool = False) -> dict[str, Any]:
        """`walrus info` (and with `full`, `walrus info all`) as upstream's `InfoOutput`."""
        body = {
            "epochInfo": self.epoch.to_json(),
            "storageInfo": self.storage.to_json(),
            "sizeInfo": self.size.to_json(),
            "priceInfo": self.price.to_json(),
        }
        if full:
            body["committeeInfo"] = self.committee.to_json()
            body["bftInfo"] = self.bft.to_json()
        return body


def _nodes(
    assignment: dict[str, list[int]] | None, pools: dict[str, Any], sort_by: str, desc: bool
) -> tuple[StorageNodeInfo, ...]:
    nodes = []
    for node_id, shards in (assignment or {}).items():
        pool = pools.get(node_id)
        f = pool.fields if pool is not None else {}
        nodes.append(
            StorageNodeInfo(
                name=f.get("name", "?"),
                node_id=node_id,
                network_address=f.get("network_address", "?"),
                public_key=f.get("public_key", ""),
                next_epoch_public_key=f.get("next_epoch_public_key"),
                network_public_key=f.get("network_public_key", ""),
                shard_ids=tuple(sorted(int(s) for s in shards)),
                stake=int(f.get("wal_balance", 0)),
                voting_params=dict(f.get("votes", {})),
            )
        )
    keys = {
        "id": lambda n: n.node_id,
        "url": lambda n: n.network_address.lower(),
        "name": lambda n: n.name.lower(),
    }
    nodes.sort(key=keys.get(sort_by, keys["name"]), reverse=desc)
    return tuple(nodes)


async def system_info(chain: ChainClient, sort_by: str = "name", desc: bool = False) -> SystemInfo:
    """Read the system, staking objects and pools and compute every section."""
    info = await chain.info()
    system = (await chain.singleton("walrus::System")).fields
    staking = (await chain.singleton("walrus::Staking")).fields
    pools = {pool.id: pool for pool in await chain.objects_of_type("walrus::StakingPool")}
    config = EncodingConfig(int(system["n_shards"]))
    state = staking["epoch_state"]
    start = state.get("at_ms") if state["kind"] != "EpochChangeSync" else None
    assignment: dict[str, list[int]] = staking["committee"]
    return SystemInfo(
        EpochInfo(
            int(system["epoch"]),
            start,
            int(staking["epoch_duration_ms"]),
            int(system["max_epochs_ahead"]),
            int(info["timeMs"]),
        ),
        StorageInfo(config.n_shards, len(assignment)),
        SizeInfo(config.max_blob_size),
        PriceInfo.compute(
            config,
            int(system["storage_price_per_unit_size"]),
            int(system["write_price_per_unit_size"]),
        ),
        BftInfo(config.n_shards, tuple(len(s) for s in assignment.values())),
        CommitteeInfo(
            config,
            _nodes(assignment, pools, sort_by, desc),
            _nodes(staking.get("next_committee"), pools, sort_by, desc),
        ),
    )
