"""A blocking facade over the async `WalrusClient`, for scripts and notebooks.

The async client runs on a private event loop in a background thread; each method submits a
coroutine to it and waits for the result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pywalrus.chain.wallet import Wallet
from pywalrus.client.blob_objects import BlobOps
from pywalrus.client.client import Progress, StoreOptions, WalrusClient
from pywalrus.client.config import ClientConfig
from pywalrus.core.decoding import ConsistencyCheck
from pywalrus.core.types import BlobId

T = TypeVar("T")


class SyncWalrusClient:
    """`WalrusClient` with blocking methods; use as a context manager or call `close()`."""

    def __init__(
        self, config: ClientConfig, wallet: Wallet | None = None, progress: Progress | None = None
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.client = WalrusClient(config, wallet, progress)

    def __enter__(self) -> SyncWalrusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def store(self, data: bytes, options: StoreOptions | None = None) -> dict[str, Any]:
        return self._run(self.client.store(data, options))

    def read(self, blob_id: BlobId, check: ConsistencyCheck = ConsistencyCheck.DEFAULT) -> bytes:
        return self._run(self.client.read(blob_id, check))

    def blob_status(self, blob_id: BlobId) -> Any:
        return self._run(self.client.blob_status(blob_id))

    def list_blobs(self, include_expired: bool = False) -> list[dict[str, Any]]:
        return self._run(self._ops().list_blobs(include_expired))

    def delete(self, object_id: str) -> dict[str, Any]:
        return self._run(self._ops().delete(object_id))

    def extend(self, object_id: str, epochs: int) -> dict[str, Any]:
        return self._run(self._ops().extend(object_id, epochs))

    def _ops(self) -> BlobOps:
        return self.client.blobs()

    def close(self) -> None:
        if self._loop.is_running():
            self._run(self.client.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        self._loop.close()
