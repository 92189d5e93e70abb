"""How the node's routes answer: the one table of HTTP statuses and reasons of the node's
refusals (`HTTP_ERRORS`), the error, success and BCS responses, and bounded body reads. The
envelope itself (`pywalrus.network.envelope`) is shared with the node's callers.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web

from pywalrus.network import envelope
from pywalrus.node.outcomes import Refusal, Refused

R = Refusal
HTTP_ERRORS: Final[dict[Refusal, tuple[int, str]]] = {
    R.NO_ROUTE: (404, "NOT_FOUND"),
    R.INVALID_BLOB_ID: (400, "INVALID_BLOB_ID"),
    R.INVALID_SLIVER_TYPE: (400, "INVALID_SLIVER_TYPE"),
    R.INVALID_PAIR_INDEX: (400, "INVALID_SLIVER_PAIR_INDEX"),
    R.INVALID_QUERY: (400, "INVALID_QUERY"),
    R.INVALID_OBJECT_ID: (400, "INVALID_OBJECT_ID"),
    R.INVALID_FILTER: (400, "INVALID_FILTER"),
    R.BODY_TOO_LARGE: (413, "SLIVER_TOO_LARGE"),
    R.BODY_TOO_SLOW: (408, "REQUEST_TIMEOUT"),
    R.ADDRESS_BUSY: (429, "TOO_MANY_REQUESTS"),
    R.NODE_BUSY: (503, "NODE_BUSY"),
    R.ADDRESS_PENDING_FULL: (429, "CACHE_SATURATED"),
    R.NODE_PENDING_FULL: (503, "CACHE_SATURATED"),
    R.INVALID_METADATA: (400, "INVALID_METADATA"),
    R.INVALID_BLOB: (400, "INVALID_BLOB"),
    R.NOT_REGISTERED: (400, "NOT_REGISTERED"),
    R.NO_METADATA: (400, "METADATA_NOT_FOUND"),
    R.PAIR_OUT_OF_RANGE: (400, "INDEX_OUT_OF_RANGE"),
    R.SHARD_NOT_ASSIGNED: (400, "SHARD_NOT_ASSIGNED"),
    R.SLIVER_INDEX_MISMATCH: (400, "SLIVER_INDEX_MISMATCH"),
    R.INVALID_SLIVER: (400, "INVALID_SLIVER"),
    R.NOT_IN_COMMITTEE: (400, "NOT_IN_COMMITTEE"),
    R.MISSING_SLIVERS: (400, "MISSING_SLIVERS"),
    R.INVALID_PROOF: (400, "INVALID_PROOF"),
    R.METADATA_NOT_SERVED: (404, "METADATA_NOT_FOUND"),
    R.SLIVER_NOT_SERVED: (404, "SLIVER_NOT_FOUND"),
    R.SLIVER_CORRUPTED: (503, "SLIVER_CORRUPTED"),
    R.NO_SLIVERS_SPECIFIED: (400, "NO_SLIVERS_SPECIFIED"),
    R.SYMBOL_OUT_OF_RANGE: (400, "RECOVERY_SYMBOL_OUT_OF_RANGE"),
    R.NO_SYMBOLS_SPECIFIED: (400, "NO_SYMBOLS_SPECIFIED"),
    R.NO_TARGET_SLIVERS: (400, "NO_TARGET_SLIVERS_SPECIFIED"),
    R.SYMBOL_NOT_HELD: (400, "SYMBOL_NOT_PRESENT_AT_SHARDS"),
    R.NO_SOURCE_SLIVERS: (404, "SYMBOL_NOT_PRESENT_AT_SHARDS"),
    R.NOT_HEALTHY: (503, "NODE_NOT_HEALTHY"),
    R.MISSING_AUTHORIZATION: (401, "MISSING_AUTHORIZATION"),
    R.INVALID_AUTHORIZATION: (400, "INVALID_AUTHORIZATION"),
    R.INVALID_SYNC_REQUEST: (400, "INVALID_SYNC_SHARD_REQUEST"),
    R.SYNC_UNAUTHORIZED: (403, "REQUEST_UNAUTHORIZED"),
    R.INVALID_EPOCH: (400, "INVALID_EPOCH"),
    R.SYNC_COUNT_EXCEEDED: (400, "SLIVER_COUNT_EXCEEDS_LIMIT"),
}
"""Every refusal's HTTP status and machine-readable reason (upstream's, where it has one)."""


def error_body(refused: Refused) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the error envelope of a refusal."""
    status, reason = HTTP_ERRORS[refused.refusal]
    return status, envelope.error(status, reason, refused.message)


def error(refused: Refused) -> web.Response:
    status, body = error_body(refused)
    response = web.json_response(body, status=status)
    if refused.close:
        response.force_close()
    return response


def success(data: Any, code: int = 200) -> web.Response:
    return web.json_response(envelope.success(data, code), status=code)


def bcs(data: bytes) -> web.Response:
    return web.Response(body=data, content_type="application/octet-stream")


async def read_body(request: web.Request, limit: int, timeout_s: float) -> bytes:
    """The whole request body: at most `limit` bytes (else 413, before reading anything when
    the announced length is larger), within `timeout_s` seconds (else 408)."""
    announced = request.content_length or 0
    if announced > limit:
        raise Refused(Refusal.BODY_TOO_LARGE, "request body is too large")
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:
                    raise Refused(Refusal.BODY_TOO_LARGE, "request body is too large")
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(
            Refusal.BODY_TOO_SLOW,
            f"the request body did not arrive within {timeout_s:.0f} s",
            close=True,
        ) from None
    return b"".join(chunks)
