"""Cross-check against walrus-core itself, natively, through the `pysui-fastcrypto` wheel.

The reference is only an oracle here: every byte compared is produced by our own code.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pywalrus.core.config import EncodingConfig
from pywalrus.core.decoding import decode_blob
from pywalrus.core.encoding import encode_blob
from pywalrus.core.metadata import BlobMetadata, BlobMetadataWithId
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import ShardIndex, SliverType

fastcrypto = pytest.importorskip("pysui_fastcrypto")


@settings(max_examples=25, deadline=None)
@given(
    n=st.sampled_from([4, 5, 7, 10, 13, 31, 64, 100, 128, 301]),
    size=st.one_of(st.integers(0, 1000), st.integers(1000, 2_000_000)),
    seed=st.integers(0, 2**32),
)
def test_matches_walrus_core(n: int, size: int, seed: int) -> None:
    config = EncodingConfig(n)
    blob = random.Random(seed).randbytes(min(size, config.max_blob_size))
    ours = encode_blob(blob, config)
    theirs = fastcrypto.redstuff_encode(blob, n)
    assert ours.blob_id.value == bytes(theirs.blob_id)
    assert ours.metadata.root_hash() == bytes(theirs.root_hash)
    assert ours.metadata.to_bcs() == bytes(theirs.metadata_bcs)
    assert BlobMetadata.from_bcs(bytes(theirs.metadata_bcs)) == ours.metadata
    for shard, pair in enumerate(theirs.slivers):
        p = config.pair_for_shard(ShardIndex(shard), ours.blob_id)
        assert p == pair.sliver_pair_index
        primary, secondary = ours.sliver_pair(p)
        assert primary.to_bcs() == bytes(pair.primary)
        assert secondary.to_bcs() == bytes(pair.secondary)


@pytest.mark.parametrize("n", [7, 100])
def test_walrus_core_accepts_our_slivers_and_decodes_them(n: int) -> None:
    config = EncodingConfig(n)
    blob = random.Random(n).randbytes(123_457)
    ours = encode_blob(blob, config)
    with_id = BlobMetadataWithId(ours.blob_id, ours.metadata).to_bcs()
    verified = fastcrypto.redstuff_verify_metadata(with_id, n)
    primary = [ours.primary_sliver(i) for i in range(config.n_primary_source_symbols)]
    for sliver in primary[:3]:
        fastcrypto.redstuff_verify_sliver(sliver.to_bcs(), verified, "primary")
    decoded = fastcrypto.redstuff_decode_and_verify(
        [s.to_bcs() for s in primary], verified, "primary"
    )
    assert bytes(decoded) == blob
    # And we decode slivers that walrus-core produced.
    theirs = fastcrypto.redstuff_encode(blob, n)
    secondary = [
        Sliver.from_bcs(bytes(pair.secondary), SliverType.SECONDARY) for pair in theirs.slivers
    ]
    chosen = secondary[: config.n_secondary_source_symbols]
    assert decode_blob(chosen, ours.metadata, ours.blob_id) == blob
