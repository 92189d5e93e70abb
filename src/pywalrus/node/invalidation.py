"""Node-initiated invalidation of an inconsistently encoded blob (issue 12; paper §4.5).

A node that rebuilds a sliver during blob sync and finds that verified recovery symbols decode
to a sliver the metadata disowns holds an `InconsistencyProof`. It does not keep that to
itself: it asks the committee to check the proof (`POST …/inconsistencyProof/{type}`), which
each honest member does against its own metadata before signing an `InvalidBlobIdMsg`. Once
signers holding a validity weight of shards (f + 1, enough that one is honest) agree, the node
aggregates their signatures and posts `system::invalidate_blob_id`; the chain's
`InvalidBlobID` event then makes every node drop the blob's data and answer reads "invalid".

Every attestation is verified against the member's key and the exact expected message before
it counts, so a lying peer can neither forge weight nor make the certificate fail on chain.
"""

from __future__ import annotations

import asyncio
import base64
import logging

import aiohttp

from pywalrus.chain.tx import Call
from pywalrus.core.certificates import aggregate_certificate
from pywalrus.core.config import is_validity
from pywalrus.core.errors import WalrusError
from pywalrus.core.inconsistency import InconsistencyProof
from pywalrus.core.messages import InvalidBlobIdMsg, SignedMessage
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.types import BlobId, Epoch
from pywalrus.network.committee import CommitteeView, NodeMember
from pywalrus.network.node_client import NodeClient
from pywalrus.node.node import StorageNode

log = logging.getLogger("pywalrus.node.invalidation")


async def invalidate_blob(
    node: StorageNode,
    session: aiohttp.ClientSession,
    committee: CommitteeView,
    blob_id: BlobId,
    metadata: BlobMetadata,
    proof: InconsistencyProof,
) -> None:
    """Gather validity-weight attestations that `blob_id` is inconsistent and post them on
    chain. Raises `WalrusError` if too few members sign (down, or in another epoch): the
    caller retries later."""
    await node.cpu(proof.verify, metadata)  # never ask others to sign what we cannot show
    if node.epoch != committee.epoch:
        raise WalrusError(f"node in epoch {node.epoch}, committee of epoch {committee.epoch}")
    expected = InvalidBlobIdMsg(Epoch(committee.epoch), blob_id)
    signed: list[tuple[int, SignedMessage]] = []
    weight = 0
    members = {m.node_id: m for m in committee.members}
    me = members.get(node.node_id)
    if me is not None:
        signed.append((me.index, SignedMessage.sign(node.protocol_key, expected)))
        weight += len(me.shards)
    peers = [m for m in committee.members if m is not me]
    body = proof.to_bcs()
    pending = {
        asyncio.ensure_future(_attestation(session, member, blob_id, proof, body, expected)): member
        for member in peers
    }
    try:
        while pending and not is_validity(weight, committee.n_shards):
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                member = pending.pop(task)
                message = task.result()
                if message is not None:
                    signed.append((member.index, message))
                    weight += len(member.shards)
    finally:
        for task in pending:
            task.cancel()
    if not is_validity(weight, committee.n_shards):
        raise WalrusError(
            f"only {weight} of {committee.n_shards} shards attest that {blob_id} is inconsistent"
        )
    if not node.is_registered(blob_id):
        return  # another node's certificate got there first
    certificate = aggregate_certificate(len(committee.members), signed)
    arguments = {
        "signature": _b64(certificate.signature.to_bytes()),
        "signers_bitmap": _b64(certificate.signers_bitmap(len(committee.members))),
        "message": _b64(certificate.serialized_message),
    }
    await node.chain.execute(node.operator, [Call("system::invalidate_blob_id", arguments)])
    log.warning(
        "node %s: blob %s is inconsistent (%s); invalidated it with %d of %d shards attesting",
        node.name,
        blob_id,
        proof.target_axis.label,
        weight,
        committee.n_shards,
    )


async def _attestation(
    session: aiohttp.ClientSession,
    member: NodeMember,
    blob_id: BlobId,
    proof: InconsistencyProof,
    body: bytes,
    expected: InvalidBlobIdMsg,
) -> SignedMessage | None:
    """A member's verified signature of `expected`, or None (down, refusing, lying)."""
    try:
        message = await NodeClient(member.url, session).inconsistency_proof(
            blob_id, proof.target_axis, body
        )
        message.verify_contents(member.public_key, expected)
    except WalrusError as exc:
        log.info("no attestation of %s's inconsistency from %s: %s", blob_id, member.name, exc)
        return None
    return message


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
