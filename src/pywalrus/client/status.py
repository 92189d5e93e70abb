"""A blob's status as the storage nodes report it, accepted only on upstream's rule.

Every committee member is asked at once, each request bounded by a timeout; asking stops when
the answers cover a quorum of shards. The answers are then taken from the latest status in a
blob's life (invalid, permanent, deletable, nonexistent; upstream's `Ord` of `BlobStatus`) to
the earliest, and the first one is returned that either nodes holding more than a third of
the shards reported (so at least one honest node did), or, for a permanent or invalid
status, that the chain event it names confirms. If none qualifies, the status is unknown: the
caller learns how many shards answered and which nodes were too slow, never a guess.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pywalrus.core.config import is_quorum, is_validity, validity_weight
from pywalrus.core.errors import BlobStatusUnknown, NodeError, WalrusError

if TYPE_CHECKING:
    from pywalrus.chain.client import ChainClient
    from pywalrus.chain.objects import Event
    from pywalrus.core.types import BlobId
    from pywalrus.network.committee import CommitteeView, NodeMember
    from pywalrus.network.node_client import NodeClient

NONEXISTENT = "nonexistent"
DEFAULT_TIMEOUT_S = 1.0
"""Upstream's `--timeout` default for status requests."""


@dataclass(frozen=True)
class StatusAnswers:
    """What the nodes answered when asked for a blob's status."""

    n_shards: int
    """Shards of the committee."""
    answered: int
    """Shards of the nodes that answered with a status."""
    not_found: int
    """Shards of the nodes that answered "not found" (404)."""
    slow: tuple[str, ...]
    """Nodes (name) that gave no answer within the timeout."""
    failed: tuple[str, ...]
    """Nodes (name) that could not be reached or answered with an error."""

    def describe(self) -> str:
        needed = validity_weight(self.n_shards)
        text = f"nodes holding {self.answered} of {self.n_shards} shards answered"
        text += f" ({needed} needed for a status not confirmed on chain)"
        if self.slow:
            text += f"; no answer in time from {', '.join(self.slow)}"
        if self.failed:
            text += f"; unreachable or failing: {', '.join(self.failed)}"
        return text


@dataclass(frozen=True)
class VerifiedStatus:
    """A status accepted on upstream's rule, with how it was accepted."""

    status: Any
    """The node's JSON status: `"nonexistent"` or `{"permanent" | "deletable" | "invalid":
    {…}}`, as upstream's `BlobStatus`."""
    weight: int
    """Shards of the nodes that reported exactly this status."""
    confirmed_on_chain: bool
    """True if accepted because its chain event matches (rather than by weight)."""
    answers: StatusAnswers
    """All that was answered."""


def status_rank(status: Any) -> tuple[Any, ...]:
    """Upstream's order of statuses: later in a blob's life ranks higher."""
    if not isinstance(status, dict) or len(status) != 1:
        return (0,)
    ((kind, body),) = status.items()
    if kind == "invalid":
        return (4,)
    counts = body.get("deletableCounts") or {}
    deletable = (counts.get("count_deletable_certified", 0), counts.get("count_deletable_total", 0))
    initial = body.get("initialCertifiedEpoch")
    earlier_first = -initial if initial is not None else float("inf")
    if kind == "permanent":
        return (3, bool(body.get("isCertified")), body.get("endEpoch", 0), deletable, earlier_first)
    if kind == "deletable":
        return (2, deletable, earlier_first)
    return (1,)


async def _ask_all(
    committee: CommitteeView,
    node: Any,
    blob_id: BlobId,
    timeout: float,
) -> tuple[dict[str, tuple[Any, int]], StatusAnswers]:
    """Ask every member (at most `timeout` each), until the answers weigh a quorum."""
    answers: dict[str, tuple[Any, int]] = {}
    answered = not_found = 0
    slow: list[str] = []
    failed: list[str] = []
    done = asyncio.Event()

    async def ask(member: NodeMember) -> None:
        nonlocal answered, not_found
        client: NodeClient = node(member)
        try:
            status = await client.blob_status(blob_id, timeout=timeout)
        except NodeError as exc:
            if exc.status == 404:
                not_found += len(member.shards)
            elif exc.reason == "TIMEOUT":
                slow.append(member.name)
            else:
                failed.append(member.name)
            return
        key = json.dumps(status, sort_keys=True)
        previous = answers.get(key, (status, 0))
        answers[key] = (status, previous[1] + len(member.shards))
        answered += len(member.shards)
        if is_quorum(answered, committee.n_shards):
            done.set()

    tasks: set[asyncio.Task[Any]] = {asyncio.create_task(ask(m)) for m in committee.members}
    waiter: asyncio.Task[Any] = asyncio.create_task(done.wait())
    pending = set(tasks)
    try:
        while pending and not done.is_set():
            _, pending = await asyncio.wait({*pending, waiter}, return_when="FIRST_COMPLETED")
            pending.discard(waiter)
    finally:
        for task in (*tasks, waiter):
            task.cancel()
        await asyncio.gather(*tasks, waiter, return_exceptions=True)
    report = StatusAnswers(committee.n_shards, answered, not_found, tuple(slow), tuple(failed))
    return answers, report


async def confirmed_by_event(
    chain: ChainClient, blob_id: BlobId, status: Any, chain_address: str | None = None
) -> bool:
    """True if the chain event a permanent or invalid status names is that status' event.

    The event is found among the events of the objects its transaction touched, and, when
    the chain's key is known (`chain_address`), checked against the signed checkpoint that
    seals it.
    """
    if not isinstance(status, dict) or len(status) != 1:
        return False
    ((kind, body),) = status.items()
    if kind not in ("permanent", "invalid") or not isinstance(body, dict):
        return False
    event_id = body.get("statusEvent") if kind == "permanent" else body.get("event")
    if not isinstance(event_id, dict):
        return False
    if kind == "invalid":
        expected = "InvalidBlobID"
    else:
        expected = "BlobCertified" if body.get("isCertified") else "BlobRegistered"
    try:
        digest, index = str(event_id["txDigest"]), int(event_id["eventSeq"])
        event = await _event(chain, digest, index, expected)
        if event is None:
            return False
        if chain_address is not None:
            await chain.verify_events([event], chain_address)
    except (WalrusError, KeyError, TypeError, ValueError):
        return False
    fields = event.fields
    if fields.get("blob_id") != str(blob_id):
        return False
    return kind == "invalid" or (
        fields.get("end_epoch") == body.get("endEpoch") and not fields.get("deletable")
    )


async def _event(chain: ChainClient, digest: str, index: int, type_: str) -> Event | None:
    """Event `index` of transaction `digest`, if it is of `type_`."""
    tx = await chain.call("chain_getTransaction", digest=digest)
    if not isinstance(tx, dict):
        return None
    effects = tx.get("effects") or {}
    for object_id in (*effects.get("mutated", ()), *effects.get("created", ())):
        for event in await chain.query_events(types=[type_], object_id=object_id):
            if event.tx_digest == digest and event.event_index == index:
                return event
    return None


async def verified_status(
    committee: CommitteeView,
    node: Any,
    chain: ChainClient,
    blob_id: BlobId,
    timeout: float = DEFAULT_TIMEOUT_S,
    chain_address: str | None = None,
) -> VerifiedStatus:
    """The blob's status on upstream's rule (module docstring), or `BlobStatusUnknown`.

    `node(member)` gives the `NodeClient` of a member; `chain_address` (the chain key's
    address, from the client config) lets chain events be checked against checkpoints.
    """
    answers, report = await _ask_all(committee, node, blob_id, timeout)
    if is_quorum(report.not_found, committee.n_shards):
        return VerifiedStatus(NONEXISTENT, report.not_found, False, report)
    for status, weight in sorted(answers.values(), key=lambda a: status_rank(a[0]), reverse=True):
        if is_validity(weight, committee.n_shards):
            return VerifiedStatus(status, weight, False, report)
        if await confirmed_by_event(chain, blob_id, status, chain_address):
            return VerifiedStatus(status, weight, True, report)
    raise BlobStatusUnknown(
        f"could not learn the status of blob {blob_id}: {report.describe()}", report
    )
