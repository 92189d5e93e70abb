"""The storage node's REST API (protocol page §8.1), byte-compatible with upstream nodes.

Blob IDs in paths are URL-safe base64; metadata and slivers travel as BCS; JSON answers and
errors use the Walrus envelope. Every upload is checked before anything is stored: the blob
must be registered and unexpired (or the upload is buffered with `?pending=true`), the shard
must be this node's, and the bytes must parse and verify against the metadata. Shards lost
at an epoch change stay readable until the change is done, and are handed to their new owner
through `POST /v1/migrate/sync_shard` (`sync_shard_server`).
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client import generate_latest

from pywalrus.core.bcs import BcsWriter
from pywalrus.core.config import MAX_SYMBOL_SIZE
from pywalrus.core.errors import (
    BcsError,
    CorruptSliverError,
    InvalidBlobIdError,
    InvalidMetadataError,
    PendingFull,
    VerificationError,
    WalrusError,
)
from pywalrus.core.inconsistency import InconsistencyProof
from pywalrus.core.messages import (
    PERMANENT,
    Deletable,
    InvalidBlobIdMsg,
    SignedMessage,
    StorageConfirmation,
)
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.slivers import Sliver, decode_sliver_batch, verify_slivers
from pywalrus.core.symbols import encode_recovery_symbols, recovery_symbols_from_sliver
from pywalrus.core.types import BlobId, Epoch, SliverPairIndex, SliverType
from pywalrus.network import routes
from pywalrus.node import blob_info, shard_state
from pywalrus.node.api import NodeApiError, bad_request, bcs, not_found, read_body, success
from pywalrus.node.limits import ByteBudget, refusal
from pywalrus.node.node import StorageNode
from pywalrus.node.sync_shard_server import handle_sync_shard

INLINE_VERIFY_BYTES = 64 * 1024
"""Slivers up to this size are verified on the event loop: handing them to a thread costs
more than the check (well under a millisecond), mostly in contention for the GIL."""

MAX_BATCH_BODY = 16 * 1024 * 1024
"""Largest sliver batch accepted (clients send batches of a few MiB)."""
MIN_UPLOAD_CHARGE = 64 * 1024
"""Bytes a request with a body counts against the upload budget at least (bounding floods of
small ones too)."""
METADATA_NOT_FOUND = "METADATA_NOT_FOUND"
SLIVER_NOT_FOUND = "SLIVER_NOT_FOUND"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _blob_id(request: web.Request) -> BlobId:
    try:
        return BlobId.parse(request.match_info["blob_id"])
    except InvalidBlobIdError as exc:
        raise bad_request("INVALID_BLOB_ID", str(exc)) from None


def _axis(request: web.Request) -> SliverType:
    try:
        return SliverType.parse(request.match_info["sliver_type"])
    except ValueError as exc:
        raise bad_request("INVALID_SLIVER_TYPE", str(exc)) from None


def _bool_query(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise bad_request("INVALID_QUERY", f"query parameter {name} must be true or false")
    return value == "true"


def _only_query(request: web.Request, allowed: set[str]) -> None:
    unknown = set(request.query) - allowed
    if unknown:
        raise bad_request(
            "INVALID_QUERY", f"unknown query parameter(s): {', '.join(sorted(unknown))}"
        )


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
        node = self.node
        if node.encoding is not None:
            self.body_limit = self.max_body()
        app = web.Application(
            client_max_size=self.body_limit, middlewares=[self._errors, self._admit]
        )
        r = app.router
        r.add_get(routes.METADATA, self.get_metadata)
        r.add_put(routes.METADATA, self.put_metadata)
        r.add_get(routes.METADATA_STATUS, self.metadata_status)
        if "no_batch_route" not in node.faults:  # test hook: a node like upstream's
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
        return app

    def max_body(self) -> int:
        """Largest valid body: a primary sliver of maximal symbols, plus framing."""
        config = self.node.config
        sliver = config.n_secondary_source_symbols * MAX_SYMBOL_SIZE + 128
        return max(sliver, config.n_shards * 66 + 64)

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
            raise NodeApiError(413, "SLIVER_TOO_LARGE", "request body is too large", close=True)
        charge = max(MIN_UPLOAD_CHARGE, largest if length is None else length)
        address = request.remote or "?"
        limit = self.uploads.acquire(address, charge)
        if limit is not None:
            self.node.metrics.refused.labels(f"uploads per {limit}").inc()
            status, reason, message = refusal(limit, "request bodies in flight")
            raise NodeApiError(status, reason, message, close=True)
        try:
            return await handler(request)
        finally:
            self.uploads.release(address, charge)

    async def _body(self, request: web.Request, limit: int) -> bytes:
        """The request body, within `limit` bytes and the time `limits` allow for it."""
        expected = min(request.content_length or limit, limit)
        return await read_body(request, limit, self.node.limits.body_timeout(expected))

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = (
            request.match_info.route.resource.canonical
            if request.match_info.route.resource
            else "?"
        )
        try:
            response = await handler(request)
        except NodeApiError as exc:
            response = exc.response()
        except web.HTTPRequestEntityTooLarge:
            response = NodeApiError(413, "SLIVER_TOO_LARGE", "request body is too large").response()
        except web.HTTPException as exc:
            if exc.status == 404:
                response = not_found("NOT_FOUND", f"no route {request.path}").response()
            else:
                raise
        self.node.metrics.requests.labels(route, str(response.status)).inc()
        return response

    # Metadata --------------------------------------------------------------------------------

    def _served(self, blob_id: BlobId, reason: str) -> None:
        """Refuse to serve data of blobs that are not registered (unknown, expired, deleted or
        invalid), from the event on, whether or not the garbage collector removed it yet: 404
        with the route's `reason` (`METADATA_NOT_FOUND`, `SLIVER_NOT_FOUND`), as upstream,
        whose 451 `FORBIDDEN_BLOB` is for blobs on its operator's blocklist."""
        info = self.node.info(blob_id)
        if not blob_info.is_registered(info, self.node.epoch):
            why = (
                "is marked invalid"
                if info is not None and info["invalid"] is not None
                else "is not registered (unknown, expired or deleted)"
            )
            what = "metadata" if reason == METADATA_NOT_FOUND else "sliver"
            raise not_found(reason, f"no {what} of blob {blob_id} is served: the blob {why}")

    async def get_metadata(self, request: web.Request) -> web.StreamResponse:
        blob_id = _blob_id(request)
        self._served(blob_id, METADATA_NOT_FOUND)
        data = self.node.store.metadata(blob_id)
        if data is None:
            raise not_found(METADATA_NOT_FOUND, f"no metadata stored for blob {blob_id}")
        if "corrupt_metadata" in self.node.faults:
            data = _flip_last(data)
        return bcs(blob_id.value + data)

    async def put_metadata(self, request: web.Request) -> web.StreamResponse:
        _only_query(request, {"pending"})
        blob_id = _blob_id(request)
        pending = _bool_query(request, "pending")
        body = await self._body(request, self.body_limit)
        node = self.node
        try:
            metadata = BlobMetadata.from_bcs(body)
            metadata.verify(blob_id, node.config)
        except BcsError as exc:
            raise bad_request("INVALID_METADATA", f"malformed metadata: {exc}") from None
        except InvalidMetadataError as exc:
            raise bad_request("INVALID_METADATA", str(exc)) from None
        info = node.info(blob_id)
        if info is not None and info["invalid"] is not None:
            raise bad_request("INVALID_BLOB", f"blob {blob_id} is marked invalid")
        if not node.is_registered(blob_id):
            if not pending:
                raise bad_request("NOT_REGISTERED", f"blob {blob_id} is not registered")
            with self._pending_room():
                node.pending.add_metadata(blob_id, request.remote or "?", body)
            return success("metadata buffered pending registration", 202)
        if node.store.has_metadata(blob_id):
            return success("metadata already stored", 200)
        if not await node.store_blob_data(blob_id, body, []):
            raise bad_request("NOT_REGISTERED", f"blob {blob_id} is not registered")
        node.remember_metadata(blob_id, metadata)
        self.node.metrics.stored.labels("metadata").inc()
        return success("metadata successfully stored", 201)

    async def metadata_status(self, request: web.Request) -> web.StreamResponse:
        blob_id = _blob_id(request)
        if self.node.store.has_metadata(blob_id):
            return success("stored")
        entry = self.node.pending.get(blob_id)
        return success("buffered" if entry and entry.metadata else "nonexistent")

    # Slivers ---------------------------------------------------------------------------------

    def _shard(
        self, request: web.Request, blob_id: BlobId, reading: bool = False
    ) -> tuple[int, int]:
        """(pair, shard) of the path; the shard must be this node's (for reads: or one it
        lost at the epoch change still in progress)."""
        try:
            pair = int(request.match_info["pair"])
        except ValueError:
            raise bad_request(
                "INVALID_SLIVER_PAIR_INDEX", "sliver pair index must be an integer"
            ) from None
        return pair, self._shard_of(pair, blob_id, reading)

    def _shard_of(self, pair: int, blob_id: BlobId, reading: bool = False) -> int:
        """The shard this node holds pair `pair` of the blob in (for reads: or one it lost at
        the epoch change still in progress), or a 400."""
        if not 0 <= pair < self.node.n_shards:
            raise bad_request("INDEX_OUT_OF_RANGE", f"sliver pair index {pair} out of range")
        shard = self.node.shard_for_pair(pair, blob_id)
        if not (self.node.serves_reads(shard) if reading else shard in self.node.shards):
            raise bad_request("SHARD_NOT_ASSIGNED", f"shard {shard} is not assigned to this node")
        return shard

    def _check_index(self, pair: int, sliver: Sliver) -> None:
        if sliver.index != self.node.config.sliver_index(sliver.axis, SliverPairIndex(pair)):
            raise bad_request(
                "SLIVER_INDEX_MISMATCH",
                f"{sliver.axis.label} sliver {sliver.index} does not belong to pair {pair}",
            )

    def _upload_metadata(self, blob_id: BlobId, pending: bool) -> tuple[BlobMetadata, bool]:
        """The metadata to check uploaded slivers against, and whether the blob is registered."""
        node = self.node
        registered = node.is_registered(blob_id)
        if not registered and not pending:
            raise bad_request("NOT_REGISTERED", f"blob {blob_id} is not registered")
        metadata = node.stored_metadata(blob_id)
        if metadata is None:  # buffered (or just being stored after the registration came)
            entry = node.pending.get(blob_id)
            metadata = BlobMetadata.from_bcs(entry.metadata) if entry and entry.metadata else None
        if metadata is None:
            raise bad_request("METADATA_NOT_FOUND", f"upload the metadata of blob {blob_id} first")
        return metadata, registered

    @contextlib.contextmanager
    def _pending_room(self) -> Iterator[None]:
        """Map a full pending buffer to 429 (this address's share) or 503 (the node's)."""
        try:
            yield
        except PendingFull as exc:
            self.node.metrics.refused.labels(f"pending per {exc.limit}").inc()
            status = refusal(exc.limit, "buffered uploads")[0]
            raise NodeApiError(status, "CACHE_SATURATED", str(exc)) from None

    async def _keep(
        self,
        request: web.Request,
        blob_id: BlobId,
        registered: bool,
        uploads: list[tuple[int, Sliver, bytes]],
    ) -> web.StreamResponse:
        """Buffer (blob not yet registered) or store verified slivers: (shard, sliver, BCS)."""
        node = self.node
        # The registration may have arrived (and the pending buffer been flushed) while the
        # slivers were being verified: look again, with no await before buffering.
        registered = registered or node.is_registered(blob_id)
        if not registered:
            with self._pending_room():
                node.pending.add_slivers(
                    blob_id,
                    request.remote or "?",
                    [(shard, sliver.axis, data) for shard, sliver, data in uploads],
                )
            noun = "sliver" if len(uploads) == 1 else f"{len(uploads)} slivers"
            return success(f"{noun} buffered pending registration", 202)
        new = [
            (shard, sliver.axis, data)
            for shard, sliver, data in uploads
            if not node.store.has_sliver(blob_id, shard, sliver.axis)
        ]
        if not new:
            noun = "sliver" if len(uploads) == 1 else "slivers"
            return success(f"{noun} already stored", 200)
        if not await node.store_blob_data(blob_id, None, new):
            raise bad_request("NOT_REGISTERED", f"blob {blob_id} is no longer registered")
        for _, axis, _ in new:
            self.node.metrics.stored.labels(axis.label).inc()
        if len(uploads) == 1:
            return success("sliver stored successfully", 201)
        return success(f"{len(new)} slivers stored successfully", 201)

    async def put_sliver(self, request: web.Request) -> web.StreamResponse:
        _only_query(request, {"pending"})
        blob_id = _blob_id(request)
        axis = _axis(request)
        pair, shard = self._shard(request, blob_id)
        pending = _bool_query(request, "pending")
        body = await self._body(request, self.body_limit)
        try:
            sliver = Sliver.from_bcs(body, axis)
        except BcsError as exc:
            raise bad_request("INVALID_SLIVER", f"malformed sliver: {exc}") from None
        self._check_index(pair, sliver)
        metadata, registered = self._upload_metadata(blob_id, pending)
        try:
            if len(sliver.data) <= INLINE_VERIFY_BYTES:
                sliver.verify(metadata)
            else:
                await self.node.cpu(sliver.verify, metadata)
        except VerificationError as exc:
            raise bad_request("INVALID_SLIVER", str(exc)) from None
        return await self._keep(request, blob_id, registered, [(shard, sliver, body)])

    async def put_slivers(self, request: web.Request) -> web.StreamResponse:
        """Many slivers of one blob at once (pywalrus extension; BCS `encode_sliver_batch`).

        All or nothing: every sliver must belong to a shard of this node and verify against the
        metadata, else nothing is kept and the answer names the first bad one.
        """
        _only_query(request, {"pending"})
        blob_id = _blob_id(request)
        pending = _bool_query(request, "pending")
        body = await self._body(request, max(self.body_limit, MAX_BATCH_BODY))
        try:
            batch = decode_sliver_batch(body)
        except BcsError as exc:
            raise bad_request("INVALID_SLIVER", f"malformed sliver batch: {exc}") from None
        shards = []
        for pair, sliver in batch:
            shards.append(self._shard_of(pair, blob_id))
            self._check_index(pair, sliver)
        metadata, registered = self._upload_metadata(blob_id, pending)
        slivers = [sliver for _, sliver in batch]
        size = sum(len(sliver.data) for sliver in slivers)
        valid = (
            _verify_batch(slivers, metadata)
            if size <= INLINE_VERIFY_BYTES
            else await self.node.cpu(_verify_batch, slivers, metadata)
        )
        for (pair, sliver), ok in zip(batch, valid, strict=True):
            if not ok:
                raise bad_request(
                    "INVALID_SLIVER",
                    f"{sliver.axis.label} sliver of pair {pair} does not match the metadata",
                )
        return await self._keep(
            request,
            blob_id,
            registered,
            [
                (shard, sliver, sliver.to_bcs())
                for shard, sliver in zip(shards, slivers, strict=True)
            ],
        )

    async def get_sliver(self, request: web.Request) -> web.StreamResponse:
        blob_id = _blob_id(request)
        axis = _axis(request)
        _, shard = self._shard(request, blob_id, reading=True)
        self._served(blob_id, SLIVER_NOT_FOUND)
        try:
            data = self._stored_sliver(blob_id, shard, axis)
        except CorruptSliverError:
            raise NodeApiError(
                503,
                "SLIVER_CORRUPTED",
                f"the stored {axis.label} sliver of blob {blob_id} failed its check; it is "
                "being rebuilt",
            ) from None
        if data is None:
            raise not_found(
                SLIVER_NOT_FOUND, f"{axis.label} sliver of blob {blob_id} is not stored"
            )
        return bcs(data)

    def _stored_sliver(self, blob_id: BlobId, shard: int, axis: SliverType) -> bytes | None:
        """A stored sliver (BCS) as served to readers, of a shard the node serves reads of;
        `CorruptSliverError` if it fails its check (it is dropped and rebuilt)."""
        data = self.node.read_sliver(blob_id, shard, axis)
        if data is None:
            return None
        if shard not in self.node.shards:
            self.node.metrics.read_only_served.inc()
        if "corrupt_slivers" in self.node.faults:
            data = _flip_last(data[:-4]) + data[-4:]
        return data

    async def get_slivers(self, request: web.Request) -> web.StreamResponse:
        """Many slivers of one axis at once (pywalrus extension): `?type=primary&pair=3&pair=7`.

        Answers, as a sliver batch (`encode_sliver_batch`), those of the asked slivers this node
        serves; 404 if it serves none of them.
        """
        _only_query(request, {"type", "pair"})
        blob_id = _blob_id(request)
        try:
            axis = SliverType.parse(request.query.get("type", ""))
        except ValueError as exc:
            raise bad_request("INVALID_SLIVER_TYPE", str(exc)) from None
        try:
            pairs = list(dict.fromkeys(int(p) for p in request.query.getall("pair", [])))
        except ValueError:
            raise bad_request(
                "INVALID_SLIVER_PAIR_INDEX", "pair indices must be integers"
            ) from None
        node = self.node
        if not 0 < len(pairs) <= node.n_shards:
            raise bad_request("NO_SLIVERS_SPECIFIED", f"ask for 1 to {node.n_shards} pairs")
        for pair in pairs:
            if not 0 <= pair < node.n_shards:
                raise bad_request("INDEX_OUT_OF_RANGE", f"sliver pair index {pair} out of range")
        self._served(blob_id, SLIVER_NOT_FOUND)
        found = []
        for pair in pairs:
            shard = node.shard_for_pair(pair, blob_id)
            if not node.serves_reads(shard):
                continue
            with contextlib.suppress(CorruptSliverError):  # as if absent: being rebuilt
                data = self._stored_sliver(blob_id, shard, axis)
                if data is not None:
                    found.append((pair, data))
        if not found:
            raise not_found(SLIVER_NOT_FOUND, f"none of those slivers of {blob_id} is stored")
        writer = BcsWriter().uleb128(len(found))
        for pair, data in found:
            writer.u16(pair).u8(axis).fixed_bytes(data)
        return bcs(writer.finish())

    async def sliver_status(self, request: web.Request) -> web.StreamResponse:
        blob_id = _blob_id(request)
        axis = _axis(request)
        _, shard = self._shard(request, blob_id, reading=True)
        stored = self.node.store.has_sliver(blob_id, shard, axis)
        return success("stored" if stored else "nonexistent")

    # Confirmations ---------------------------------------------------------------------------

    async def _confirm(self, request: web.Request, object_id: str | None) -> web.StreamResponse:
        _only_query(request, {"wait_for_registration", "wait_millis"})
        blob_id = _blob_id(request)
        node = self.node
        wait = _bool_query(request, "wait_for_registration")
        try:
            wait_ms = int(request.query.get("wait_millis", node.confirmation_wait_ms))
        except ValueError:
            raise bad_request("INVALID_QUERY", "wait_millis must be an integer") from None
        registered = (
            await node.wait_registered(blob_id, wait_ms) if wait else node.is_registered(blob_id)
        )
        info = node.info(blob_id)
        if not registered:
            raise bad_request("NOT_REGISTERED", f"blob {blob_id} is not registered")
        if object_id is not None and not blob_info.has_deletable_object(
            info, node.epoch, object_id
        ):
            raise bad_request(
                "NOT_REGISTERED", f"blob {blob_id} has no deletable object {object_id}"
            )
        if object_id is None and not blob_info.has_permanent(info, node.epoch):
            raise bad_request("NOT_REGISTERED", f"blob {blob_id} has no permanent registration")
        if not node.shards:
            raise bad_request("NOT_IN_COMMITTEE", "this node holds no shards in the current epoch")
        if not node.holds_all_slivers(blob_id):
            await node.flushed(blob_id)  # buffered slivers may be being stored right now
        if not node.holds_all_slivers(blob_id):
            raise bad_request("MISSING_SLIVERS", f"not all slivers of blob {blob_id} are stored")
        persistence = Deletable(bytes.fromhex(object_id[2:])) if object_id else PERMANENT
        message = StorageConfirmation(Epoch(node.epoch), blob_id, persistence)
        signed = SignedMessage.sign(node.protocol_key, message)
        if "bad_signatures" in node.faults:
            other = StorageConfirmation(Epoch(node.epoch + 1), blob_id, persistence)
            signed = SignedMessage(message.to_bytes(), node.protocol_key.sign(other.to_bytes()))
        self.node.metrics.signed.inc()
        return success({"signed": signed.to_json()})

    async def confirm_permanent(self, request: web.Request) -> web.StreamResponse:
        return await self._confirm(request, None)

    async def confirm_deletable(self, request: web.Request) -> web.StreamResponse:
        object_id = request.match_info["object_id"]
        try:
            raw = bytes.fromhex(object_id.removeprefix("0x"))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise bad_request("INVALID_OBJECT_ID", f"invalid object ID {object_id!r}")
        return await self._confirm(request, "0x" + raw.hex())

    # Recovery ------------------------------------------------------------------------------

    def _held_slivers(self, blob_id: BlobId, axis: SliverType) -> dict[int, Sliver]:
        """Sliver index → the slivers of `axis` this node stores for the blob."""
        out = {}
        for shard, _pair in self.node.pairs_held(blob_id):
            data = self.node.readable_sliver(blob_id, shard, axis)
            if data is not None:
                sliver = Sliver.from_bcs(data, axis)
                out[int(sliver.index)] = sliver
        return out

    def _index(self, text: str, what: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise bad_request("INVALID_FILTER", f"{what} {text!r} is not an integer") from None
        if not 0 <= value < self.node.n_shards:
            raise bad_request("RECOVERY_SYMBOL_OUT_OF_RANGE", f"{what} {value} out of range")
        return value

    async def recovery_symbols(self, request: web.Request) -> web.StreamResponse:
        """Symbols with proofs: for a target sliver (`targetSliver`, `targetType`), or at
        intersections (`id=P-S`, repeated) with the proof from `proofAxis` where both are held."""
        _only_query(request, {"targetSliver", "targetType", "proofAxis", "id"})
        blob_id = _blob_id(request)
        self._served(blob_id, SLIVER_NOT_FOUND)
        config = self.node.config
        if "id" in request.query:
            wanted: list[tuple[SliverType, int, int]] = []  # (source axis, source, target)
            preferred = request.query.get("proofAxis", "primary")
            try:
                preferred_axis = SliverType.parse(preferred)
            except ValueError:
                raise bad_request("INVALID_FILTER", f"invalid proofAxis {preferred!r}") from None
            held = {axis: self._held_slivers(blob_id, axis) for axis in SliverType}
            for item in request.query.getall("id"):
                primary_text, _, secondary_text = item.partition("-")
                primary = self._index(primary_text, "primary sliver")
                secondary = self._index(secondary_text, "secondary sliver")
                options = {
                    SliverType.PRIMARY: (primary, secondary),
                    SliverType.SECONDARY: (secondary, primary),
                }
                for axis in (preferred_axis, preferred_axis.orthogonal):
                    source, target = options[axis]
                    if source in held[axis]:
                        wanted.append((axis, source, target))
                        break
                else:
                    raise bad_request(
                        "SYMBOL_NOT_PRESENT_AT_SHARDS", f"symbol {item} is on no sliver held here"
                    )

            def build_ids() -> bytes:
                symbols = [
                    recovery_symbols_from_sliver(held[axis][source], [target], config)[0]
                    for axis, source, target in wanted
                ]
                return encode_recovery_symbols(symbols)

            return bcs(await self.node.cpu(build_ids))
        try:
            target = self._index(request.query["targetSliver"], "target sliver")
            target_axis = SliverType.parse(request.query["targetType"])
        except (KeyError, ValueError):
            raise bad_request(
                "NO_SYMBOLS_SPECIFIED",
                "give targetSliver=<index> and targetType=primary|secondary, or id=P-S",
            ) from None
        slivers = list(self._held_slivers(blob_id, target_axis.orthogonal).values())
        if not slivers:
            raise not_found(
                "SYMBOL_NOT_PRESENT_AT_SHARDS", "no source slivers stored for this blob"
            )

        def build() -> bytes:
            symbols = [
                s
                for sliver in slivers
                for s in recovery_symbols_from_sliver(sliver, [target], config)
            ]
            return encode_recovery_symbols(symbols)

        return bcs(await self.node.cpu(build))

    async def decoding_symbols(self, request: web.Request) -> web.StreamResponse:
        """Symbols without proofs for several target slivers, as a BCS map by target index."""
        _only_query(request, {"targetSlivers", "targetType"})
        blob_id = _blob_id(request)
        self._served(blob_id, SLIVER_NOT_FOUND)
        targets = sorted(
            {self._index(t, "target sliver") for t in request.query.getall("targetSlivers", [])}
        )
        if not targets:
            raise bad_request(
                "NO_TARGET_SLIVERS_SPECIFIED", "give targetSlivers=<index> (repeatable)"
            )
        try:
            target_axis = SliverType.parse(request.query.get("targetType", ""))
        except ValueError as exc:
            raise bad_request("INVALID_FILTER", str(exc)) from None
        slivers = list(self._held_slivers(blob_id, target_axis.orthogonal).values())
        config = self.node.config

        def build() -> bytes:
            by_target: dict[int, list[bytes]] = {t: [] for t in targets}
            for sliver in slivers:
                for symbol in recovery_symbols_from_sliver(sliver, targets, config):
                    item = BcsWriter().u8(target_axis)
                    symbol.symbol.write(item)
                    by_target[symbol.target_index].append(item.finish())
            writer = BcsWriter().uleb128(len(targets))
            # BCS orders map entries by the bytes of their keys (u16 little-endian).
            for target in sorted(targets, key=lambda t: t.to_bytes(2, "little")):
                writer.u16(target).uleb128(len(by_target[target]))
                for item_bytes in by_target[target]:
                    writer.fixed_bytes(item_bytes)
            return writer.finish()

        return bcs(await self.node.cpu(build))

    async def inconsistency_proof(self, request: web.Request) -> web.StreamResponse:
        blob_id = _blob_id(request)
        axis = _axis(request)
        node = self.node
        # As upstream: the metadata of a blob no longer registered (invalid already, expired,
        # deleted) counts as missing.
        metadata = node.stored_metadata(blob_id) if node.is_registered(blob_id) else None
        if metadata is None:
            raise bad_request(METADATA_NOT_FOUND, f"no metadata stored for blob {blob_id}")
        try:
            proof = InconsistencyProof.from_bcs(await self._body(request, self.body_limit), axis)
            await node.cpu(proof.verify, metadata)
        except (BcsError, VerificationError, WalrusError) as exc:
            raise bad_request("INVALID_PROOF", f"inconsistency proof rejected: {exc}") from None
        signed = SignedMessage.sign(node.protocol_key, InvalidBlobIdMsg(Epoch(node.epoch), blob_id))
        return success(signed.to_json())

    # Status ----------------------------------------------------------------------------------

    async def blob_status(self, request: web.Request) -> web.StreamResponse:
        blob_id = _blob_id(request)
        return success(blob_info.status_json(self.node.info(blob_id), self.node.epoch))

    async def health(self, request: web.Request) -> web.StreamResponse:
        """The node's health (upstream's answer); 503 `NODE_NOT_HEALTHY` while its event
        follower is down or behind the chain: such a node does not know the latest
        registrations and epoch changes."""
        detailed = _bool_query(request, "detailed")
        node = self.node
        problem = node.health_problem()
        if problem is not None:
            raise NodeApiError(503, "NODE_NOT_HEALTHY", f"node {node.name}: {problem}")
        owned = len(node.shards)
        answer = {
            "uptime": {"secs": int(time.monotonic() - node.started), "nanos": 0},
            "epoch": node.epoch,
            "publicKey": base64.b64encode(node.protocol_key.public_key().to_bytes()).decode(),
            "nodeStatus": "Active" if owned else "Standby",
            "eventProgress": {
                "persisted": node.highest_event + 1,
                "pending": 0,
                "highestFinishedEventIndex": node.highest_event,
            },
            "shardSummary": shard_state.summary(node.shards, node.shard_states),
            "nodeId": node.node_id,
            "name": node.name,
        }
        if detailed:
            answer["shardDetail"] = shard_state.detail(node.shards, node.shard_states)
        return success(answer)

    async def sync_shard(self, request: web.Request) -> web.StreamResponse:
        return await handle_sync_shard(self.node, request, self._body)

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        metrics = self.node.metrics
        metrics.epoch.set(self.node.epoch)
        metrics.event_cursor.set(self.node.highest_event)
        for table, entries in self.node.store.counts().items():
            metrics.store_entries.labels(table).set(entries)
        if self.shard_sync_stats is not None:
            for kind, count in self.shard_sync_stats().items():
                metrics.shard_sync_slivers.labels(kind).set(count)
        return web.Response(body=generate_latest(metrics.registry), content_type="text/plain")


def _flip_last(data: bytes) -> bytes:
    """Test-only fault: the same bytes with the last one changed."""
    return data[:-1] + bytes([data[-1] ^ 0xFF]) if data else data


def _verify_batch(slivers: list[Sliver], metadata: BlobMetadata) -> list[bool]:
    """`verify_slivers` per axis (one batched expansion each), in the batch's order."""
    valid: dict[int, bool] = {}
    for axis in SliverType:
        positions = [i for i, sliver in enumerate(slivers) if sliver.axis is axis]
        results = verify_slivers([slivers[i] for i in positions], metadata)
        valid.update(zip(positions, results, strict=True))
    return [valid[i] for i in range(len(slivers))]
