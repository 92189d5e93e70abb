"""pywalrus: a Python implementation of Walrus, the decentralized blob storage network.

`WalrusClient` (async) and `SyncWalrusClient` store and read blobs; `ClientConfig` loads a
`client_config.yaml`; `StoreOptions` says how long and how to store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["ClientConfig", "StoreOptions", "SyncWalrusClient", "WalrusClient"]

if TYPE_CHECKING:
    from pywalrus.client.client import StoreOptions, WalrusClient
    from pywalrus.client.config import ClientConfig
    from pywalrus.client.sync import SyncWalrusClient


def __getattr__(name: str) -> Any:
    # Imported lazily so that `import pywalrus.core` stays light.
    if name in ("WalrusClient", "StoreOptions"):
        from pywalrus.client import client

        return getattr(client, name)
    if name == "ClientConfig":
        from pywalrus.client.config import ClientConfig

        return ClientConfig
    if name == "SyncWalrusClient":
        from pywalrus.client.sync import SyncWalrusClient

        return SyncWalrusClient
    raise AttributeError(name)
