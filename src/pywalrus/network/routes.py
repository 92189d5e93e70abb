"""The paths of the storage node's REST API (protocol page §8.1), in one place.

Each route is a template in aiohttp's syntax (`{blob_id}`, `{pair}`, `{sliver_type}`,
`{object_id}`), which the node's router registers as it is; the functions below fill them in
for callers. Blob IDs go into paths URL-safe base64 without padding (`str(BlobId)`), sliver
types as `primary` / `secondary`.
"""

from __future__ import annotations

from typing import Final

from pywalrus.core.types import BlobId, SliverType

BLOB: Final = "/v1/blobs/{blob_id}"
METADATA: Final = BLOB + "/metadata"
METADATA_STATUS: Final = METADATA + "/status"
SLIVERS: Final = BLOB + "/slivers"
"""Many slivers of a blob in one request (a pywalrus extension; upstream nodes lack it)."""
SLIVER: Final = SLIVERS + "/{pair}/{sliver_type}"
SLIVER_STATUS: Final = SLIVER + "/status"
CONFIRMATION_PERMANENT: Final = BLOB + "/confirmation/permanent"
CONFIRMATION_DELETABLE: Final = BLOB + "/confirmation/deletable/{object_id}"
RECOVERY_SYMBOLS: Final = BLOB + "/recoverySymbols"
DECODING_SYMBOLS: Final = BLOB + "/decodingSymbols"
INCONSISTENCY_PROOF: Final = BLOB + "/inconsistencyProof/{sliver_type}"
BLOB_STATUS: Final = BLOB + "/status"
HEALTH: Final = "/v1/health"
SYNC_SHARD: Final = "/v1/migrate/sync_shard"
"""Node to node: a page of a shard's slivers for its new owner."""
METRICS: Final = "/metrics"


def metadata(blob_id: BlobId) -> str:
    return METADATA.format(blob_id=blob_id)


def slivers(blob_id: BlobId) -> str:
    return SLIVERS.format(blob_id=blob_id)


def sliver(blob_id: BlobId, pair: int, axis: SliverType) -> str:
    return SLIVER.format(blob_id=blob_id, pair=pair, sliver_type=axis.label)


def confirmation(blob_id: BlobId, object_id: str | None) -> str:
    """The confirmation of a deletable blob's object `object_id`, or (None) of a permanent
    blob."""
    if object_id is None:
        return CONFIRMATION_PERMANENT.format(blob_id=blob_id)
    return CONFIRMATION_DELETABLE.format(blob_id=blob_id, object_id=object_id)


def recovery_symbols(blob_id: BlobId) -> str:
    return RECOVERY_SYMBOLS.format(blob_id=blob_id)


def inconsistency_proof(blob_id: BlobId, axis: SliverType) -> str:
    return INCONSISTENCY_PROOF.format(blob_id=blob_id, sliver_type=axis.label)


def blob_status(blob_id: BlobId) -> str:
    return BLOB_STATUS.format(blob_id=blob_id)
