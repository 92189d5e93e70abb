"""HTTP client of one storage node's REST API, for the SDK and for nodes' peer traffic alike.

Every failure (no connection, a timeout, an error answer, an answer that is not what the route
promises) is a `NodeError`; nothing a node sends is trusted beyond its framing: callers verify
what they get against the blob's metadata."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from pywalrus.core.bcs import BcsReader
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.core.errors import MessageError, NodeError, WalrusError
from pywalrus.core.messages import SignedMessage, SyncShardMsg, SyncShardRequest, SyncShardResponse
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import BlobId, Epoch, SliverIndex, SliverType
from pywalrus.network import envelope, routes

OCTET = {"Content-Type": "application/octet-stream"}


class NodeClient:
    """Talks to one storage node; every failure becomes a `NodeError`."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.session = session

    @contextlib.asynccontextmanager
    async def _response(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        params: dict[str, str] | list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A successful response whose body is still to be read; errors as `NodeError`.

        `timeout` (seconds) bounds the whole request instead of the session's default; a
        node that does not answer in time is a `NodeError` with reason `TIMEOUT`.
        """
        if data:
            headers = {**OCTET, **(headers or {})}
        # Without a timeout of its own, a request keeps the session's (passing None would
        # lift every bound).
        bound = (
            aiohttp.ClientTimeout(total=timeout) if timeout is not None else self.session.timeout
        )
        try:
            async with self.session.request(
                method, self.url + path, data=data, params=params, headers=headers, timeout=bound
            ) as response:
                if response.status >= 400:
                    raise self._error(response.status, await response.read())
                yield response
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or str(exc.os_error) if exc.os_error else str(exc)
            raise NodeError(self.url, 0, "CONNECTION_REFUSED", reason) from None
        except TimeoutError:
            waited = f"{timeout:g} s" if timeout is not None else "the request timeout"
            raise NodeError(self.url, 0, "TIMEOUT", f"no answer within {waited}") from None
        except aiohttp.ClientError as exc:
            raise NodeError(self.url, 0, "UNREACHABLE", str(exc) or type(exc).__name__) from None

    async def _request(
        self, method: str, path: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        """Status and body of a successful request (arguments as `_response`)."""
        async with self._response(method, path, *args, **kwargs) as response:
            return response.status, await response.read()

    def _error(self, status: int, body: bytes) -> NodeError:
        return NodeError(self.url, status, *envelope.error_reason(body))

    async def _json(
        self, path: str, params: dict[str, str] | None = None, timeout: float | None = None
    ) -> Any:
        _, body = await self._request("GET", path, params=params, timeout=timeout)
        try:
            return envelope.success_data(body)
        except ValueError as exc:
            raise self._bad(str(exc)) from None

    async def put_metadata(self, blob_id: BlobId, metadata: bytes, pending: bool = True) -> int:
        status, _ = await self._request(
            "PUT", routes.metadata(blob_id), metadata, {"pending": str(pending).lower()}
        )
        return status

    async def put_sliver(
        self, blob_id: BlobId, pair: int, axis: SliverType, sliver: bytes, pending: bool = True
    ) -> int:
        status, _ = await self._request(
            "PUT",
            routes.sliver(blob_id, pair, axis),
            sliver,
            {"pending": str(pending).lower()},
        )
        return status

    async def put_slivers(self, blob_id: BlobId, batch: bytes, pending: bool = True) -> int:
        """Upload a sliver batch (`encode_sliver_batch`; pywalrus nodes only)."""
        status, _ = await self._request(
            "PUT", routes.slivers(blob_id), batch, {"pending": str(pending).lower()}
        )
        return status

    async def get_metadata(self, blob_id: BlobId, timeout: float | None = None) -> bytes:
        return (await self._request("GET", routes.metadata(blob_id), timeout=timeout))[1]

    async def get_slivers(
        self, blob_id: BlobId, axis: SliverType, pairs: list[int], timeout: float | None = None
    ) -> bytes:
        """A sliver batch of those of the pairs' slivers the node serves (pywalrus nodes only)."""
        params = [("type", axis.label), *(("pair", str(p)) for p in pairs)]
        path = routes.slivers(blob_id)
        return (await self._request("GET", path, params=params, timeout=timeout))[1]

    async def get_sliver(self, blob_id: BlobId, pair: int, axis: SliverType) -> bytes:
        return (await self._request("GET", routes.sliver(blob_id, pair, axis)))[1]

    async def read_sliver(
        self,
        blob_id: BlobId,
        pair: int,
        axis: SliverType,
        expected_length: int,
        timeout: float | None = None,
    ) -> Sliver:
        """A sliver (unverified) parsed from its BCS `SliverData` as the body streams in.

        The symbols are read into a bytes object of their own, so a large read holds each
        sliver once, not as a whole body and a copy of its symbols. A body announcing other
        than `expected_length` bytes of symbols is refused before any of them is read.
        """
        path = routes.sliver(blob_id, pair, axis)
        async with self._response("GET", path, timeout=timeout) as response:
            body = response.content
            try:
                prefix = b""
                while not prefix or (prefix[-1] & 0x80 and len(prefix) < 5):
                    prefix += await body.readexactly(1)
                length = BcsReader(prefix, "sliver length").uleb128()
                if length != expected_length:
                    raise self._bad(f"sliver of {length} bytes, expected {expected_length}")
                payload = await body.readexactly(length)
                trailer = BcsReader(await body.readexactly(4), "sliver")
                if await body.read(1):
                    raise self._bad("trailing bytes after the sliver")
                symbol_size = trailer.u16()
                return Sliver(axis, SliverIndex(trailer.u16()), symbol_size, payload)
            except (asyncio.IncompleteReadError, WalrusError) as exc:
                if isinstance(exc, NodeError):
                    raise
                raise self._bad(f"malformed sliver: {exc}") from None

    def _bad(self, message: str) -> NodeError:
        return NodeError(self.url, 200, "BAD_RESPONSE", message)

    async def get_confirmation(
        self, blob_id: BlobId, object_id: str | None, wait_ms: int = 5_000
    ) -> SignedMessage:
        data = await self._json(
            routes.confirmation(blob_id, object_id or None),
            {"wait_for_registration": "true", "wait_millis": str(wait_ms)},
        )
        try:
            return SignedMessage.from_json(data["signed"])
        except (KeyError, TypeError, ValueError) as exc:
            raise self._bad(f"malformed confirmation: {exc}") from None

    async def sync_shard(
        self, key: BlsPrivateKey, request: SyncShardRequest, epoch: Epoch
    ) -> SyncShardResponse:
        """Ask a shard's holder for a page of its slivers (node to node, signed by `key`).

        The answer is parsed but not verified: the caller checks every sliver.
        """
        signed = SignedMessage.sign(key, SyncShardMsg(epoch, request))
        auth = {"Authorization": base64.b64encode(key.public_key().to_bytes()).decode()}
        _, body = await self._request("POST", routes.SYNC_SHARD, signed.to_bcs(), None, auth)
        try:
            return SyncShardResponse.from_bcs(body)
        except MessageError as exc:
            raise self._bad(str(exc)) from None

    async def recovery_symbols(self, blob_id: BlobId, target: int, axis: SliverType) -> bytes:
        """The node's recovery symbols (BCS, unverified) for sliver `target` of `axis`, from
        each of its slivers of the other axis."""
        params = {"targetSliver": str(target), "targetType": axis.label}
        return (await self._request("GET", routes.recovery_symbols(blob_id), params=params))[1]

    async def inconsistency_proof(
        self, blob_id: BlobId, axis: SliverType, proof: bytes
    ) -> SignedMessage:
        """Have the node check an inconsistency proof (BCS) against its metadata; its signed
        `InvalidBlobIdMsg`, not verified here (the caller checks it against the node's key)."""
        _, body = await self._request("POST", routes.inconsistency_proof(blob_id, axis), proof)
        try:
            return SignedMessage.from_json(envelope.success_data(body))
        except (TypeError, ValueError, WalrusError) as exc:
            raise self._bad(f"malformed invalid-blob attestation: {exc}") from None

    async def blob_status(self, blob_id: BlobId, timeout: float | None = None) -> Any:
        return await self._json(routes.blob_status(blob_id), timeout=timeout)

    async def health(self, detailed: bool = False, timeout: float | None = None) -> Any:
        params = {"detailed": "true"} if detailed else None
        return await self._json(routes.HEALTH, params, timeout)
