"""Test-only misbehaviour of a storage node, named in `node.yaml` (`faults: [no_gc, …]`).

Each fault is one field of `Faults`, read at one hook point in the node's code: a node that
lies (corrupt slivers or metadata, bad signatures), crashes at a chosen moment, looks like an
upstream node (no batch routes), or keeps garbage. The names are checked when the config is
loaded, so that a misspelt fault is a config error rather than a node that silently behaves.
A new fault is a new field here (its docstring says where it acts) and one `if` at its hook.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

from pywalrus.core.errors import ConfigError


@dataclass(frozen=True)
class Faults:
    """Which faults are on (all off by default: an honest node)."""

    corrupt_slivers: bool = False
    """Slivers served to readers and in `sync_shard` answers have one byte changed."""
    corrupt_metadata: bool = False
    """Metadata served to readers has its last byte changed."""
    bad_signatures: bool = False
    """Storage confirmations are signed over another epoch's message."""
    crash_after_sync_page: bool = False
    """The process exits right after storing the first page of a shard transfer."""
    no_batch_route: bool = False
    """Only upstream's one-sliver routes are served (no `/v1/blobs/{id}/slivers`)."""
    no_gc: bool = False
    """Garbage is never collected: data of dead blobs stays on disk (still not served)."""

    @classmethod
    def known(cls) -> tuple[str, ...]:
        """Every fault's name, as written in `node.yaml`."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def parse(cls, names: Iterable[object]) -> Faults:
        """The faults named; `ConfigError` naming the first one that is not a fault."""
        known = cls.known()
        chosen = set()
        for name in names:
            if not isinstance(name, str) or name not in known:
                raise ConfigError(f"unknown fault {name!r} (known: {', '.join(known)})")
            chosen.add(name)
        return cls(**dict.fromkeys(chosen, True))

    def names(self) -> tuple[str, ...]:
        """The faults that are on, as `parse` reads them."""
        return tuple(name for name in self.known() if getattr(self, name))

    # Hook points that change bytes ---------------------------------------------------------

    def served_sliver(self, data: bytes) -> bytes:
        """A stored sliver (BCS) as served to a reader."""
        return _flip_last(data[:-4]) + data[-4:] if self.corrupt_slivers else data

    def served_metadata(self, data: bytes) -> bytes:
        """Stored metadata (BCS) as served to a reader."""
        return _flip_last(data) if self.corrupt_metadata else data

    def served_shard_page(self, page: bytes) -> bytes:
        """A `sync_shard` answer (BCS `SyncShardResponse`) as sent to the shard's new owner."""
        if not self.corrupt_slivers or len(page) <= 5:
            return page
        return page[:-5] + bytes([page[-5] ^ 0xFF]) + page[-4:]


def _flip_last(data: bytes) -> bytes:
    """The same bytes with the last one changed."""
    return data[:-1] + bytes([data[-1] ^ 0xFF]) if data else data
