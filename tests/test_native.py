"""The C accelerator gives the same bytes as hashlib and the pure-Python paths."""

from __future__ import annotations

import hashlib
import os
import platform
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pywalrus.core import merkle, reed_solomon
from pywalrus.core.native import native

pytestmark = pytest.mark.skipif(native is None, reason="C accelerator not built")


@pytest.mark.parametrize("size", [1, 2, 6, 31, 63, 64, 65, 126, 127, 128, 129, 255, 256, 300, 4096])
@pytest.mark.parametrize("prefix", [0, 1])
@pytest.mark.parametrize("count", [1, 4, 5, 11])
def test_hash_records_matches_hashlib(size: int, prefix: int, count: int) -> None:
    """Counts cover whole groups of four (the SIMD path, if the CPU has it) and remainders."""
    assert native is not None
    data = os.urandom(size * count)
    expected = b"".join(
        hashlib.blake2b(bytes([prefix]) + data[i : i + size], digest_size=32).digest()
        for i in range(0, len(data), size)
    )
    assert native.hash_records(data, size, prefix) == expected


def test_simd_is_used_where_the_cpu_has_avx2() -> None:
    assert native is not None
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    if "avx2" not in flags or platform.machine() != "x86_64":
        pytest.skip("no AVX2 here")
    assert native.simd == 1


def test_scalar_path_gives_the_same_hashes() -> None:
    """With SIMD switched off, the scalar BLAKE2b gives the same records and roots."""
    code = (
        "import hashlib, os\n"
        "from pywalrus.core.native import native\n"
        "assert native is not None and native.simd == 0\n"
        "data = os.urandom(300 * 9)\n"
        "expected = b''.join(hashlib.blake2b(b'\\x00' + data[i:i + 300], digest_size=32).digest()"
        " for i in range(0, len(data), 300))\n"
        "assert native.hash_records(data, 300, 0) == expected\n"
    )
    env = {**os.environ, "PYWALRUS_NO_SIMD": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8, 9, 13, 17, 100, 1000])
def test_merkle_roots_match_python_levels(width: int) -> None:
    leaves = np.frombuffer(os.urandom(3 * width * 32), dtype=np.uint8).reshape(3, width, 32)
    fast = merkle.merkle_roots(leaves)
    slow = np.stack([merkle.merkle_levels(leaves[i : i + 1])[-1][0, 0] for i in range(3)])
    assert np.array_equal(fast, slow)
    tree = merkle.MerkleTree(leaves[1])
    assert tree.root == fast[1].tobytes()


@pytest.mark.parametrize("symbol_size", [2, 6, 62, 64, 66, 126, 128, 302, 1000])
def test_layout_round_trip_and_matches_numpy(symbol_size: int) -> None:
    symbols = np.frombuffer(os.urandom(7 * symbol_size), dtype=np.uint8).reshape(7, symbol_size)
    padded = reed_solomon.to_codec_layout(symbols)
    assert padded.shape[1] == reed_solomon.padded_symbol_size(symbol_size)
    assert np.array_equal(reed_solomon.from_codec_layout(padded, symbol_size), symbols)
    # Per-symbol encoding with the codec agrees with the batched layout.
    source = symbols[:3].reshape(3, 1, symbol_size)
    batched = reed_solomon.encode_recovery(source, 7)
    import reed_solomon_leopard

    single = reed_solomon_leopard.encode([bytes(symbols[i]) for i in range(3)], 4)
    assert [bytes(batched[i, 0]) for i in range(4)] == single


def test_native_errors() -> None:
    assert native is not None
    with pytest.raises(ValueError):
        native.hash_records(b"abc", 2, 0)
    with pytest.raises(ValueError):
        native.merkle_roots(b"\x00" * 33, 1, 1)
    with pytest.raises(ValueError):
        native.to_layout(b"abc", 3)


def test_pure_python_path_gives_the_same_blob_id() -> None:
    blob = random.Random(3).randbytes(50_000)
    code = (
        "import sys, random\n"
        "from pywalrus.core.native import native\n"
        "assert native is None\n"
        "from pywalrus.core.config import EncodingConfig\n"
        "from pywalrus.core.encoding import encode_blob\n"
        "print(encode_blob(sys.stdin.buffer.read(), EncodingConfig(31)).blob_id)\n"
    )
    env = {**os.environ, "PYWALRUS_NO_NATIVE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=blob,
        capture_output=True,
        env=env,
        timeout=120,
        check=True,
    )
    from pywalrus.core.config import EncodingConfig
    from pywalrus.core.encoding import encode_blob

    assert result.stdout.decode().strip() == str(encode_blob(blob, EncodingConfig(31)).blob_id)
