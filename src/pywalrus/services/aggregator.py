"""The aggregator: blobs over HTTP GET, on upstream's routes (protocol page §5, §9.3;
`crates/walrus-service/aggregator_openapi.yaml`, `src/client/daemon/routes.rs`).

- `GET /v1/blobs/{blob_id}` (with `Range: bytes=a-b`: 206 and `Content-Range`; a bad or
  unsatisfiable range: 416), `GET /v1/blobs/{blob_id}/byte-range?start=&length=`,
  `GET /v1/blobs/by-object-id/{blob_object_id}` (with the blob attribute's headers that
  `--allowed-headers` lets through), `GET /v1alpha/blobs/{blob_id}/stream`,
  `GET|POST /v1alpha/blobs/concat`; `/status` and `/v1/api` come with every service app.
- Whole blobs and ranges stream from the systematic primary slivers holding them, each
  verified before its bytes leave (`client.ranged_read`); the length is known from the
  metadata, so every body has a `Content-Length`, and a read that fails after its first byte
  closes the connection short of it rather than end a body that is not the blob.
- Beyond upstream, since a blob ID names immutable content: `ETag` is the quoted blob ID,
  `Cache-Control: public, max-age=…, immutable`, `If-None-Match` is answered 304 without
  asking any node, `HEAD` from the metadata alone, and blobs up to a size are kept in an LRU
  bounded in bytes (`cache_size`).
- Upstream's statuses: malformed IDs 400, blobs not stored (or expired, deleted, invalid) 404,
  too many nodes unreachable 503, blobs above `max_blob_size` 403, more requests than
  `max_concurrent_requests` plus `max_buffered_requests` 429; errors as one-line JSON.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from pywalrus.chain.schema import BLOB, SHARED_BLOB, Blob, SharedBlob
from pywalrus.client.cache import ByteLru
from pywalrus.client.client import WalrusClient
from pywalrus.client.ranged_read import BYTES_IN_FLIGHT, BlobReader
from pywalrus.core.accounts import parse_address
from pywalrus.core.decoding import ConsistencyCheck
from pywalrus.core.errors import (
    BlobNotFound,
    ChainError,
    ChainUnavailable,
    InconsistentBlobError,
    InvalidAddressError,
    InvalidBlobIdError,
    InvalidByteRangeError,
    WalrusError,
)
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.ranges import ByteRange, checked_range, parse_range_header
from pywalrus.core.types import BlobId
from pywalrus.services.http import (
    ServiceError,
    add_route,
    fail,
    query_bool,
    query_params,
    query_u64,
)

log = logging.getLogger("pywalrus.services.aggregator")

BLOB_PATH: Final = "/v1/blobs/{blob_id}"
BYTE_RANGE_PATH: Final = "/v1/blobs/{blob_id}/byte-range"
BY_OBJECT_ID_PATH: Final = "/v1/blobs/by-object-id/{blob_object_id}"
STREAM_PATH: Final = "/v1alpha/blobs/{blob_id}/stream"
CONCAT_PATH: Final = "/v1alpha/blobs/concat"
READ_OPTIONS: Final = ("strict_consistency_check", "skip_consistency_check")
ALLOWED_HEADERS: Final = (
    "content-type",
    "authorization",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-location",
    "link",
)
"""Upstream's default `--allowed-headers`: blob attributes that become response headers."""
NOT_FOUND_MESSAGE: Final = (
    "the requested blob ID does not exist on Walrus, ensure that it was entered correctly"
)
UNAVAILABLE_MESSAGE: Final = (
    "the requested blob is currently not retrievable from Walrus; this may be transient — "
    "retry with backoff"
)


@dataclass(frozen=True)
class AggregatorOptions:
    """How an aggregator serves (its command-line flags)."""

    cache_size: int = 64 * 1024 * 1024
    """Bytes of whole small blobs kept in memory (0: none)."""
    cache_max_blob_size: int = 1024 * 1024
    """Largest blob the cache keeps."""
    cache_ttl_s: float = 60.0
    """How long a cached blob or its metadata is served without asking the nodes again."""
    max_age_s: int = 86400
    """`Cache-Control: max-age` of blob responses."""
    max_blob_size: int | None = None
    """Larger blobs are refused with 403 (upstream's `--max-blob-size`)."""
    allowed_headers: Sequence[str] = ALLOWED_HEADERS
    max_concurrent_requests: int = 256
    """Reads served at once (upstream's `--aggregator-max-concurrent-requests`)."""
    max_buffered_requests: int = 320
    """Reads in the service at once, waiting ones included; beyond it 429
    (upstream's `--aggregator-max-buffer-size`)."""
    bytes_in_flight: int = BYTES_IN_FLIGHT
    """Sliver bytes one read has requested ahead of what it has sent."""


@dataclass
class _Target:
    """A blob to answer with, and what decorates the answer."""

    blob_id: BlobId
    etag: str
    attributes: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Aggregator:
    """The read side of the daemon over one `WalrusClient`."""

    def __init__(self, client: WalrusClient, options: AggregatorOptions | None = None) -> None:
        self.client = client
        self.options = options or AggregatorOptions()
        self.reader = BlobReader(
            client, self.options.bytes_in_flight, metadata_ttl_s=self.options.cache_ttl_s
        )
        self.cache: ByteLru[BlobId, bytes] = ByteLru(
            self.options.cache_size, len, self.options.cache_ttl_s, self.options.cache_max_blob_size
        )
        self._slots = asyncio.Semaphore(self.options.max_concurrent_requests)
        self._in_service = 0
        self.allowed_headers = {h.lower() for h in self.options.allowed_headers}

    # Routes ----------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        read_statuses = (200, 206, 304, 400, 403, 404, 416, 429, 500, 503)
        add_route(
            app,
            "GET",
            BLOB_PATH,
            self._limited(self.get_blob),
            summary="Retrieve a Walrus blob (Range: bytes=a-b for part of it).",
            parameters=READ_OPTIONS,
            responses=read_statuses,
        )
        add_route(
            app,
            "GET",
            BYTE_RANGE_PATH,
            self._limited(self.get_byte_range),
            summary="Retrieve a byte range of a Walrus blob.",
            parameters=("start", "length"),
            responses=(200, 304, 400, 403, 404, 429, 500, 503),
        )
        add_route(
            app,
            "GET",
            BY_OBJECT_ID_PATH,
            self._limited(self.get_by_object_id),
            summary="Retrieve a Walrus blob by its Sui object ID, with its attribute headers.",
            parameters=READ_OPTIONS,
            responses=read_statuses,
        )
        add_route(
            app,
            "GET",
            STREAM_PATH,
            self._limited(self.stream_blob),
            summary="Stream a Walrus blob sliver by sliver.",
            responses=(200, 304, 403, 404, 429, 500),
        )
        for method in ("GET", "POST"):
            add_route(
                app,
                method,
                CONCAT_PATH,
                self._limited(self.concat),
                summary="Concatenate and stream several blobs (ids: blob or object IDs).",
                parameters=("ids", *READ_OPTIONS) if method == "GET" else (),
                responses=(200, 400, 403, 404, 415, 422, 429, 500),
            )

    def _limited(self, handler: Handler) -> Handler:
        """At most `max_concurrent_requests` reads at once and `max_buffered_requests` in the
        service; beyond that 429, as upstream's load-shedding layers."""

        async def limited(request: web.Request) -> web.StreamResponse:
            if self._in_service >= self.options.max_buffered_requests:
                fail(
                    429,
                    "TOO_MANY_REQUESTS",
                    "the aggregator is receiving too many requests; please try again later",
                )
            self._in_service += 1
            try:
                async with self._slots:
                    return await handler(request)
            finally:
                self._in_service -= 1

        return limited

    async def get_blob(self, request: web.Request) -> web.StreamResponse:
        blob_id = _blob_id(request.match_info["blob_id"])
        check = _consistency(query_params(request, READ_OPTIONS))
        return await self._serve(request, _Target(blob_id, _etag(str(blob_id))), check)

    async def get_by_object_id(self, request: web.Request) -> web.StreamResponse:
        object_id = _object_id(request.match_info["blob_object_id"])
        check = _consistency(query_params(request, READ_OPTIONS))
        blob = await self._blob_object(object_id)
        if blob is None:
            fail(404, "BLOB_NOT_FOUND", NOT_FOUND_MESSAGE)
        target = _Target(blob.blob_id, _etag(str(blob.blob_id)), blob.attributes)
        return await self._serve(request, target, check)

    async def stream_blob(self, request: web.Request) -> web.StreamResponse:
        blob_id = _blob_id(request.match_info["blob_id"])
        target = _Target(blob_id, _etag(str(blob_id)))
        headers = self._headers(request, target)
        headers["X-Walrus-Streaming"] = "true"
        if _not_modified(request, target.etag):
            return web.Response(status=304, headers=headers)
        try:
            metadata = await self.reader.metadata(blob_id)
        except WalrusError as exc:
            raise _read_error(exc, unavailable=(500, "SLIVER_RETRIEVAL_FAILED")) from None
        self._check_size(metadata.unencoded_length)
        return await self._send(
            request, headers, 200, metadata, None, ConsistencyCheck.DEFAULT, blob_id
        )

    async def get_byte_range(self, request: web.Request) -> web.StreamResponse:
        blob_id = _blob_id(request.match_info["blob_id"])
        params = query_params(request, ("start", "length"), required=("start", "length"))
        start, length = query_u64(params, "start"), query_u64(params, "length")
        if length == 0:
            _bad_byte_range("length must be greater than 0")
        if start + length >= 1 << 64:
            _bad_byte_range("start + length overflows")
        target = _Target(blob_id, _etag(f"{blob_id}-{start}-{length}"))
        headers = self._headers(request, target)
        if _not_modified(request, target.etag):
            return web.Response(status=304, headers=headers)
        cached = self.cache.get(blob_id)
        metadata = None
        if cached is None:
            metadata = await self._metadata(blob_id)
        size = len(cached) if cached is not None else _size(metadata)
        self._check_size(size)
        try:
            byte_range = checked_range(start, length, size)
        except InvalidByteRangeError as exc:
            _bad_byte_range(str(exc))
        # 200, not 206, so that caches keep the answer (as upstream).
        if cached is not None:
            return self._cached(request, headers, 200, cached, byte_range)
        assert metadata is not None
        return await self._send(
            request, headers, 200, metadata, byte_range, ConsistencyCheck.DEFAULT, blob_id
        )

    async def concat(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            ids, check = await _concat_body(request)
        else:
            params = query_params(request, ("ids", *READ_OPTIONS), required=("ids",))
            ids = [part.strip() for part in params["ids"].split(",") if part.strip()]
            check = _consistency(params)
        if not ids:
            fail(400, "INVALID_ARGUMENT", "at least one blob ID or object ID must be provided")
        if check is ConsistencyCheck.STRICT:
            check = ConsistencyCheck.DEFAULT  # each blob is streamed: see `_parts`
        etag = base64.urlsafe_b64encode(hashlib.sha256(",".join(ids).encode()).digest())
        targets = [await self._resolve(text) for text in ids]
        attributes = targets[0].attributes
        headers = self._headers(
            request, _Target(targets[0].blob_id, _etag(etag.rstrip(b"=").decode()), attributes)
        )
        metadata = []
        for target in targets:
            try:
                metadata.append(await self.reader.metadata(target.blob_id))
            except BlobNotFound:
                fail(404, "BLOB_NOT_FOUND", f"blob not found: {target.blob_id}")
            except WalrusError as exc:
                fail(500, "BLOB_READ_FAILED", f"failed to read blob {target.blob_id}: {exc}")
            self._check_size(metadata[-1].unencoded_length)

        async def parts() -> AsyncGenerator[memoryview, None]:
            for target, each in zip(targets, metadata, strict=True):
                async with contextlib.aclosing(
                    self.reader.stream(target.blob_id, each, None, check)
                ) as stream:
                    async for part in stream:
                        yield part

        total = sum(m.unencoded_length for m in metadata)
        return await self._write(request, headers, 200, total, parts(), None)

    # Answering -------------------------------------------------------------------------------

    async def _serve(
        self, request: web.Request, target: _Target, check: ConsistencyCheck
    ) -> web.StreamResponse:
        """The blob, or the part a `Range` header asks, with its headers; 304 for a
        matching `If-None-Match` before anything is read."""
        headers = self._headers(request, target)
        if _not_modified(request, target.etag):
            return web.Response(status=304, headers=headers)
        cached = self.cache.get(target.blob_id) if check is not ConsistencyCheck.STRICT else None
        metadata = None
        if cached is None:
            metadata = await self._metadata(target.blob_id)
        size = len(cached) if cached is not None else _size(metadata)
        self._check_size(size)
        byte_range = None
        status = 200
        if "Range" in request.headers:
            try:
                byte_range = parse_range_header(request.headers["Range"], size)
            except InvalidByteRangeError as exc:
                raise ServiceError(
                    416,
                    "INVALID_BYTE_RANGE",
                    f"invalid byte range parameters: {exc}",
                    headers={"Content-Range": f"bytes */{size}"},
                ) from None
            headers["Content-Range"] = byte_range.content_range(size)
            status = 206
        if cached is not None:
            return self._cached(request, headers, status, cached, byte_range)
        assert metadata is not None
        if check is ConsistencyCheck.STRICT and byte_range is None:
            return await self._strict(request, headers, target.blob_id, size)
        return await self._send(
            request, headers, status, metadata, byte_range, check, target.blob_id
        )

    def _cached(
        self,
        request: web.Request,
        headers: dict[str, str],
        status: int,
        data: bytes,
        byte_range: ByteRange | None,
    ) -> web.StreamResponse:
        body = data if byte_range is None else data[byte_range.start : byte_range.end]
        if request.method == "HEAD":
            return _head(headers, status, len(body))
        return web.Response(status=status, headers=headers, body=body)

    async def _strict(
        self, request: web.Request, headers: dict[str, str], blob_id: BlobId, size: int
    ) -> web.StreamResponse:
        """The strict check re-encodes the whole blob before any byte may leave."""
        if request.method == "HEAD":
            return _head(headers, 200, size)
        try:
            data = await self.client.read(blob_id, ConsistencyCheck.STRICT)
        except WalrusError as exc:
            raise _read_error(exc) from None
        self.cache.put(blob_id, data)
        return web.Response(status=200, headers=headers, body=data)

    async def _send(
        self,
        request: web.Request,
        headers: dict[str, str],
        status: int,
        metadata: BlobMetadata,
        byte_range: ByteRange | None,
        check: ConsistencyCheck,
        blob_id: BlobId,
    ) -> web.StreamResponse:
        length = byte_range.length if byte_range else metadata.unencoded_length
        if request.method == "HEAD":
            return _head(headers, status, length)
        keep = blob_id if byte_range is None and self.cache.fits(length) else None
        stream = self.reader.stream(blob_id, metadata, byte_range, check)
        return await self._write(request, headers, status, length, stream, keep)

    async def _write(
        self,
        request: web.Request,
        headers: dict[str, str],
        status: int,
        length: int,
        parts: AsyncGenerator[memoryview, None],
        keep: BlobId | None,
    ) -> web.StreamResponse:
        """Send `length` bytes of `parts`: an error before the first byte is an error
        answer; after it, the connection is closed short of `Content-Length`."""
        kept: list[bytes] | None = [] if keep is not None else None
        async with contextlib.aclosing(parts):
            try:
                first = await anext(parts, None)
            except WalrusError as exc:
                raise _read_error(exc) from None
            response = web.StreamResponse(status=status, headers=headers)
            response.content_length = length
            await response.prepare(request)
            try:
                part = first
                while part is not None:
                    await response.write(part)
                    if kept is not None:
                        kept.append(bytes(part))
                    part = await anext(parts, None)
            except WalrusError as exc:
                log.warning("read of %s failed after the first byte: %s", keep or "blob", exc)
                if request.transport is not None:
                    request.transport.close()
                return response
            except ConnectionError:
                log.info("client left during a read of %s", keep or "blob")
                return response  # `aclosing` stops the fetches
        if keep is not None and kept is not None:
            self.cache.put(keep, b"".join(kept))
        await response.write_eof()
        return response

    def _headers(self, request: web.Request, target: _Target) -> dict[str, str]:
        """Upstream's blob response headers (with `immutable` caching beyond upstream), the
        content type mirrored from the request, then allowed attribute headers."""
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": f"public, max-age={self.options.max_age_s}, immutable",
            "ETag": target.etag,
            "Accept-Ranges": "bytes",
        }
        accept = request.headers.get("Accept")
        if accept and "*" not in accept:
            headers["Content-Type"] = accept
        elif request.method == "GET" and "Content-Type" in request.headers:
            headers["Content-Type"] = request.headers["Content-Type"]
        present = {name.lower() for name in headers}
        for key, value in target.attributes.items():
            name = key.lower()
            if name in self.allowed_headers and name not in present and _header_ok(key, value):
                headers[key] = value
                present.add(name)
        if "content-type" not in present:
            headers["Content-Type"] = "application/octet-stream"
        return headers

    # Reading ---------------------------------------------------------------------------------

    async def _metadata(self, blob_id: BlobId) -> BlobMetadata:
        try:
            return await self.reader.metadata(blob_id)
        except WalrusError as exc:
            raise _read_error(exc) from None

    def _check_size(self, size: int) -> None:
        limit = self.options.max_blob_size
        if limit is not None and size > limit:
            fail(
                403,
                "BLOB_TOO_LARGE",
                f"the blob size exceeds the maximum allowed size: {limit}",
                "SIZE_EXCEEDED",
            )

    async def _blob_object(self, object_id: str) -> Blob | None:
        """The Blob object `object_id`, or the one a SharedBlob wraps; None if neither."""
        try:
            obj = await self.client.chain.get_object(object_id)
        except (ChainUnavailable, ChainError) as exc:
            fail(503, "BLOB_UNAVAILABLE", f"the chain could not be read: {exc}")
        if obj is None:
            return None
        if obj.type == BLOB:
            return Blob.from_fields(obj.fields)
        if obj.type == SHARED_BLOB:
            return SharedBlob.from_fields(obj.fields).blob
        return None

    async def _resolve(self, text: str) -> _Target:
        """A blob ID, or an object ID resolved to its blob (as upstream's concat)."""
        with contextlib.suppress(InvalidBlobIdError):
            blob_id = BlobId.parse(text)
            return _Target(blob_id, _etag(str(blob_id)))
        try:
            object_id = parse_address(text)
        except InvalidAddressError:
            fail(400, "INVALID_ID_FORMAT", f"invalid ID format: {text}")
        blob = await self._blob_object(object_id)
        if blob is None:
            fail(
                404,
                "OBJECT_ID_RESOLUTION_FAILED",
                f"failed to resolve object ID {object_id}: no blob object with this ID",
            )
        return _Target(blob.blob_id, _etag(str(blob.blob_id)), blob.attributes)


def add_aggregator_routes(app: web.Application, aggregator: Aggregator) -> None:
    """Add the aggregator's routes to a service app (`services.http.create_app`)."""
    aggregator.add_routes(app)


# Helpers --------------------------------------------------------------------------------------


def _blob_id(text: str) -> BlobId:
    try:
        return BlobId.parse(text)
    except InvalidBlobIdError as exc:
        fail(400, "INVALID_BLOB_ID", f"Invalid URL: {exc}")


def _object_id(text: str) -> str:
    try:
        return parse_address(text)
    except InvalidAddressError as exc:
        fail(400, "INVALID_OBJECT_ID", f"Invalid URL: {exc}")


def _consistency(params: dict[str, str]) -> ConsistencyCheck:
    strict = query_bool(params, "strict_consistency_check")
    skip = query_bool(params, "skip_consistency_check")
    return _check_from_flags(strict, skip)


def _check_from_flags(strict: bool, skip: bool) -> ConsistencyCheck:
    if strict and skip:
        fail(
            400,
            "INVALID_CONSISTENCY_CHECK",
            "cannot set both strict and skip consistency check options",
        )
    if strict:
        return ConsistencyCheck.STRICT
    return ConsistencyCheck.SKIP if skip else ConsistencyCheck.DEFAULT


def _etag(tag: str) -> str:
    return f'"{tag}"'


def _not_modified(request: web.Request, etag: str) -> bool:
    """Whether `If-None-Match` names `etag` (or `*`), weak or strong, quoted or not."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    bare = etag.strip('"')
    for candidate in header.split(","):
        tag = candidate.strip().removeprefix("W/").strip('"')
        if tag in (bare, "*"):
            return True
    return False


def _size(metadata: BlobMetadata | None) -> int:
    assert metadata is not None
    return metadata.unencoded_length


def _head(headers: dict[str, str], status: int, length: int) -> web.StreamResponse:
    """The answer to HEAD: the headers a GET would have, `Content-Length` included."""
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = length
    return response


def _header_ok(name: str, value: str) -> bool:
    """Whether an attribute makes a valid header line (no control characters)."""
    token = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return bool(name) and set(name) <= token and all(" " <= ch != "\x7f" for ch in value)


def _bad_byte_range(message: str) -> None:
    fail(400, "INVALID_BYTE_RANGE", f"invalid byte range parameters: {message}")


def _read_error(
    exc: WalrusError, unavailable: tuple[int, str] = (503, "BLOB_UNAVAILABLE")
) -> ServiceError:
    """Upstream's answer to a failed read: not stored 404, otherwise unavailable (503; the
    stream route says 500), an inconsistent blob 500."""
    if isinstance(exc, BlobNotFound):
        return ServiceError(404, "BLOB_NOT_FOUND", NOT_FOUND_MESSAGE)
    if isinstance(exc, InconsistentBlobError):
        return ServiceError(500, "INTERNAL", f"the blob is inconsistent: {exc}")
    status, reason = unavailable
    message = UNAVAILABLE_MESSAGE if status == 503 else f"failed to retrieve the blob: {exc}"
    log.info("read failed: %s", exc)
    return ServiceError(status, reason, message)


async def _concat_body(request: web.Request) -> tuple[list[str], ConsistencyCheck]:
    """The POST body of concat as upstream's `Json<ConcatRequestBody>` reads it."""
    if request.content_type != "application/json":
        fail(
            415, "UNSUPPORTED_MEDIA_TYPE", "Expected request with `Content-Type: application/json`"
        )
    try:
        body: Any = json.loads(await request.read())
    except ValueError as exc:
        fail(400, "INVALID_ARGUMENT", f"Failed to parse the request body as JSON: {exc}")
    fields = ("ids", "strict_consistency_check", "skip_consistency_check")

    def refuse(detail: str) -> None:
        fail(
            422,
            "INVALID_ARGUMENT",
            f"Failed to deserialize the JSON body into the target type: {detail}",
        )

    if not isinstance(body, dict):
        refuse("invalid type: expected struct ConcatRequestBody")
    for name in body:
        if name not in fields:
            refuse(f"unknown field `{name}`, expected one of `{'`, `'.join(fields)}`")
    ids = body.get("ids")
    if ids is None:
        refuse("missing field `ids`")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        refuse("ids: invalid type: expected a sequence of strings")
    flags = []
    for name in fields[1:]:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            refuse(f"{name}: invalid type: expected a boolean")
        flags.append(bool(value))
    return list(ids), _check_from_flags(*flags)
