"""The storage node's REST API (protocol page §8.1), byte-compatible with upstream nodes.

The routes only translate: they parse paths, queries and headers, hand the request to the
`StorageNode`, which decides (registration, buffering, shard ownership, verification, signing),
and render its typed outcome; a `Refused` becomes an error answer through the one table of
`api.HTTP_ERRORS`. Blob IDs in paths are URL-safe base64; metadata and slivers travel as BCS
(encoded by `core`); JSON answers and errors use the Walrus envelope. Two middlewares run
around every route: `_admit` accounts request bodies before they are read (`limits`), and
`_errors` renders refusals and counts every answer in `/metrics`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from pywalrus.core.config import MAX_SYMBOL_SIZE
from pywalrus.core.errors import InvalidBlobIdError
from pywalrus.core.metadata import encode_metadata_with_id
from pywalrus.core.slivers import encode_stored_sliver_batch
from pywalrus.core.symbols import encode_decoding_symbols, encode_recovery_symbols
from pywalrus.core.types import BlobId, ObjectId, SliverType
from pywalrus.network import routes
from pywalrus.node import sync_shard_server
from pywalrus.node.api import bcs, error, read_body, success
from pywalrus.node.limits import ByteBudget
from pywalrus.node.node import StorageNode
from pywalrus.node.outcomes import (
    Accepted,
    BodyReader,
    Refusal,
    Refused,
    SliversAccepted,
    over_limit,
)

MAX_BATCH_BODY = 16 * 1024 * 1024
"""Largest sliver batch accepted (clients send batches of a few MiB)."""
MIN_UPLOAD_CHARGE = 64 * 1024
"""Bytes a request with a body counts against the upload budget at least (bounding floods of
small ones too)."""
ACCEPTED_CODE = {Accepted.STORED: 201, Accepted.ALREADY_STORED: 200, Accepted.BUFFERED: 202}
"""The HTTP status of each upload outcome."""
METADATA_ANSWER = {
    Accepted.STORED: "metadata successfully stored",
    Accepted.ALREADY_STORED: "metadata already stored",
    Accepted.BUFFERED: "metadata buffered pending registration",
}
NO_SYMBOLS = "give targetSliver=<index> and targetType=primary|secondary, or id=P-S"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Parsing requests ----------------------------------------------------------------------------


def _blob_id(request: web.Request) -> BlobId:
    try:
        return BlobId.parse(request.match_info["blob_id"])
    except InvalidBlobIdError as exc:
        raise Refused(Refusal.INVALID_BLOB_ID, str(exc)) from None


def _axis(
    text: str, refusal: Refusal = Refusal.INVALID_SLIVER_TYPE, message: str | None = None
) -> SliverType:
    try:
        return SliverType.parse(text)
    except ValueError as exc:
        raise Refused(refusal, message or str(exc)) from None


def _proof_axis(text: str) -> SliverType:
    return _axis(text, Refusal.INVALID_FILTER, f"invalid proofAxis {text!r}")


def _path_axis(request: web.Request) -> SliverType:
    return _axis(request.match_info["sliver_type"])


def _pair(request: web.Request) -> int:
    try:
        return int(request.match_info["pair"])
    except ValueError:
        raise Refused(Refusal.INVALID_PAIR_INDEX, "sliver pair index must be an integer") from None


def _index(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Refused(Refusal.INVALID_FILTER, f"{what} {text!r} is not an integer") from None


def _intersection(item: str) -> tuple[int, int]:
    """(primary, secondary) sliver indices of an `id=P-S` filter."""
    primary, _, secondary = item.partition("-")
    return _index(primary, "primary sliver"), _index(secondary, "secondary sliver")


def _bool_query(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise Refused(Refusal.INVALID_QUERY, f"query parameter {name} must be true or false")
    return value == "true"


def _only_query(request: web.Request, *allowed: str) -> None:
    unknown = set(request.query) - set(allowed)
    if unknown:
        raise Refused(
            Refusal.INVALID_QUERY, f"unknown query parameter(s): {', '.join(sorted(unknown))}"
        )


def _object_id(request: web.Request) -> ObjectId:
    text = request.match_info["object_id"]
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise Refused(Refusal.INVALID_OBJECT_ID, f"invalid object ID {text!r}")
    return ObjectId("0x" + raw.hex())


def _address(request: web.Request) -> str:
    return request.remote or "?"


def _uploaded(outcome: SliversAccepted) -> web.Response:
    """The answer to a sliver upload: what became of it, counted when it was a batch."""
    one = outcome.uploaded == 1
    if outcome.accepted is Accepted.STORED:
        noun = "sliver" if one else f"{outcome.stored} slivers"
        message = f"{noun} stored successfully"
    elif outcome.accepted is Accepted.ALREADY_STORED:
        message = "sliver already stored" if one else "slivers already stored"
    else:
        noun = "sliver" if one else f"{outcome.uploaded} slivers"
        message = f"{noun} buffered pending registration"
    return success(message, ACCEPTED_CODE[outcome.accepted])


class NodeServer:
    """HTTP routes over a `StorageNode`."""

    def __init__(
        self, node: StorageNode, shard_sync_stats: Callable[[], dict[str, int]] | None = None
    ) -> None:
        self.node = node
        self.body_limit = 16 * 1024 * 1024
        """Largest request body accepted (set for the committee's encoding by `app`)."""
        self.shard_sync_stats = shard_sync_stats
        limits = node.limits
        self.uploads = ByteBudget(limits.max_upload_bytes, limits.max_upload_bytes_per_address)
        """Request bodies in flight, by announced length (`limits`)."""

    def app(self) -> web.Application:
        if self.node.encoding is not None:
            self.body_limit = self.max_body()
        app = web.Application(
            client_max_size=self.body_limit, middlewares=[self._errors, self._admit]
        )
        r = app.router
        r.add_get(routes.METADATA, self.get_metadata)
        r.add_put(routes.METADATA, self.put_metadata)
        r.add_get(routes.METADATA_STATUS, self.metadata_status)
        if not self.node.faults.no_batch_route:
            r.add_put(routes.SLIVERS, self.put_slivers)
            r.add_get(routes.SLIVERS, self.get_slivers)
        r.add_put(routes.SLIVER, self.put_sliver)
        r.add_get(routes.SLIVER, self.get_sliver)
        r.add_get(routes.SLIVER_STATUS, self.sliver_status)
        r.add_get(routes.CONFIRMATION_PERMANENT, self.confirm_permanent)
        r.add_get(routes.CONFIRMATION_DELETABLE, self.confirm_deletable)
        r.add_get(routes.RECOVERY_SYMBOLS, self.recovery_symbols)
        r.add_get(routes.DECODING_SYMBOLS, self.decoding_symbols)
        r.add_post(routes.INCONSISTENCY_PROOF, self.inconsistency_proof)
        r.add_get(routes.BLOB_STATUS, self.blob_status)
        r.add_get(routes.HEALTH, self.health)
        r.add_post(routes.SYNC_SHARD, self.sync_shard)
        r.add_get(routes.METRICS, self.metrics)
        # Storage challenges (issue 12) register their routes here.
        return app

    def max_body(self) -> int:
        """Largest valid body: a primary sliver of maximal symbols, plus framing."""
        config = self.node.config
        sliver = config.n_secondary_source_symbols * MAX_SYMBOL_SIZE + 128
        return max(sliver, config.n_shards * 66 + 64)

    # Middlewares and bodies --------------------------------------------------------------------

    @web.middleware
    async def _admit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Account a request body before it is read (`limits`): refuse one announced larger
        than any route accepts (413), or beyond the node's or this address's share of bodies
        in flight (503, 429), and close such connections rather than drain them."""
        if request.method not in ("PUT", "POST"):
            return await handler(request)
        largest = max(self.body_limit, MAX_BATCH_BODY)
        length = request.content_length
        if length is not None and length > largest:
            raise Refused(Refusal.BODY_TOO_LARGE, "request body is too large", close=True)
        charge = max(MIN_UPLOAD_CHARGE, largest if length is None else length)
        address = _address(request)
        limit = self.uploads.acquire(address, charge)
        if limit is not None:
            self.node.metrics.refused.labels(f"uploads per {limit}").inc()
            refused = over_limit(limit, "request bodies in flight")
            raise Refused(refused.refusal, refused.message, close=True)
        try:
            return await handler(request)
        finally:
            self.uploads.release(address, charge)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        try:
            response = await handler(request)
        except Refused as refused:
            response = error(refused)
        except web.HTTPRequestEntityTooLarge:
            response = error(Refused(Refusal.BODY_TOO_LARGE, "request body is too large"))
        except web.HTTPException as exc:
            if exc.status != 404:
                raise
            response = error(Refused(Refusal.NO_ROUTE, f"no route {request.path}"))
        route = resource.canonical if resource else "?"
        self.node.metrics.requests.labels(route, str(response.status)).inc()
        return response

    def _body(self, request: web.Request, limit: int | None = None) -> BodyReader:
        """A reader of the request body, within `limit` bytes (default: the largest sliver)
        and the time `limits` allow for it."""
        limit = self.body_limit if limit is None else limit
        expected = min(request.content_length or limit, limit)
        timeout = self.node.limits.body_timeout(expected)
        return lambda: read_body(request, limit, timeout)

    # Metadata ----------------------------------------------------------------------------------

    async def get_metadata(self, request: web.Request) -> web.StreamResponse:
        blob_id = _blob_id(request)
        return bcs(encode_metadata_with_id(blob_id, self.node.served_metadata(blob_id)))

    async def put_metadata(self, request: web.Request) -> web.StreamResponse:
        _only_query(request, "pending")
        blob_id = _blob_id(request)
        pending = _bool_query(request, "pending")
        body = await self._body(request)()
        outcome = await self.node.accept_metadata(blob_id, body, pending, _address(request))
        return success(METADATA_ANSWER[outcome], ACCEPTED_CODE[outcome])

    async def metadata_status(self, request: web.Request) -> web.StreamResponse:
        return success(self.node.metadata_held(_blob_id(request)).value)

    # Slivers -----------------------------------------------------------------------------------

    async def put_sliver(self, request: web.Request) -> web.StreamResponse:
        _only_query(request, "pending")
        blob_id, axis, pair = _blob_id(request), _path_axis(request), _pair(request)
        pending = _bool_query(request, "pending")
        outcome = await self.node.accept_sliver(
            blob_id, pair, axis, self._body(request), pending, _address(request)
        )
        return _uploaded(outcome)

    async def put_slivers(self, request: web.Request) -> web.StreamResponse:
        """Many slivers of one blob at once (pywalrus extension; BCS `encode_sliver_batch`),
        all or nothing."""
        _only_query(request, "pending")
        blob_id = _blob_id(request)
        pending = _bool_query(request, "pending")
        body = await self._body(request, max(self.body_limit, MAX_BATCH_BODY))()
        return _uploaded(await self.node.accept_slivers(blob_id, body, pending, _address(request)))

    async def get_sliver(self, request: web.Request) -> web.StreamResponse:
        blob_id, axis, pair = _blob_id(request), _path_axis(request), _pair(request)
        return bcs(self.node.served_sliver(blob_id, pair, axis))

    async def get_slivers(self, request: web.Request) -> web.StreamResponse:
        """Many slivers of one axis at once (pywalrus extension): `?type=primary&pair=3&pair=7`,
        answered as a sliver batch of those the node serves."""
        _only_query(request, "type", "pair")
        blob_id = _blob_id(request)
        axis = _axis(request.query.get("type", ""))
        try:
            pairs = [int(p) for p in request.query.getall("pair", [])]
        except ValueError:
            raise Refused(Refusal.INVALID_PAIR_INDEX, "pair indices must be integers") from None
        found = self.node.served_slivers(blob_id, axis, pairs)
        return bcs(encode_stored_sliver_batch(axis, found))

    async def sliver_status(self, request: web.Request) -> web.StreamResponse:
        blob_id, axis, pair = _blob_id(request), _path_axis(request), _pair(request)
        return success(self.node.sliver_held(blob_id, pair, axis).value)

    # Confirmations -----------------------------------------------------------------------------

    async def _confirm(self, request: web.Request, object_id: ObjectId | None) -> web.Response:
        _only_query(request, "wait_for_registration", "wait_millis")
        blob_id = _blob_id(request)
        wait = _bool_query(request, "wait_for_registration")
        try:
            wait_ms = int(request.query.get("wait_millis", self.node.confirmation_wait_ms))
        except ValueError:
            raise Refused(Refusal.INVALID_QUERY, "wait_millis must be an integer") from None
        signed = await self.node.confirm(blob_id, object_id, wait_ms if wait else None)
        return success({"signed": signed.to_json()})

    async def confirm_permanent(self, request: web.Request) -> web.StreamResponse:
        return await self._confirm(request, None)

    async def confirm_deletable(self, request: web.Request) -> web.StreamResponse:
        return await self._confirm(request, _object_id(request))

    # Recovery ----------------------------------------------------------------------------------

    async def recovery_symbols(self, request: web.Request) -> web.StreamResponse:
        """Symbols with proofs: for a target sliver (`targetSliver`, `targetType`), or at
        intersections (`id=P-S`, repeated) with the proof from `proofAxis` where both are held."""
        _only_query(request, "targetSliver", "targetType", "proofAxis", "id")
        blob_id, query = _blob_id(request), request.query
        if "id" in query:
            ids = [_intersection(item) for item in query.getall("id")]
            proof_axis = _proof_axis(query.get("proofAxis", "primary"))
            symbols = await self.node.recovery_symbols_at(blob_id, ids, proof_axis)
        elif "targetSliver" in query and "targetType" in query:
            target = _index(query["targetSliver"], "target sliver")
            axis = _axis(query["targetType"], Refusal.NO_SYMBOLS_SPECIFIED, NO_SYMBOLS)
            symbols = await self.node.recovery_symbols(blob_id, target, axis)
        else:
            raise Refused(Refusal.NO_SYMBOLS_SPECIFIED, NO_SYMBOLS)
        return bcs(encode_recovery_symbols(symbols))

    async def decoding_symbols(self, request: web.Request) -> web.StreamResponse:
        """Symbols without proofs for several target slivers, as a BCS map by target index."""
        _only_query(request, "targetSlivers", "targetType")
        blob_id = _blob_id(request)
        targets = [_index(t, "target sliver") for t in request.query.getall("targetSlivers", [])]
        axis = _axis(request.query.get("targetType", ""), Refusal.INVALID_FILTER)
        by_target = await self.node.decoding_symbols(blob_id, targets, axis)
        return bcs(encode_decoding_symbols(axis, by_target))

    async def inconsistency_proof(self, request: web.Request) -> web.StreamResponse:
        blob_id, axis = _blob_id(request), _path_axis(request)
        signed = await self.node.attest_invalid(blob_id, axis, self._body(request))
        return success(signed.to_json())

    # Status ------------------------------------------------------------------------------------

    async def blob_status(self, request: web.Request) -> web.StreamResponse:
        return success(self.node.blob_status(_blob_id(request)))

    async def health(self, request: web.Request) -> web.StreamResponse:
        return success(self.node.health(_bool_query(request, "detailed")))

    async def sync_shard(self, request: web.Request) -> web.StreamResponse:
        body = self._body(request, sync_shard_server.MAX_REQUEST_BYTES)
        authorization = request.headers.get("Authorization")
        return bcs(await sync_shard_server.shard_page(self.node, authorization, body))

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        node = self.node
        shard_sync = self.shard_sync_stats() if self.shard_sync_stats is not None else {}
        text = node.metrics.exposition(
            node.epoch, node.highest_event, node.store.counts(), shard_sync
        )
        return web.Response(body=text, content_type="text/plain")
