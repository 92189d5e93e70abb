"""`POST /v1/migrate/sync_shard`: a node hands a shard's slivers to the shard's new owner.

Node to node only (protocol page §8.1, §8.5). The caller names itself with its BLS public key
in the `Authorization` header (standard base64) and sends a BCS `SignedMessage` of a
`SyncShardMsg` (intent 3). It is served only when the key is that of the committee member who
owns the requested shard in this node's current epoch, the signature verifies under that key,
the request is for this epoch, and this node still holds the shard (it may be the shard's
previous owner, keeping it read-only during the change). The answer is a BCS
`SyncShardResponse`: slivers of the requested axis of blobs certified before the request's
epoch, in blob-ID order from `starting_blob_id` on, at most `sliver_count` of them.

Checks run cheapest first (header, body, committee, signature) and nothing is changed by any
request, valid or not. The route (`server`) hands over the header and a body reader; the
answer is a page or `Refused`.
"""

from __future__ import annotations

import base64
import binascii
from typing import Final

from pywalrus.core.crypto.bls import BlsPublicKey
from pywalrus.core.errors import BcsError, BlsError, VerificationError
from pywalrus.core.messages import (
    SignedMessage,
    SyncShardMsg,
    SyncShardRequest,
    encode_sync_shard_response,
)
from pywalrus.core.types import BlobId, SliverType
from pywalrus.node import blob_info
from pywalrus.node.node import StorageNode
from pywalrus.node.outcomes import BodyReader, Refusal, Refused

MAX_SYNC_SLIVERS: Final = 1000
"""Most slivers one request may ask for (upstream's server-side bound)."""
MAX_RESPONSE_BYTES: Final = 64 << 20
"""A page stops early past this many sliver bytes; the caller continues from there."""
MAX_REQUEST_BYTES: Final = 4096
"""A signed request is about 170 bytes."""


def _caller_key(authorization: str | None) -> BlsPublicKey:
    if authorization is None:
        raise Refused(Refusal.MISSING_AUTHORIZATION, "missing Authorization header")
    try:
        return BlsPublicKey.from_bytes(base64.b64decode(authorization.strip(), validate=True))
    except (binascii.Error, ValueError, BlsError):
        raise Refused(
            Refusal.INVALID_AUTHORIZATION,
            "the Authorization header is not a base64 BLS public key",
        ) from None


async def shard_page(node: StorageNode, authorization: str | None, body: BodyReader) -> bytes:
    """The BCS `SyncShardResponse` answering a `sync_shard` request: `authorization` is the
    `Authorization` header, `body` reads the request's body (at most `MAX_REQUEST_BYTES`)."""
    key = _caller_key(authorization)
    try:
        data = await body()
    except Refused as exc:
        if exc.refusal is not Refusal.BODY_TOO_LARGE:
            raise
        raise Refused(Refusal.INVALID_SYNC_REQUEST, "sync shard request is too large") from None
    try:
        signed = SignedMessage.from_bcs(data)
        message = SyncShardMsg.from_bytes(signed.serialized_message)
    except BcsError as exc:
        raise Refused(
            Refusal.INVALID_SYNC_REQUEST, f"malformed sync shard request: {exc}"
        ) from None
    caller = node.member_keys.get(key.to_bytes())
    if caller is None:
        raise Refused(
            Refusal.SYNC_UNAUTHORIZED, "the caller is not a storage node of the current committee"
        )
    try:
        signed.verify(key)
    except VerificationError:
        raise Refused(
            Refusal.SYNC_UNAUTHORIZED, "the sync shard request is not signed by the caller's key"
        ) from None
    sync = message.request
    if sync.epoch != node.epoch:
        raise Refused(
            Refusal.INVALID_EPOCH,
            f"the request is for epoch {sync.epoch}, this node is in {node.epoch}",
        )
    if int(sync.shard_index) not in node.committee_shards.get(caller, []):
        raise Refused(
            Refusal.SYNC_UNAUTHORIZED,
            f"the caller does not own shard {sync.shard_index} in this epoch",
        )
    if sync.sliver_count > MAX_SYNC_SLIVERS:
        raise Refused(
            Refusal.SYNC_COUNT_EXCEEDED,
            f"the requested sliver count {sync.sliver_count} exceeds {MAX_SYNC_SLIVERS}",
        )
    shard = int(sync.shard_index)
    if shard not in node.shards and shard not in node.read_only_shards():
        raise Refused(
            Refusal.SHARD_NOT_ASSIGNED,
            f"shard {shard} is not held by this node in epoch {node.epoch}",
        )
    page: bytes = await node.cpu(_page, node, sync)
    return node.faults.served_shard_page(page)


def _page(node: StorageNode, sync: SyncShardRequest) -> bytes:
    """The BCS `SyncShardResponse`, built from the stored sliver bytes as they are."""
    shard, axis = int(sync.shard_index), SliverType(sync.sliver_type)
    items: list[tuple[BlobId, bytes]] = []
    size = 0
    for blob_id, info in node.store.blob_infos(sync.starting_blob_id):
        if len(items) >= sync.sliver_count or size >= MAX_RESPONSE_BYTES:
            break
        if not blob_info.certified_before(info, node.epoch, sync.epoch):
            continue
        data = node.readable_sliver(blob_id, shard, axis)  # a corrupt one: left to recovery
        if data is not None:
            items.append((blob_id, data))
            size += len(data)
    return encode_sync_shard_response([(blob_id, axis, data) for blob_id, data in items])
