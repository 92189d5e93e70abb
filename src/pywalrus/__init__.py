"""pywalrus: a Python implementation of Walrus, the decentralized blob storage network.

`WalrusClient` (async) and `SyncWalrusClient` store and read blobs; `ClientConfig` loads a
`client_config.yaml` and its `Wallet`; `StoreOptions` says how long and how to store;
`BlobId` names a blob and `ConsistencyCheck` says how a read checks it. Every error pywalrus
raises on purpose is a `WalrusError` (the tree is drawn in `pywalrus.core.errors`).

These names are the public interface; modules below `pywalrus` are the implementation and may
move between releases.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pywalrus.core.errors import (
    Abort,
    ApportionmentError,
    AuthPackageError,
    BadProofError,
    BcsError,
    BlobNotFound,
    BlobStatusUnknown,
    BlsError,
    CertificateEpochError,
    CertificateError,
    CertificateSignatureError,
    ChainError,
    ChainUnavailable,
    ChallengeError,
    ChallengeVerificationError,
    ConfigError,
    CorruptSliverError,
    DataTooLargeError,
    DuplicateQuiltIdentifierError,
    EncodingError,
    EntryError,
    ExtraEntryError,
    InconsistentBlobError,
    InconsistentSliverError,
    InsufficientFunds,
    InsufficientGas,
    InvalidAddressError,
    InvalidAmount,
    InvalidBitmapError,
    InvalidBlobIdError,
    InvalidByteRangeError,
    InvalidCommitteeError,
    InvalidMetadataError,
    InvalidQuiltError,
    InvalidQuiltIdentifierError,
    InvalidQuiltPatchIdError,
    InvalidQuiltTagsError,
    InvalidShardAssignmentError,
    InvalidSignatureError,
    InvalidSliverError,
    InvalidSymbolError,
    MessageError,
    MessageMismatchError,
    MissingEntryError,
    MissingMetadataError,
    MissingSliverError,
    MissingSliversError,
    NodeError,
    NoStakeError,
    NotEnoughConfirmations,
    NotEnoughSlivers,
    NotEnoughSymbolsError,
    NotEnoughWeightError,
    ObjectNotFound,
    PendingFull,
    QuiltError,
    QuiltOversizeError,
    QuiltPatchNotFoundError,
    ResponseMismatchError,
    SchemaError,
    StoreRefused,
    TestbedError,
    TooManyQuiltPatchesError,
    TransactionFailed,
    TransactionFormatError,
    TransactionRejected,
    UnknownNode,
    UploadRelayError,
    VerificationError,
    VoteError,
    WalrusError,
    WrongBlobError,
    WrongPositionError,
)

if TYPE_CHECKING:
    from pywalrus.chain.wallet import Wallet
    from pywalrus.client.client import StoreOptions, WalrusClient
    from pywalrus.client.config import ClientConfig
    from pywalrus.client.sync import SyncWalrusClient
    from pywalrus.core.decoding import ConsistencyCheck
    from pywalrus.core.types import BlobId

__version__ = "0.1.0"
__all__ = [
    "Abort",
    "ApportionmentError",
    "AuthPackageError",
    "BadProofError",
    "BcsError",
    "BlobId",
    "BlobNotFound",
    "BlobStatusUnknown",
    "BlsError",
    "CertificateEpochError",
    "CertificateError",
    "CertificateSignatureError",
    "ChainError",
    "ChainUnavailable",
    "ChallengeError",
    "ChallengeVerificationError",
    "ClientConfig",
    "ConfigError",
    "ConsistencyCheck",
    "CorruptSliverError",
    "DataTooLargeError",
    "DuplicateQuiltIdentifierError",
    "EncodingError",
    "EntryError",
    "ExtraEntryError",
    "InconsistentBlobError",
    "InconsistentSliverError",
    "InsufficientFunds",
    "InsufficientGas",
    "InvalidAddressError",
    "InvalidAmount",
    "InvalidBitmapError",
    "InvalidBlobIdError",
    "InvalidByteRangeError",
    "InvalidCommitteeError",
    "InvalidMetadataError",
    "InvalidQuiltError",
    "InvalidQuiltIdentifierError",
    "InvalidQuiltPatchIdError",
    "InvalidQuiltTagsError",
    "InvalidShardAssignmentError",
    "InvalidSignatureError",
    "InvalidSliverError",
    "InvalidSymbolError",
    "MessageError",
    "MessageMismatchError",
    "MissingEntryError",
    "MissingMetadataError",
    "MissingSliverError",
    "MissingSliversError",
    "NoStakeError",
    "NodeError",
    "NotEnoughConfirmations",
    "NotEnoughSlivers",
    "NotEnoughSymbolsError",
    "NotEnoughWeightError",
    "ObjectNotFound",
    "PendingFull",
    "QuiltError",
    "QuiltOversizeError",
    "QuiltPatchNotFoundError",
    "ResponseMismatchError",
    "SchemaError",
    "StoreOptions",
    "StoreRefused",
    "SyncWalrusClient",
    "TestbedError",
    "TooManyQuiltPatchesError",
    "TransactionFailed",
    "TransactionFormatError",
    "TransactionRejected",
    "UnknownNode",
    "UploadRelayError",
    "VerificationError",
    "VoteError",
    "Wallet",
    "WalrusClient",
    "WalrusError",
    "WrongBlobError",
    "WrongPositionError",
]

_LAZY = {
    "BlobId": "pywalrus.core.types",
    "ClientConfig": "pywalrus.client.config",
    "ConsistencyCheck": "pywalrus.core.decoding",
    "StoreOptions": "pywalrus.client.client",
    "SyncWalrusClient": "pywalrus.client.sync",
    "Wallet": "pywalrus.chain.wallet",
    "WalrusClient": "pywalrus.client.client",
}
"""Public names imported on first use, so that `import pywalrus` (and with it every
`pywalrus.core` import) loads neither aiohttp nor numpy."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pywalrus' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
