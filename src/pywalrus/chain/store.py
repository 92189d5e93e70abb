"""Durable storage of the ledger in SQLite.

One SQLite transaction per executed chain transaction: objects, account nonces and gas, the
transaction, its events and its checkpoint are written together or not at all. The database
runs in WAL mode with `synchronous=FULL`, so a transaction acknowledged to a client survives
a crash of the process.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pywalrus.chain.checkpoints import Checkpoint
from pywalrus.chain.objects import Event, Object
from pywalrus.core.jsoncodec import dumps

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, owner TEXT NOT NULL,
    version INTEGER NOT NULL, fields TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS objects_owner ON objects (owner, type);
CREATE INDEX IF NOT EXISTS objects_type ON objects (type);
CREATE TABLE IF NOT EXISTS accounts (
    address TEXT PRIMARY KEY, nonce INTEGER NOT NULL, gas INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS transactions (
    seq INTEGER PRIMARY KEY, digest TEXT UNIQUE NOT NULL, sender TEXT NOT NULL,
    body TEXT NOT NULL, effects TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, tx_digest TEXT NOT NULL, event_index INTEGER NOT NULL,
    type TEXT NOT NULL, fields TEXT NOT NULL, checkpoint INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_type ON events (type, seq);
CREATE TABLE IF NOT EXISTS event_objects (
    object_id TEXT NOT NULL, event_seq INTEGER NOT NULL, PRIMARY KEY (object_id, event_seq));
CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Commit:
    """Everything one executed transaction changes."""

    seq: int
    """Transaction sequence number (= checkpoint sequence)."""
    tx_digest: str
    """Digest of the transaction."""
    sender: str
    """Its sender."""
    body: dict[str, Any]
    """The signed transaction as JSON."""
    effects: dict[str, Any]
    """Created, mutated and deleted objects, returned values, fee."""
    written: list[Object]
    """Objects created or changed (with their new version)."""
    deleted: list[str]
    """IDs of deleted objects."""
    accounts: dict[str, tuple[int, int]]
    """Address → (nonce, gas balance) after the transaction."""
    events: list[Event]
    """Events in order."""
    event_objects: list[tuple[str, int]]
    """(object ID, event seq) pairs for querying events by object."""
    checkpoint: Checkpoint
    """The signed checkpoint sealing it."""
    meta: dict[str, str]
    """Meta keys to set."""


class ChainStore:
    """The SQLite database of one chain."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._in_batch = False

    def close(self) -> None:
        self._db.close()

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def object(self, object_id: str) -> Object | None:
        row = self._db.execute(
            "SELECT id, type, owner, version, fields FROM objects WHERE id = ?", (object_id,)
        ).fetchone()
        return None if row is None else _object(row)

    def objects_owned_by(self, owner: str, type_: str | None = None) -> list[Object]:
        if type_ is None:
            rows = self._db.execute(
                "SELECT id, type, owner, version, fields FROM objects WHERE owner = ? ORDER BY id",
                (owner,),
            )
        else:
            rows = self._db.execute(
                "SELECT id, type, owner, version, fields FROM objects "
                "WHERE owner = ? AND type = ? ORDER BY id",
                (owner, type_),
            )
        return [_object(r) for r in rows]

    def objects_of_type(self, type_: str) -> list[Object]:
        rows = self._db.execute(
            "SELECT id, type, owner, version, fields FROM objects WHERE type = ? ORDER BY id",
            (type_,),
        )
        return [_object(r) for r in rows]

    def account(self, address: str) -> tuple[int, int]:
        row = self._db.execute(
            "SELECT nonce, gas FROM accounts WHERE address = ?", (address,)
        ).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def transaction(self, digest: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT seq, body, effects FROM transactions WHERE digest = ?", (digest,)
        ).fetchone()
        if row is None:
            return None
        return {"seq": row[0], "transaction": json.loads(row[1]), "effects": json.loads(row[2])}

    def tx_count(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM transactions").fetchone()
        return int(row[0])

    def event_count(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(seq) + 1, 0) FROM events").fetchone()
        return int(row[0])

    def events(
        self,
        after: int,
        limit: int,
        types: Iterable[str] = (),
        object_id: str | None = None,
    ) -> list[Event]:
        """Events with cursor > `after`, in order, optionally filtered."""
        sql = (
            "SELECT e.seq, e.tx_digest, e.event_index, e.type, e.fields, e.checkpoint, "
            "e.timestamp_ms FROM events e"
        )
        params: list[Any] = []
        where = ["e.seq > ?"]
        params.append(after)
        if object_id is not None:
            sql += " JOIN event_objects o ON o.event_seq = e.seq"
            where.append("o.object_id = ?")
            params.append(object_id)
        type_list = list(types)
        if type_list:
            where.append(f"e.type IN ({','.join('?' * len(type_list))})")
            params.extend(type_list)
        sql += " WHERE " + " AND ".join(where) + " ORDER BY e.seq LIMIT ?"
        params.append(limit)
        return [
            Event(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6])
            for r in self._db.execute(sql, params)
        ]

    def checkpoint(self, seq: int) -> Checkpoint | None:
        row = self._db.execute("SELECT body FROM checkpoints WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else Checkpoint.from_json(json.loads(row[0]))

    def latest_checkpoint(self) -> Checkpoint | None:
        row = self._db.execute("SELECT body FROM checkpoints ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else Checkpoint.from_json(json.loads(row[0]))

    def begin(self) -> None:
        """Open a batch: later `commit`s join one SQLite transaction until `end`."""
        self._db.execute("BEGIN IMMEDIATE")
        self._in_batch = True

    def end(self) -> None:
        """Make the batch durable (one fsync for all its transactions)."""
        self._in_batch = False
        self._db.execute("COMMIT")

    def abort(self) -> None:
        self._in_batch = False
        self._db.execute("ROLLBACK")

    def commit(self, commit: Commit) -> None:
        """Write one transaction's effects atomically and durably (or into the open batch)."""
        if self._in_batch:
            # Its own savepoint: a transaction that cannot be written leaves no half of it in
            # the batch, and the others of the batch are unaffected.
            self._db.execute("SAVEPOINT tx")
            try:
                self._write(commit)
            except BaseException:
                self._db.execute("ROLLBACK TO tx")
                raise
            finally:
                self._db.execute("RELEASE tx")
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._write(commit)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def _write(self, commit: Commit) -> None:
        db = self._db
        db.executemany(
            "INSERT OR REPLACE INTO objects (id, type, owner, version, fields) "
            "VALUES (?, ?, ?, ?, ?)",
            [(o.id, o.type, o.owner, o.version, dumps(o.fields)) for o in commit.written],
        )
        db.executemany("DELETE FROM objects WHERE id = ?", [(i,) for i in commit.deleted])
        db.executemany(
            "INSERT OR REPLACE INTO accounts (address, nonce, gas) VALUES (?, ?, ?)",
            [(a, n, g) for a, (n, g) in commit.accounts.items()],
        )
        db.execute(
            "INSERT INTO transactions (seq, digest, sender, body, effects) VALUES (?, ?, ?, ?, ?)",
            (
                commit.seq,
                commit.tx_digest,
                commit.sender,
                dumps(commit.body),
                dumps(commit.effects),
            ),
        )
        db.executemany(
            "INSERT INTO events (seq, tx_digest, event_index, type, fields, checkpoint, "
            "timestamp_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    e.seq,
                    e.tx_digest,
                    e.event_index,
                    e.type,
                    dumps(e.fields),
                    e.checkpoint,
                    e.timestamp_ms,
                )
                for e in commit.events
            ],
        )
        db.executemany(
            "INSERT OR IGNORE INTO event_objects (object_id, event_seq) VALUES (?, ?)",
            commit.event_objects,
        )
        db.execute(
            "INSERT INTO checkpoints (seq, body) VALUES (?, ?)",
            (commit.checkpoint.sequence, dumps(commit.checkpoint.to_json())),
        )
        db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(commit.meta.items())
        )


def _object(row: tuple[Any, ...]) -> Object:
    return Object(row[0], row[1], row[2], row[3], json.loads(row[4]))
