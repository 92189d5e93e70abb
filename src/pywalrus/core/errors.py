"""Every error pywalrus raises on purpose, in one tree under `WalrusError`.

The hierarchy (a class in parentheses is a second base, so that callers catching the builtin
keep working):

    WalrusError
    ├── BcsError (ValueError) ............... bytes that are not the expected BCS value
    │   └── MessageError .................... not the expected protocol message
    ├── EncodingError (ValueError) .......... invalid encoding parameters
    │   └── DataTooLargeError ............... a blob beyond the maximum size
    │       └── QuiltOversizeError (QuiltError)
    ├── VerificationError (ValueError) ...... data that fails a check against what it claims
    │   ├── InvalidMetadataError
    │   ├── InvalidSliverError
    │   ├── InvalidSymbolError
    │   ├── InconsistentBlobError ........... the blob was encoded inconsistently
    │   │   └── InconsistentSliverError ..... (carries the inconsistency proof)
    │   ├── MessageMismatchError
    │   ├── InvalidSignatureError
    │   ├── AuthPackageError ................ an upload relay tip's hash that is not this blob's
    │   ├── CertificateError
    │   │   ├── InvalidBitmapError
    │   │   ├── NotEnoughWeightError
    │   │   ├── CertificateSignatureError
    │   │   └── CertificateEpochError
    │   └── ChallengeVerificationError
    │       ├── ResponseMismatchError
    │       └── EntryError
    │           ├── MissingEntryError
    │           ├── ExtraEntryError
    │           ├── WrongPositionError
    │           └── BadProofError
    │               └── WrongBlobError
    ├── NotEnoughSymbolsError (ValueError)
    ├── InvalidBlobIdError (ValueError)
    ├── InvalidByteRangeError (ValueError) .. a byte range a blob cannot serve
    ├── InvalidAddressError (ValueError)
    ├── BlsError (ValueError)
    ├── InvalidCommitteeError (ValueError)
    ├── InvalidShardAssignmentError (ValueError)
    ├── NoStakeError (ValueError)
    ├── ApportionmentError (ValueError)
    ├── VoteError (ValueError)
    ├── QuiltError (ValueError)
    │   ├── InvalidQuiltIdentifierError
    │   ├── InvalidQuiltTagsError
    │   ├── DuplicateQuiltIdentifierError
    │   ├── TooManyQuiltPatchesError
    │   ├── QuiltOversizeError (DataTooLargeError)
    │   ├── InvalidQuiltError
    │   ├── MissingSliversError
    │   ├── QuiltPatchNotFoundError
    │   └── InvalidQuiltPatchIdError
    ├── ChallengeError (ValueError)
    │   ├── MissingSliverError
    │   └── MissingMetadataError
    │                                         the chain
    ├── TransactionFormatError (ValueError) . a transaction that is not well formed
    ├── Abort ............................... a contract refused a call
    ├── SchemaError ......................... an object or event read as a type it is not
    ├── TransactionRejected ................. the ledger did not execute a transaction
    │   └── TransactionFailed ............... kept as failed (nonce used, fee charged)
    ├── ChainError .......................... the chain answered a client with an error
    ├── ChainUnavailable .................... the chain could not be reached
    │                                         storage nodes, seen from outside
    ├── NodeError ........................... a node answered with an error, or not at all
    │                                         the SDK
    ├── NotEnoughConfirmations
    ├── NotEnoughSlivers
    ├── BlobNotFound
    ├── BlobStatusUnknown
    ├── StoreRefused
    ├── UploadRelayError .................... an upload relay refused, failed or lied
    ├── InsufficientFunds
    │   └── InsufficientGas
    ├── InvalidAmount (ValueError)
    ├── ObjectNotFound
    ├── UnknownNode
    ├── ConfigError
    │                                         inside a storage node
    ├── CorruptSliverError
    ├── PendingFull
    │                                         local networks
    └── TestbedError

Not in the tree, on purpose: exceptions that carry control flow inside one component and
never reach a caller of pywalrus: `pywalrus.node.outcomes.Refused` (a storage node's refusal
of a request, on its way to the node's error middleware, which answers it),
`pywalrus.services.http.ServiceError` (an HTTP error answer in the HTTP services),
`pywalrus.chain.server.RpcError` (a JSON-RPC error answer) and its `_Unrepresentable`,
`SourceUnavailable` and `ShardSyncSuperseded` (raised and caught within
`pywalrus.node.shard_sync`), and the CLI's exit signals (`pywalrus.cli.output.CliError`,
`UsageProblem`, `pywalrus.cli.data_commands.Interrupted`: click exceptions that print one line
and set the exit code). `tests/test_errors.py` checks that this drawing is the hierarchy and
that no other module defines an exception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pywalrus.core.inconsistency import InconsistencyProof
    from pywalrus.core.types import BlobId, ShardIndex, SliverIndex, SliverType


class WalrusError(Exception):
    """Base class of every error pywalrus raises on purpose."""


# The pure core: bytes, encoding, verification ----------------------------------------------


class BcsError(WalrusError, ValueError):
    """Bytes that do not decode as the expected BCS value (truncated, trailing, out of range)."""


class MessageError(BcsError):
    """Bytes that are not the expected protocol message (intent, version, app ID, length)."""


class EncodingError(WalrusError, ValueError):
    """Invalid encoding parameters, such as a shard count out of range."""


class DataTooLargeError(EncodingError):
    """The blob does not fit the maximum symbol size for this shard count."""


class VerificationError(WalrusError, ValueError):
    """Data that fails verification against a blob ID, metadata or Merkle root."""


class InvalidMetadataError(VerificationError):
    """Metadata that does not match its blob ID or the encoding configuration."""


class InvalidSliverError(VerificationError):
    """A sliver whose size, index or Merkle root does not match the metadata."""


class InvalidSymbolError(VerificationError):
    """A recovery symbol whose Merkle proof or size does not check out."""


class InconsistentBlobError(VerificationError):
    """Decoded data that disagrees with the metadata: the blob was encoded inconsistently."""


class InconsistentSliverError(InconsistentBlobError):
    """Verified recovery symbols decoded to a sliver that does not match the metadata."""

    def __init__(self, proof: InconsistencyProof) -> None:
        super().__init__(
            f"{proof.target_axis.label} sliver {proof.target_sliver_index} is inconsistent "
            "with the blob metadata"
        )
        self.proof = proof


class MessageMismatchError(VerificationError):
    """A signed message whose epoch or contents differ from what the verifier expected."""


class InvalidSignatureError(VerificationError):
    """A well-formed BLS signature that does not verify for the given key and message."""


class AuthPackageError(VerificationError):
    """A tip transaction's auth package does not match the nonce or blob sent to the relay;
    `reason` is upstream's error name in SCREAMING_SNAKE_CASE (`INVALID_NONCE_HASH`, …)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NotEnoughSymbolsError(WalrusError, ValueError):
    """Fewer distinct verified symbols or slivers than decoding requires."""


class InvalidBlobIdError(WalrusError, ValueError):
    """A string or byte value that is not a valid blob ID."""


class InvalidByteRangeError(WalrusError, ValueError):
    """A byte range that is malformed or lies outside the blob (an HTTP 416 or 400)."""


class InvalidAddressError(WalrusError, ValueError):
    """Text that is not a 0x-prefixed 32-byte hex address or object ID."""


class BlsError(WalrusError, ValueError):
    """Bytes that are not a valid BLS secret key, public key or signature, or a void aggregate."""


# Certificates --------------------------------------------------------------------------------


class CertificateError(VerificationError):
    """A certificate, or the signed messages meant to form one, that does not hold up."""


class InvalidBitmapError(CertificateError):
    """The signers bitmap is longer than the committee needs or sets bits past its members."""


class NotEnoughWeightError(CertificateError):
    """The signers hold too few shards for the required threshold."""


class CertificateSignatureError(CertificateError):
    """The aggregate signature does not verify against the signers' aggregate key."""


class CertificateEpochError(CertificateError):
    """The certified message belongs to another epoch than the committee's."""


class InvalidCommitteeError(WalrusError, ValueError):
    """Committee data that cannot be right: zero or oversize weights, a wrong shard total."""


# Committees, staking and votes ---------------------------------------------------------------


class InvalidShardAssignmentError(WalrusError, ValueError):
    """A committee whose shards are not each assigned exactly once, or a transition that changes
    the total number of shards (upstream `EInvalidShardAssignment`)."""


class NoStakeError(WalrusError, ValueError):
    """The active set holds no stake, so no shards can be apportioned (upstream `ENoStake`)."""


class ApportionmentError(WalrusError, ValueError):
    """Inputs on which the contract would abort: shards left over while every node is at its
    cap, or amounts outside the u64 range."""


class VoteError(WalrusError, ValueError):
    """Votes on which the contract would abort: their weight never reaches (or, for
    `quorum_below`, exceeds) what the quorum rule needs, or a node votes with no shards."""


# Quilts --------------------------------------------------------------------------------------


class QuiltError(WalrusError, ValueError):
    """A quilt that cannot be built or read."""


class InvalidQuiltIdentifierError(QuiltError):
    """A patch identifier that is empty, too long, or ends in whitespace or has control chars."""


class InvalidQuiltTagsError(QuiltError):
    """Patch tags that are not strings or do not fit their 64 KiB size field."""


class DuplicateQuiltIdentifierError(QuiltError):
    """Two patches of one quilt with the same identifier."""


class TooManyQuiltPatchesError(QuiltError):
    """More patches than columns left after the index (C − 1 for QuiltV1)."""


class QuiltOversizeError(QuiltError, DataTooLargeError):
    """A patch over the ~4 GiB header limit, or patches needing a symbol over 65,534 bytes."""


class InvalidQuiltError(QuiltError):
    """Quilt bytes that are not a well-formed QuiltV1 (bad version, sizes, BCS or ranges)."""


class MissingSliversError(QuiltError):
    """The secondary slivers (columns) a read needs and was not given."""

    def __init__(self, missing: Sequence[SliverIndex]) -> None:
        self.missing: tuple[SliverIndex, ...] = tuple(missing)
        """The secondary sliver indices to fetch."""
        super().__init__(f"missing secondary slivers {list(self.missing)}")


class QuiltPatchNotFoundError(QuiltError):
    """Identifiers that name no patch of the quilt."""

    def __init__(self, identifiers: Sequence[str]) -> None:
        self.identifiers: tuple[str, ...] = tuple(identifiers)
        """The identifiers not found."""
        super().__init__(f"no patch in the quilt with identifier {', '.join(self.identifiers)}")


class InvalidQuiltPatchIdError(QuiltError):
    """A string or byte value that is not a QuiltV1 patch ID."""


# Storage challenges --------------------------------------------------------------------------


class ChallengeError(WalrusError, ValueError):
    """Inputs a challenge cannot be computed from (bad parameters, data the caller lacks)."""


class MissingSliverError(ChallengeError):
    """The challenged node lacks a sliver it needs to answer for a sampled entry."""


class MissingMetadataError(ChallengeError):
    """The verifier lacks the metadata of a sampled blob (a local problem, not the prover's)."""


class ChallengeVerificationError(VerificationError):
    """A challenge response that does not prove possession of the expected sample."""


class ResponseMismatchError(ChallengeVerificationError):
    """A response for another epoch, seed or node than the challenge being checked."""


class EntryError(ChallengeVerificationError):
    """A problem with one entry (shard of the challenged node, blob) of a response; `entry`
    names it."""

    def __init__(self, entry: tuple[ShardIndex, BlobId], problem: str) -> None:
        super().__init__(f"{self.describe(entry)}: {problem}")
        self.entry = entry
        self.problem = problem

    @staticmethod
    def describe(entry: tuple[ShardIndex, BlobId]) -> str:
        """How messages name a sampled entry."""
        shard, blob_id = entry
        return f"entry (shard {shard}, blob {blob_id})"

    def __reduce__(self) -> tuple[type[EntryError], tuple[tuple[ShardIndex, BlobId], str]]:
        return type(self), (self.entry, self.problem)


class MissingEntryError(EntryError):
    """A sampled entry the response does not answer."""


class ExtraEntryError(EntryError):
    """An entry that is not in the sample."""


class WrongPositionError(EntryError):
    """A symbol of another axis, source sliver or target position than the probe requires."""


class BadProofError(EntryError):
    """A symbol whose Merkle proof (or size) does not verify against the blob's metadata."""


class WrongBlobError(BadProofError):
    """A symbol that proves against another sampled blob's metadata: a stale or swapped answer."""


# The chain -----------------------------------------------------------------------------------


class TransactionFormatError(WalrusError, ValueError):
    """A transaction that is not well formed."""


class Abort(WalrusError):
    """A contract refused the call; the whole transaction is discarded."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.detail = message


class SchemaError(WalrusError):
    """An object or event read as a type it does not have."""


class TransactionRejected(WalrusError):
    """A transaction that was not executed; nothing of it was kept."""

    def __init__(self, code: str, message: str, **data: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.detail = message
        self.data = data
        """Machine-readable details for the client (`expectedNonce`, `digest`)."""


class TransactionFailed(TransactionRejected):
    """A transaction whose call raised an error that is not a contract abort: it is kept as
    failed (nonce used, fee charged, no other effect) under `digest`."""

    def __init__(self, message: str, digest: str) -> None:
        super().__init__("EExecutionFailed", message, digest=digest)
        self.digest = digest


class ChainError(WalrusError):
    """The chain answered with an error."""

    def __init__(
        self, message: str, code: int, reason: str | None, data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.data = data or {}
        """The error's `data` object: `reason`, and `expectedNonce` for nonce refusals."""

    def expected_nonce(self) -> int | None:
        """The nonce the chain expects next, if this refusal names it."""
        value = self.data.get("expectedNonce")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class ChainUnavailable(WalrusError):
    """The chain could not be reached."""


# Storage nodes, seen from outside ------------------------------------------------------------


class NodeError(WalrusError):
    """A storage node answered with an error or could not be reached.

    `status` is the HTTP status (0 when there was no answer, 200 for an answer that is not
    what the route promises) and `reason` the machine-readable reason of the node's error
    envelope, or `CONNECTION_REFUSED`, `TIMEOUT`, `UNREACHABLE`, `BAD_RESPONSE`.
    """

    def __init__(self, url: str, status: int, reason: str, message: str) -> None:
        super().__init__(f"{url}: {status} {reason}: {message}")
        self.url = url
        self.status = status
        self.reason = reason


# The SDK -------------------------------------------------------------------------------------


class NotEnoughConfirmations(WalrusError):
    """Storage confirmations covered less than a quorum of shards."""


class NotEnoughSlivers(WalrusError):
    """Fewer verified slivers than decoding needs could be fetched."""


class BlobNotFound(WalrusError):
    """The blob does not exist, has expired, or was deleted."""


class BlobStatusUnknown(WalrusError):
    """Too few shards' worth of nodes answered to trust any status."""

    def __init__(self, message: str, report: Any) -> None:
        super().__init__(message)
        self.report = report
        """What the nodes answered (`pywalrus.client.status.StatusAnswers`)."""


class StoreRefused(WalrusError):
    """A store whose lifetime (or another option) cannot be honoured; nothing was paid."""


class UploadRelayError(WalrusError):
    """An upload relay refused a blob (`status`: its HTTP status, 0 if unreachable), failed,
    or answered with a certificate that does not verify against the committee."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class InsufficientFunds(WalrusError):
    """The wallet's WAL or gas does not cover the operation.

    When the shortfall was found before anything was sent (the coins chosen for a payment),
    `address`, `needed` and `available` (FROST) say by how much; when the chain refused a
    transaction for it, they are None.
    """

    def __init__(
        self,
        message: str,
        address: str | None = None,
        needed: int | None = None,
        available: int | None = None,
    ) -> None:
        super().__init__(message)
        self.address = address
        self.needed = needed
        self.available = available


class InsufficientGas(InsufficientFunds):
    """The wallet's gas (SUI, not WAL) does not cover a transaction's fee."""


class InvalidAmount(WalrusError, ValueError):
    """An amount or vote outside what the contracts accept (checked before sending)."""


class ObjectNotFound(WalrusError):
    """An object the operation needs is missing, of another type, or not the account's."""


class UnknownNode(WalrusError):
    """A node ID or URL that names no storage node."""


class ConfigError(WalrusError):
    """A missing or invalid configuration: a client config, a wallet, a node config."""


# Inside a storage node -----------------------------------------------------------------------


class CorruptSliverError(WalrusError):
    """A stored sliver that fails its checksum (truncated or changed on disk)."""

    def __init__(self, key: tuple[BlobId, int, SliverType], why: str) -> None:
        blob_id, shard, axis = key
        super().__init__(
            f"{axis.label} sliver of blob {blob_id} in shard {shard} is corrupt: {why}"
        )
        self.key = key
        """(blob ID, shard, axis) of the sliver."""


class PendingFull(WalrusError):
    """The upload does not fit the pending buffer; `limit` is `"address"` or `"node"`."""

    def __init__(self, limit: str) -> None:
        super().__init__(f"the pending upload buffer is full (per {limit})")
        self.limit = limit


# Local networks ------------------------------------------------------------------------------


class TestbedError(WalrusError):
    """A testbed directory that cannot be used (a file, not writable, …)."""
