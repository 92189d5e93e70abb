"""Governance by shard weight: slashing votes and contract-upgrade votes (`slashing.move`,
`upgrade.move`).

Only members of the current committee vote, each with its shard count. When the votes against
a node reach a quorum within one epoch, its pool's commission is burnt; delegated principal is
never touched. An upgrade proposal that reaches a quorum may be committed in the same epoch;
our chain cannot swap its code at run time, so committing records the new package digest and
version, which every component can read.
"""

from __future__ import annotations

from typing import Any

from pywalrus.chain.context import TxContext
from pywalrus.chain.contracts import coin, entry, staking
from pywalrus.chain.objects import Abort
from pywalrus.core.config import is_quorum


def _voter(ctx: TxContext, cap: str) -> tuple[str, int, dict[str, Any]]:
    """(node ID, current shard weight, staking fields) of a committee member's cap."""
    s = staking.staking_state(ctx).fields
    node_id = ctx.get_mut(cap, staking.CAP).fields["node_id"]
    weight = len(s["committee"].get(node_id, []))
    if weight == 0:
        raise Abort("ENotCommitteeMember", "only current committee members may vote")
    return node_id, weight, s


def _tally(s: dict[str, Any], table: str, key: str, voter: str, weight: int) -> Any:
    votes = s.setdefault(table, {})
    entry_ = votes.get(key)
    if entry_ is None or entry_["epoch"] != s["epoch"]:
        entry_ = votes[key] = {"epoch": s["epoch"], "voters": [], "weight": 0}
    if voter in entry_["voters"]:
        raise Abort("EDuplicateVote", "this node already voted for this proposal in this epoch")
    entry_["voters"].append(voter)
    entry_["weight"] += weight
    return entry_


@entry("governance::vote_for_slashing")
def vote_for_slashing(ctx: TxContext, cap: str, target: str) -> dict[str, Any]:
    """Vote to slash `target`; at a quorum of shards its commission is burnt."""
    voter, weight, s = _voter(ctx, cap)
    pool = ctx.get_mut(target, staking.POOL)
    tally = _tally(s, "slashing_votes", target, voter, weight)
    slashed = 0
    if is_quorum(tally["weight"], s["n_shards"]) and not tally.get("executed"):
        p = pool.fields
        slashed = p["commission"] + p["commission_blocked"]
        p["commission"] = p["commission_blocked"] = 0
        coin.burn(ctx, slashed)
        tally["executed"] = True
        ctx.emit(
            "NodeSlashed", {"epoch": s["epoch"], "node_id": target, "burned": slashed}, [target]
        )
    return {"weight": tally["weight"], "slashed": slashed}


@entry("governance::vote_for_upgrade")
def vote_for_upgrade(ctx: TxContext, cap: str, package_digest: str) -> dict[str, Any]:
    """Vote for a new package digest with this node's shard weight."""
    voter, weight, s = _voter(ctx, cap)
    tally = _tally(s, "upgrade_votes", package_digest, voter, weight)
    if len(tally["voters"]) == 1:
        ctx.emit("ContractUpgradeProposed", {"epoch": s["epoch"], "package_digest": package_digest})
    if is_quorum(tally["weight"], s["n_shards"]) and not tally.get("quorum"):
        tally["quorum"] = True
        ctx.emit(
            "ContractUpgradeQuorumReached", {"epoch": s["epoch"], "package_digest": package_digest}
        )
    return {"weight": tally["weight"], "quorum": bool(tally.get("quorum"))}


@entry("governance::commit_upgrade")
def commit_upgrade(ctx: TxContext, package_digest: str) -> dict[str, Any]:
    """Adopt an upgrade whose vote reached a quorum in the current epoch."""
    s = staking.staking_state(ctx).fields
    tally = s.get("upgrade_votes", {}).get(package_digest)
    if not tally or tally["epoch"] != s["epoch"] or not tally.get("quorum"):
        raise Abort("ENotEnoughVotes", "the upgrade has no quorum in the current epoch")
    s["package_version"] = s.get("package_version", 1) + 1
    s["package_digest"] = package_digest
    del s["upgrade_votes"][package_digest]
    ctx.emit(
        "ContractUpgraded",
        {"epoch": s["epoch"], "package_digest": package_digest, "version": s["package_version"]},
    )
    return {"version": s["package_version"]}
