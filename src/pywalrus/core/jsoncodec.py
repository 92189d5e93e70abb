"""Fast JSON encoding for the chain's storage, copies and responses.

`orjson` writes JSON about ten times faster than the standard library, which matters on the
chain's single sequencer thread (every transaction writes its objects, effects, events and
checkpoint as JSON). It refuses integers beyond 64 bits and non-string keys; those values fall
back to the standard library, so the output is always valid JSON for the same value.

Reading untrusted or stored text stays with the standard library: `orjson.loads` turns an
integer beyond 64 bits into a float. `copy` may use it only because its own `orjson.dumps`
just succeeded, which proves every integer fits.

Not for signed bytes: transactions are signed over `pywalrus.chain.tx.canonical_json`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON of a JSON value."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def dumps(value: Any) -> str:
    """Compact JSON text of a JSON value."""
    return dumps_bytes(value).decode()


def copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, strings, numbers, booleans, None)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return json.loads(json.dumps(value))
