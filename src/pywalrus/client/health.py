"""Storage nodes' health, as `walrus health` reports it (upstream's `ServiceHealthInfoOutput`).

Nodes are chosen as upstream chooses them: by node ID, by URL (among the active set), the
current committee, or the active set. Each is asked with a bounded number of requests at once
and a timeout per request, so one hung node is reported as not answering in time instead of
holding up the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pywalrus.core.errors import NodeError, UnknownNode, WalrusError
from pywalrus.network.committee import url_of

if TYPE_CHECKING:
    from pywalrus.chain.client import ChainClient
    from pywalrus.network.node_client import NodeClient

DEFAULT_TIMEOUT_S = 5.0
"""How long one node's health request may take."""
DEFAULT_CONCURRENCY = 60
"""Upstream's `--concurrent-requests` default."""
SORT_KEYS = ("status", "id", "name", "url")


@dataclass(frozen=True)
class NodeRef:
    """A storage node as its staking pool describes it."""

    node_id: str
    name: str
    network_address: str
    network_public_key: str

    @property
    def url(self) -> str:
        return url_of(self.network_address)


@dataclass(frozen=True)
class NodeHealth:
    """One node's health answer, or why there is none."""

    node: NodeRef
    health: dict[str, Any] | None
    """The node's `/v1/health` data (upstream's `ServiceHealthInfo`)."""
    error: str | None
    """Why no answer came (timeouts included)."""

    @property
    def status(self) -> str:
        return str(self.health.get("nodeStatus", "?")) if self.health is not None else "Error"

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeId": self.node.node_id,
            "nodeUrl": self.node.network_address,
            "nodeName": self.node.name,
            "networkPublicKey": self.node.network_public_key,
            "healthInfo": {"Ok": self.health} if self.health is not None else {"Err": self.error},
        }


@dataclass(frozen=True)
class HealthReport:
    """`walrus health --json`: `{"healthInfo": [...], "latestSeq": …}`."""

    nodes: tuple[NodeHealth, ...]
    latest_seq: int | None
    """The chain's latest checkpoint (upstream: the Sui checkpoint sequence number)."""

    def to_json(self) -> dict[str, Any]:
        return {"healthInfo": [n.to_json() for n in self.nodes], "latestSeq": self.latest_seq}


def _ref(pool: Any) -> NodeRef:
    f = pool.fields
    return NodeRef(pool.id, f["name"], f["network_address"], f.get("network_public_key", ""))


async def select_nodes(
    chain: ChainClient,
    node_ids: Sequence[str] = (),
    node_urls: Sequence[str] = (),
    committee: bool = False,
    active_set: bool = False,
) -> list[NodeRef]:
    """The nodes one selector names (exactly one must be given, as upstream)."""
    if sum([bool(node_ids), bool(node_urls), committee, active_set]) != 1:
        raise WalrusError("exactly one of node IDs, node URLs, committee or active set is needed")
    pools = {pool.id: pool for pool in await chain.objects_of_type("walrus::StakingPool")}
    staking = (await chain.singleton("walrus::Staking")).fields
    if node_ids:
        missing = [n for n in node_ids if n not in pools]
        if missing:
            raise UnknownNode(f"no storage node with ID {', '.join(missing)}")
        return [_ref(pools[n]) for n in node_ids]
    active = [pools[n] for n, _ in staking["active_set"] if n in pools]
    if node_urls:
        by_url = {url_of(p.fields["network_address"]): p for p in active}
        chosen = []
        for url in node_urls:
            pool = by_url.get(url_of(url))
            if pool is None:
                raise UnknownNode(f"node URL {url} not found in active set; query it by node ID")
            chosen.append(_ref(pool))
        return chosen
    if committee:
        return [_ref(pools[n]) for n in staking["committee"] if n in pools]
    return [_ref(p) for p in active]


def sort_health(nodes: list[NodeHealth], sort_by: str = "status", desc: bool = False) -> None:
    """Sort in place as upstream: by status (answers first), ID, name or URL."""

    def key(n: NodeHealth) -> tuple[Any, ...]:
        name = n.node.name.lower()
        if sort_by == "id":
            return (n.node.node_id,)
        if sort_by == "name":
            return (name,)
        if sort_by == "url":
            return (n.node.network_address.lower(),)
        if n.health is None:
            return (1, n.error or "", name)
        return (0, n.status.lower(), name)

    nodes.sort(key=key, reverse=desc)


async def node_health(
    nodes: Sequence[NodeRef],
    client_for: Callable[[str], NodeClient],
    detail: bool = False,
    timeout: float = DEFAULT_TIMEOUT_S,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[NodeHealth]:
    """Each node's health, at most `concurrency` requests at once, `timeout` s each."""
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(node: NodeRef) -> NodeHealth:
        async with limit:
            try:
                answer = await client_for(node.url).health(detailed=detail, timeout=timeout)
            except NodeError as exc:
                return NodeHealth(node, None, str(exc))
        if not isinstance(answer, dict):
            return NodeHealth(node, None, f"{node.url}: malformed health answer")
        return NodeHealth(node, answer, None)

    return list(await asyncio.gather(*(one(n) for n in nodes)))
