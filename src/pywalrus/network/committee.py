"""The committee as the network sees it: who holds which shard, at which URL, with which BLS
key, in the on-chain member order that certificates' signer bitmaps use. Clients read it to
store and read; nodes read it to find their peers.

The names say what sets it apart from the other committees of the code base:
`pywalrus.core.committee.Committee` is the pure shard assignment the contracts compute, and
`pywalrus.core.certificates.CommitteeMember` a signer's key and weight as certificates check
them; a `CommitteeView` adds what it takes to reach the members (`NodeMember`: name, URL) and
the previous committee during an epoch change.

During an epoch change (between `EpochChangeStart` and `EpochChangeDone`) the committee also
carries the previous one: a node that gained a shard may still be pulling its slivers, and the
shard's previous owner keeps serving them until the change is done, so readers ask it next.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from pywalrus.chain.client import ChainClient
from pywalrus.chain.objects import Object
from pywalrus.core.config import EncodingConfig
from pywalrus.core.crypto.bls import BlsPublicKey


@dataclass(frozen=True)
class NodeMember:
    """One committee member: a storage node, where to reach it and what it holds."""

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
class CommitteeView:
    """The members of one epoch (and, during an epoch change, of the one before)."""

    epoch: int
    """The committee's epoch."""
    n_shards: int
    """Total shards."""
    members: tuple[NodeMember, ...]
    """In on-chain order (by node ID)."""
    previous: CommitteeView | None = None
    """The committee of the epoch before: during an epoch change (or whenever loaded
    `with_previous`); None otherwise."""

    @property
    def encoding(self) -> EncodingConfig:
        return EncodingConfig(self.n_shards)

    def owner(self, shard: int) -> NodeMember:
        for member in self.members:
            if shard in member.shards:
                return member
        raise KeyError(f"shard {shard} has no owner")

    def read_owners(self, shard: int) -> list[NodeMember]:
        """Whom to ask for a sliver of `shard`: its owner, then, during an epoch change, its
        previous owner if that is another node."""
        owners = [self.owner(shard)]
        if self.previous is not None:
            with contextlib.suppress(KeyError):
                previous = self.previous.owner(shard)
                if previous.node_id != owners[0].node_id:
                    owners.append(previous)
        return owners

    def settled_shards(self, member: NodeMember) -> int:
        """How many of a member's shards it held before the epoch change in progress too: an
        answer of "not stored" from it speaks for those only (all of them outside a change,
        none if it is a member of the previous committee only)."""
        if all(m.node_id != member.node_id for m in self.members):
            return 0
        if self.previous is None:
            return len(member.shards)
        before = next((m.shards for m in self.previous.members if m.node_id == member.node_id), ())
        return len(set(member.shards) & set(before))

    def peers(self, node_id: str) -> list[NodeMember]:
        """Every member of this and the previous committee except `node_id`, once each."""
        seen = {node_id}
        out = []
        for member in (*self.members, *(self.previous.members if self.previous else ())):
            if member.node_id not in seen:
                seen.add(member.node_id)
                out.append(member)
        return out


def url_of(network_address: str) -> str:
    if network_address.startswith(("http://", "https://")):
        return network_address.rstrip("/")
    return f"http://{network_address}"


async def load_committee(chain: ChainClient, with_previous: bool = False) -> CommitteeView:
    """Read the current committee from the system and staking objects and the pools; with the
    previous one during an epoch change, or always when `with_previous` (shard sync needs the
    previous owners after the change is done too)."""
    system = await chain.singleton("walrus::System")
    staking = await chain.singleton("walrus::Staking")
    return await committee_from(chain, system, staking, with_previous)


async def committee_from(
    chain: ChainClient, system: Object, staking: Object, with_previous: bool = False
) -> CommitteeView:
    """`load_committee` from system and staking objects already read."""
    epoch, n_shards = int(system.fields["epoch"]), int(system.fields["n_shards"])
    previous = None
    changing = staking.fields["epoch_state"]["kind"] == "EpochChangeSync"
    old = system.fields.get("previous_committee")
    if (changing or with_previous) and old:
        members = await _members(chain, old["members"], staking.fields["previous_committee"])
        previous = CommitteeView(epoch - 1, n_shards, members)
    members = await _members(
        chain, system.fields["committee"]["members"], staking.fields["committee"]
    )
    return CommitteeView(epoch, n_shards, members, previous)


async def _members(
    chain: ChainClient, entries: list[dict[str, Any]], shards: dict[str, list[int]] | None
) -> tuple[NodeMember, ...]:
    """Committee members (on-chain order) with their pools' names and URLs."""
    members = []
    for index, entry in enumerate(entries):
        pool = await chain.get_object(entry["node_id"])
        if pool is None:
            continue
        members.append(
            NodeMember(
                index=index,
                node_id=entry["node_id"],
                name=pool.fields["name"],
                url=url_of(pool.fields["network_address"]),
                public_key=BlsPublicKey.from_bytes(bytes.fromhex(entry["public_key"])),
                shards=tuple(int(s) for s in (shards or {}).get(entry["node_id"], [])),
            )
        )
    return tuple(members)
