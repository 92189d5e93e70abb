"""Our encoder against the vectors of the reference walrus-core encoder, byte for byte."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from conftest import conformance_cases, seeded_bytes
from pywalrus.core.config import EncodingConfig
from pywalrus.core.encoding import encode_blob
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.types import BlobId, SliverPairIndex

CASES = conformance_cases()


def _case_id(case: dict[str, Any]) -> str:
    return f"n{case['n_shards']}-{case['length']}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_vector(case: dict[str, Any]) -> None:
    data = seeded_bytes(case["seed"], case["length"])
    assert hashlib.sha256(data).hexdigest() == case["data_sha256"]
    config = EncodingConfig(case["n_shards"])
    assert config.n_primary_source_symbols == case["primary_source_symbols"]
    assert config.n_secondary_source_symbols == case["secondary_source_symbols"]
    assert config.symbol_size(len(data)) == case["symbol_size"]

    encoded = encode_blob(data, config)
    assert encoded.blob_id.value.hex() == case["blob_id_hex"]
    assert str(encoded.blob_id) == case["blob_id"]
    assert encoded.metadata.root_hash().hex() == case["root_hash_hex"]
    assert encoded.metadata.unencoded_length == case["unencoded_length"]

    n = config.n_shards
    if "sliver_pair_metadata" in case:
        got = [
            {"primary_hash_hex": h.primary_hash.hex(), "secondary_hash_hex": h.secondary_hash.hex()}
            for h in encoded.metadata.hashes
        ]
        assert got == case["sliver_pair_metadata"]
    pairs = [encoded.sliver_pair(SliverPairIndex(p)) for p in range(n)]
    if "primary_slivers_bcs_hex" in case:
        assert [p.to_bcs().hex() for p, _ in pairs] == case["primary_slivers_bcs_hex"]
        assert [s.to_bcs().hex() for _, s in pairs] == case["secondary_slivers_bcs_hex"]
    if "primary_slivers_bcs_sha256" in case:
        sha = [hashlib.sha256(p.to_bcs()).hexdigest() for p, _ in pairs]
        assert sha == case["primary_slivers_bcs_sha256"]
        sha = [hashlib.sha256(s.to_bcs()).hexdigest() for _, s in pairs]
        assert sha == case["secondary_slivers_bcs_sha256"]

    # The metadata survives a BCS round trip and verifies against the ID.
    metadata = BlobMetadata.from_bcs(encoded.metadata.to_bcs())
    assert metadata == encoded.metadata
    metadata.verify(BlobId.parse(case["blob_id"]), config)


def test_upstream_known_answer() -> None:
    blob = b"walrus blob id v1 regression test"
    assert len(blob) == 33
    encoded = encode_blob(blob, EncodingConfig(10))
    assert str(encoded.blob_id) == "RcU82Mwf-CFkv1LaI_2qcpANwpGUuG3TMwnVzZxD2kY"
