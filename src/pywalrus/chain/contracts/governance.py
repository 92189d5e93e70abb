"""Governance by shard weight: slashing votes and contract-upgrade votes (`slashing.move`,
`upgrade.move`).

Only members of the current committee vote, each with its shard count. When the votes against
a node reach a quorum within one epoch, its pool's commission is burnt; delegated principal is
never touched. An upgrade proposal that reaches a quorum may be committed in the same epoch;
our chain cannot swap its code at run time, so committing records the new package digest and
version, which every component can read.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from pywalrus.chain.context import TxContext
from pywalrus.chain.contracts import coin, entry, staking
from pywalrus.chain.objects import Object
from pywalrus.chain.schema import (
    ContractUpgraded,
    ContractUpgradeProposed,
    ContractUpgradeQuorumReached,
    NodeSlashed,
    SlashingTally,
    Staking,
    StakingPool,
    StorageNodeCap,
    UpgradeTally,
)
from pywalrus.core.config import is_quorum
from pywalrus.core.errors import Abort
from pywalrus.core.types import Frost, ObjectId

Tally = TypeVar("Tally", SlashingTally, UpgradeTally)


def _voter(ctx: TxContext, cap: str) -> tuple[ObjectId, int, Object, Staking]:
    """(node ID, current shard weight, staking object and content) of a committee member's
    cap."""
    obj, s = staking.staking_state(ctx)
    node_id = ctx.load(StorageNodeCap, cap)[1].node_id
    weight = len(s.committee.get(node_id, ()))
    if weight == 0:
        raise Abort("ENotCommitteeMember", "only current committee members may vote")
    return node_id, weight, obj, s


def _add_vote(tally: Tally, voter: ObjectId, weight: int) -> Tally:
    if voter in tally.voters:
        raise Abort("EDuplicateVote", "this node already voted for this proposal in this epoch")
    return replace(tally, voters=(*tally.voters, voter), weight=tally.weight + weight)


def _package_digest(text: str) -> str:
    """A package digest: 32 bytes in hex, with or without `0x` (upstream `PackageDigest`),
    named as `0x` and lower-case hex."""
    digits = text[2:] if text[:2].lower() == "0x" else text
    try:
        raw = bytes.fromhex(digits) if len(digits) == 64 else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise Abort(
            "EInvalidPackageDigest",
            f"a package digest is 32 bytes in hex (64 digits), got {len(text)} characters",
        )
    return "0x" + raw.hex()


@entry("governance::vote_for_slashing")
def vote_for_slashing(ctx: TxContext, cap: str, target: str) -> dict[str, Any]:
    """Vote to slash `target`; at a quorum of shards its commission is burnt.

    A vote in a later epoch than the tally's starts it afresh."""
    voter, weight, obj, s = _voter(ctx, cap)
    pool_obj, pool = ctx.load(StakingPool, target)
    votes = dict(s.slashing_votes or {})
    tally = votes.get(ObjectId(target))
    if tally is None or tally.epoch != s.epoch:
        tally = SlashingTally(s.epoch, (), 0)
    tally = _add_vote(tally, voter, weight)
    slashed = 0
    if is_quorum(tally.weight, s.n_shards) and not tally.executed:
        slashed = pool.commission + pool.commission_blocked
        ctx.store(pool_obj, replace(pool, commission=Frost(0), commission_blocked=Frost(0)))
        coin.burn(ctx, slashed)
        tally = replace(tally, executed=True)
        ctx.emit(NodeSlashed(s.epoch, ObjectId(target), Frost(slashed)), [target])
    votes[ObjectId(target)] = tally
    ctx.store(obj, replace(s, slashing_votes=votes))
    return {"weight": tally.weight, "slashed": slashed}


@entry("governance::vote_for_upgrade")
def vote_for_upgrade(ctx: TxContext, cap: str, package_digest: str) -> dict[str, Any]:
    """Vote for a new package digest with this node's shard weight.

    The tally starts afresh in a later epoch or for another version (an older chain's tally
    has no version and counts for the next one)."""
    digest = _package_digest(package_digest)
    voter, weight, obj, s = _voter(ctx, cap)
    version = s.version + 1
    votes = dict(s.upgrade_votes or {})
    tally = votes.get(digest)
    if (
        tally is None
        or tally.epoch != s.epoch
        or (tally.version is not None and tally.version != version)
    ):
        tally = UpgradeTally(s.epoch, (), 0, version)
    tally = _add_vote(tally, voter, weight)
    if len(tally.voters) == 1:
        ctx.emit(ContractUpgradeProposed(s.epoch, digest))
    if is_quorum(tally.weight, s.n_shards) and not tally.quorum:
        tally = replace(tally, quorum=True)
        ctx.emit(ContractUpgradeQuorumReached(s.epoch, digest))
    votes[digest] = tally
    ctx.store(obj, replace(s, upgrade_votes=votes))
    return {"weight": tally.weight, "quorum": tally.quorum}


@entry("governance::commit_upgrade")
def commit_upgrade(ctx: TxContext, package_digest: str) -> dict[str, Any]:
    """Adopt an upgrade whose vote reached a quorum in the current epoch (upstream
    `authorize_upgrade` and `commit_upgrade`)."""
    digest = _package_digest(package_digest)
    obj, s = staking.staking_state(ctx)
    votes = dict(s.upgrade_votes or {})
    tally = votes.pop(digest, None)
    if tally is None:
        raise Abort("ENoProposalForDigest", f"nobody voted for {digest}")
    if tally.epoch != s.epoch:
        raise Abort("EWrongEpoch", f"the votes for {digest} are from epoch {tally.epoch}")
    if not is_quorum(tally.weight, s.n_shards):
        raise Abort("ENotEnoughVotes", "the upgrade has no quorum in the current epoch")
    version = s.version + 1
    if tally.version is not None and tally.version != version:
        raise Abort("EWrongVersion", f"the votes were for version {tally.version}")
    s = replace(s, upgrade_votes=votes, package_version=version, package_digest=digest)
    ctx.emit(ContractUpgraded(s.epoch, digest, version))
    ctx.store(obj, s)
    return {"version": version}
