"""Our quilts against upstream's TS SDK (`tests/data/quilt-vectors.json`), byte for byte.

The vectors were made by `benchmarks/peers/walrus-ts/quilt_vectors.mjs` with the SDK's own
`encodeQuilt`, its WebAssembly blob encoder and `encodeQuiltPatchId`; `tests/data/QUILT.md`
describes them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from conftest import DATA, seeded_bytes
from pywalrus.core.config import EncodingConfig
from pywalrus.core.encoding import encode_blob
from pywalrus.core.quilt import (
    QuiltDecoderV1,
    QuiltIndexV1,
    QuiltPatchId,
    QuiltStoreBlob,
    QuiltV1,
    encode_quilt,
)
from pywalrus.core.types import BlobId

DOCUMENT: dict[str, Any] = json.loads((DATA / "quilt-vectors.json").read_text())
CASES: list[dict[str, Any]] = DOCUMENT["cases"]


def _inputs(case: dict[str, Any]) -> list[QuiltStoreBlob]:
    blobs = []
    for entry in case["blobs"]:
        data = seeded_bytes(entry["seed"], entry["length"])
        assert hashlib.sha256(data).hexdigest() == entry["data_sha256"]
        blobs.append(QuiltStoreBlob(entry["identifier"], data, entry["tags"]))
    return blobs


def test_vectors_cover_the_asked_shapes() -> None:
    shard_counts = {case["n_shards"] for case in CASES}
    assert {4, 10, 100, 1000} <= shard_counts
    patch_counts = {len(case["patches"]) for case in CASES}
    assert {0, 1, 666} <= patch_counts
    widths = [p["end_index"] - p["start_index"] for case in CASES for p in case["patches"]]
    assert max(widths) > 1  # patches crossing column boundaries
    assert any(case["index_columns"] > 1 for case in CASES)
    assert any(b["length"] == 0 for case in CASES for b in case["blobs"])
    assert any(b["tags"] for case in CASES for b in case["blobs"])


@pytest.mark.parametrize("case", CASES, ids=lambda case: case["name"])
def test_vector(case: dict[str, Any]) -> None:
    config = EncodingConfig(case["n_shards"])
    blobs = _inputs(case)
    quilt = encode_quilt(blobs, config)

    assert quilt.symbol_size == case["symbol_size"]
    assert len(quilt.data) == case["quilt_length"]
    assert quilt.index.to_bytes().hex() == case["index_bytes_hex"]
    assert hashlib.sha256(quilt.data).hexdigest() == case["quilt_sha256"]
    assert [
        {
            "identifier": p.identifier,
            "tags": dict(p.tags),
            "start_index": p.start_index,
            "end_index": p.end_index,
        }
        for p in quilt.index.patches
    ] == [{k: v for k, v in p.items() if k != "patch_id"} for p in case["patches"]]

    encoded = encode_blob(quilt.data, config)
    assert str(encoded.blob_id) == case["blob_id"]
    quilt_id = BlobId.parse(case["blob_id"])
    for patch, expected in zip(quilt.index.patches, case["patches"], strict=True):
        assert str(patch.patch_id(quilt_id)) == expected["patch_id"]
        parsed = QuiltPatchId.parse(expected["patch_id"])
        assert parsed == patch.patch_id(quilt_id)
        assert parsed.sliver_indices == patch.sliver_indices

    # Upstream's index bytes parse to the same index.
    index_bytes = bytes.fromhex(case["index_bytes_hex"])
    assert QuiltIndexV1.from_bcs(index_bytes[5:], case["index_columns"]) == quilt.index

    # Read back: from the blob, and each patch from the secondary slivers of its columns only.
    by_identifier = {blob.identifier: blob for blob in blobs}
    assert QuiltV1.from_blob(quilt.data, config).index == quilt.index
    decoder = QuiltDecoderV1(
        config, [encoded.secondary_sliver(j) for j in range(case["index_columns"])]
    )
    assert decoder.quilt_index() == quilt.index
    for patch in quilt.index.patches:
        alone = QuiltDecoderV1(config, [encoded.secondary_sliver(j) for j in patch.sliver_indices])
        assert alone.get_blob_by_internal_id(patch.internal_id) == by_identifier[patch.identifier]
