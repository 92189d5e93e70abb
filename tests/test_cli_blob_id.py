"""`walrus blob-id`, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from testbed_harness import walrus_text

KNOWN = b"walrus blob id v1 regression test"
KNOWN_ID = "RcU82Mwf-CFkv1LaI_2qcpANwpGUuG3TMwnVzZxD2kY"


walrus = walrus_text


@pytest.fixture
def known_file(tmp_path: Path) -> Path:
    path = tmp_path / "known.txt"
    path.write_bytes(KNOWN)
    return path


def test_text_output_matches_upstream(known_file: Path) -> None:
    result = walrus("blob-id", str(known_file), "--n-shards", "10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Success: Blob from file '{known_file}' encoded successfully.",
        "Unencoded size: 33",
        f"Blob ID: {KNOWN_ID}",
        "Encoding type: RS2",
    ]


@pytest.mark.parametrize("position", ["before", "after"])
def test_json_output(known_file: Path, position: str) -> None:
    args = ["blob-id", str(known_file), "--n-shards", "10"]
    args = ["--json", *args] if position == "before" else [*args, "--json"]
    result = walrus(*args)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["blobId"] == KNOWN_ID
    assert out["unencodedLength"] == 33
    assert out["nShards"] == 10
    assert out["symbolSize"] == 2
    # n(64n + 32) + n(R + C)s with R = 4, C = 7.
    assert out["encodedLength"] == 10 * (640 + 32) + 10 * 11 * 2
    assert len(bytes.fromhex(out["rootHash"])) == 32
    assert out["encodingType"] == "RS2"


def _one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    assert needle in lines[0]


def test_errors(tmp_path: Path, known_file: Path) -> None:
    _one_line_error(
        walrus("blob-id", str(tmp_path / "missing"), "--n-shards", "10"), "does not exist"
    )
    _one_line_error(walrus("blob-id", str(tmp_path), "--n-shards", "10"), "is a directory")
    _one_line_error(
        walrus("blob-id", str(known_file / "inside"), "--n-shards", "10"), "cannot be read"
    )
    _one_line_error(walrus("blob-id", str(known_file), "--n-shards", "3"), "number of shards")
    _one_line_error(walrus("blob-id", str(known_file), "--n-shards", "70000"), "number of shards")
    _one_line_error(walrus("blob-id", str(known_file), "--n-shards", "ten"), "--n-shards")
    # Without --n-shards the count comes from the chain, which needs a client config.
    alone = {k: v for k, v in os.environ.items() if k not in ("WALRUS_CONFIG", "XDG_CONFIG_HOME")}
    alone["HOME"] = str(tmp_path)
    _one_line_error(
        walrus("blob-id", str(known_file), env={**alone, "PWD": str(tmp_path)}),
        "no client config found",
    )
    _one_line_error(walrus("blob-id", str(known_file), "--n-shards", "4", "--bogus"), "--bogus")
    big = tmp_path / "big"
    big.write_bytes(bytes(393_205))  # one byte past the maximum for n = 4
    _one_line_error(walrus("blob-id", str(big), "--n-shards", "4"), "maximum blob size")
    assert walrus("blob-id", str(big), "--n-shards", "7").returncode == 0
