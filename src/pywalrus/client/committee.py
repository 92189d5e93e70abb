"""The client's view of the current committee: who holds which shard, at which URL, with
which BLS key, in the on-chain member order that certificates' signer bitmaps use."""

from __future__ import annotations

from dataclasses import dataclass

from pywalrus.chain.client import ChainClient
from pywalrus.core.config import EncodingConfig
from pywalrus.core.crypto.bls import BlsPublicKey


@dataclass(frozen=True)
class Member:
    """One committee member."""

    index: int
    """Position in the on-chain committee (bit in a signer bitmap)."""
    node_id: str
    """0x-hex pool ID."""
    name: str
    """The node's registered name."""
    url: str
    """Base URL of its REST API."""
    public_key: BlsPublicKey
    """Its BLS key for this epoch."""
    shards: tuple[int, ...]
    """Shards it holds."""


@dataclass(frozen=True)
class Committee:
    """The members of one epoch."""

    epoch: int
    """The committee's epoch."""
    n_shards: int
    """Total shards."""
    members: tuple[Member, ...]
    """In on-chain order (by node ID)."""

    @property
    def encoding(self) -> EncodingConfig:
        return EncodingConfig(self.n_shards)

    def owner(self, shard: int) -> Member:
        for member in self.members:
            if shard in member.shards:
                return member
        raise KeyError(f"shard {shard} has no owner")


def url_of(network_address: str) -> str:
    if network_address.startswith(("http://", "https://")):
        return network_address.rstrip("/")
    return f"http://{network_address}"


async def load_committee(chain: ChainClient) -> Committee:
    """Read the current committee from the system and staking objects and the pools."""
    system = await chain.singleton("walrus::System")
    staking = await chain.singleton("walrus::Staking")
    shards = staking.fields["committee"]
    members = []
    for index, entry in enumerate(system.fields["committee"]["members"]):
        pool = await chain.get_object(entry["node_id"])
        if pool is None:
            continue
        members.append(
            Member(
                index=index,
                node_id=entry["node_id"],
                name=pool.fields["name"],
                url=url_of(pool.fields["network_address"]),
                public_key=BlsPublicKey.from_bytes(bytes.fromhex(entry["public_key"])),
                shards=tuple(int(s) for s in shards.get(entry["node_id"], [])),
            )
        )
    return Committee(int(system.fields["epoch"]), int(system.fields["n_shards"]), tuple(members))
