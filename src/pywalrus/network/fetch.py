"""Reads from several storage nodes that trust none of them: what comes back is verified, and
"not found" counts only when enough shards say it.

Used alike by the SDK's reader and by storage nodes syncing blobs and shards from their peers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from pywalrus.core.config import is_validity
from pywalrus.core.errors import BlobNotFound, NodeError, NotEnoughSlivers, VerificationError
from pywalrus.core.metadata import BlobMetadata, verified_metadata
from pywalrus.core.types import BlobId
from pywalrus.network.committee import CommitteeView, NodeMember
from pywalrus.network.node_client import NodeClient

NOT_STORED = (404, 451)
"""Answers that mean "I do not serve this blob": not stored (or unknown, expired, deleted), and
forbidden (marked invalid)."""


async def fetch_verified_metadata(
    committee: CommitteeView,
    blob_id: BlobId,
    client_for: Callable[[NodeMember], NodeClient],
    members: Sequence[NodeMember] | None = None,
    timeout: float | None = None,
) -> BlobMetadata:
    """The blob's metadata from the first node whose answer verifies against the blob ID.

    `members` (the committee's, if None) are asked one at a time in random order, each request
    bounded by `timeout` seconds (the session's bound if None). A node that fails, or answers
    with metadata that does not verify, is passed over. A node answering "not stored" speaks
    for the shards it held before the epoch change in progress too (`settled_shards`; none
    for a member of the previous committee only); once those cover a validity quorum (f + 1
    shards, so at least one honest node) the blob does not exist: `BlobNotFound`. If nobody
    served valid metadata: `NotEnoughSlivers`.
    """
    config = committee.encoding
    order = list(committee.members if members is None else members)
    random.shuffle(order)
    missing = 0
    for member in order:
        try:
            data = await client_for(member).get_metadata(blob_id, timeout)
            return verified_metadata(data, blob_id, config)
        except NodeError as exc:
            if exc.status in NOT_STORED:
                missing += committee.settled_shards(member)
                if is_validity(missing, committee.n_shards):
                    raise BlobNotFound(f"blob {blob_id} does not exist or has expired") from None
        except VerificationError:
            pass  # a lying node: try the next one
    raise NotEnoughSlivers(f"no node returned valid metadata for blob {blob_id}")
