"""Shared test helpers."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hypothesis import settings

# CI runs the same examples every time (no flaky reds); locally hypothesis explores freely.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

DATA = Path(__file__).parent / "data"


def seeded_bytes(seed: str, length: int) -> bytes:
    """The conformance input: blake2b512(seed ‖ u64_le(j)) for j = 0, 1, … truncated."""
    parts = []
    total = 0
    j = 0
    while total < length:
        block = hashlib.blake2b(seed.encode() + j.to_bytes(8, "little"), digest_size=64).digest()
        parts.append(block)
        total += len(block)
        j += 1
    return b"".join(parts)[:length]


def conformance_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((DATA / "redstuff-rs2-vectors.json").read_text())
    return cases
