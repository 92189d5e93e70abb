"""The root of pywalrus' exception tree and the errors raised by the pure core."""


class WalrusError(Exception):
    """Base class of every error pywalrus raises on purpose."""


class BcsError(WalrusError, ValueError):
    """Bytes that do not decode as the expected BCS value (truncated, trailing, out of range)."""


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


class NotEnoughSymbolsError(WalrusError, ValueError):
    """Fewer distinct verified symbols or slivers than decoding requires."""
