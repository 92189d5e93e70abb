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
from pywalrus.core.config import is_quorum
from pywalrus.core.errors import Abort


def _voter(ctx: TxContext, cap: str) -> tuple[str, int, dict[str, Any]]:
    """(node ID, current shard weight, staking fields) of a committee member's cap."""
    s = staking.staking_state(ctx).fields
    node_id = ctx.get_mut(cap, staking.CAP).fields["node_id"]
    weight = len(s["committee"].get(node_id, []))
    if weight == 0:
        raise Abort("ENotCommitteeMember", "only current committee members may vote")
    return node_id, weight, s


def _tally(s: dict[str, Any], table: str, key: str, voter: str, weight: int, **round_: int) -> Any:
    """Add a vote to the tally of `key`, which starts afresh when it is from another epoch or,
    for upgrades, for another package version (`round_`)."""
    votes = s.setdefault(table, {})
    entry_ = votes.get(key)
    round_["epoch"] = s["epoch"]
    if entry_ is None or any(entry_.get(k, v) != v for k, v in round_.items()):
        entry_ = votes[key] = {**round_, "voters": [], "weight": 0}
    if voter in entry_["voters"]:
        raise Abort("EDuplicateVote", "this node already voted for this proposal in this epoch")
    entry_["voters"].append(voter)
    entry_["weight"] += weight
    return entry_


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


def _next_version(s: dict[str, Any]) -> int:
    return int(s.get("package_version", 1)) + 1


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
    digest = _package_digest(package_digest)
    voter, weight, s = _voter(ctx, cap)
    tally = _tally(s, "upgrade_votes", digest, voter, weight, version=_next_version(s))
    if len(tally["voters"]) == 1:
        ctx.emit("ContractUpgradeProposed", {"epoch": s["epoch"], "package_digest": digest})
    if is_quorum(tally["weight"], s["n_shards"]) and not tally.get("quorum"):
        tally["quorum"] = True
        ctx.emit("ContractUpgradeQuorumReached", {"epoch": s["epoch"], "package_digest": digest})
    return {"weight": tally["weight"], "quorum": bool(tally.get("quorum"))}


@entry("governance::commit_upgrade")
def commit_upgrade(ctx: TxContext, package_digest: str) -> dict[str, Any]:
    """Adopt an upgrade whose vote reached a quorum in the current epoch (upstream
    `authorize_upgrade` and `commit_upgrade`)."""
    digest = _package_digest(package_digest)
    s = staking.staking_state(ctx).fields
    tally = s.get("upgrade_votes", {}).pop(digest, None)
    if tally is None:
        raise Abort("ENoProposalForDigest", f"nobody voted for {digest}")
    if tally["epoch"] != s["epoch"]:
        raise Abort("EWrongEpoch", f"the votes for {digest} are from epoch {tally['epoch']}")
    if not is_quorum(tally["weight"], s["n_shards"]):
        raise Abort("ENotEnoughVotes", "the upgrade has no quorum in the current epoch")
    if tally.get("version", _next_version(s)) != _next_version(s):
        raise Abort("EWrongVersion", f"the votes were for version {tally['version']}")
    s["package_version"] = _next_version(s)
    s["package_digest"] = digest
    ctx.emit(
        "ContractUpgraded",
        {"epoch": s["epoch"], "package_digest": digest, "version": s["package_version"]},
    )
    return {"version": s["package_version"]}
