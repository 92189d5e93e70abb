"""Storage node configuration (`walrus node --config node.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pywalrus.core.errors import ConfigError
from pywalrus.node.faults import Faults
from pywalrus.node.limits import NodeLimits


@dataclass(frozen=True)
class NodeConfig:
    """Everything a storage node process needs; paths are relative to the config file."""

    name: str
    """Human-readable name."""
    node_id: str
    """0x-hex ID of the node's staking pool on chain."""
    host: str
    """REST API listen host."""
    port: int
    """REST API listen port."""
    data_dir: Path
    """Directory of the LMDB database."""
    protocol_key_file: Path
    """BLS key (base64 of 0x04 ‖ secret) that signs confirmations."""
    wallet_file: Path
    """Keystore of the operator account (pays the node's transactions)."""
    chain_url: str
    """JSON-RPC URL of the chain."""
    max_pending_ms: int = 30_000
    """How long metadata and slivers uploaded before their registration are buffered."""
    confirmation_wait_ms: int = 5_000
    """Cap on how long a confirmation request waits for the blob's registration."""
    lmdb_map_size: int = 1 << 36
    """LMDB map size (a sparse upper bound on the database)."""
    scrub_interval_ms: int = 3_600_000
    """A scrub pass (every stored sliver checked against its checksum) starts this often (or
    when the last one ends, if it took longer); the first one this long after start-up."""
    scrub_bytes_per_s: int = 16 << 20
    """The most sliver bytes per second the scrub reads."""
    limits: NodeLimits = field(default_factory=NodeLimits)
    """Bounds on connections, request bodies and buffered uploads (`limits:` mapping; every
    key optional: `idle_timeout_s`, `body_timeout_s`, `min_body_rate`, `max_connections`,
    `max_connections_per_address`, `max_upload_bytes`, `max_upload_bytes_per_address`,
    `max_pending_bytes`, `max_pending_bytes_per_address`; see `pywalrus.node.limits`)."""
    faults: Faults = field(default_factory=Faults)
    """Test-only misbehaviour (`faults:`, a list of names: `corrupt_slivers` (also in
    `sync_shard` answers), `corrupt_metadata`, `bad_signatures`, `crash_after_sync_page`,
    `no_batch_route`, `no_gc`; see `pywalrus.node.faults`). An unknown name is a config
    error."""

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        """Read and check a `node.yaml`; `ConfigError` (one line) if it cannot be used."""
        try:
            raw: dict[str, Any] = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read node config {path}: {exc}") from None
        base = path.parent
        try:
            return cls(
                name=str(raw["name"]),
                node_id=str(raw["node_id"]),
                host=str(raw.get("host", "127.0.0.1")),
                port=int(raw["port"]),
                data_dir=base / raw.get("data_dir", "data"),
                protocol_key_file=base / raw["protocol_key_file"],
                wallet_file=base / raw["wallet_file"],
                chain_url=str(raw["chain_url"]),
                max_pending_ms=int(raw.get("max_pending_ms", 30_000)),
                confirmation_wait_ms=int(raw.get("confirmation_wait_ms", 5_000)),
                lmdb_map_size=int(raw.get("lmdb_map_size", 1 << 36)),
                scrub_interval_ms=_positive(raw, "scrub_interval_ms", 3_600_000),
                scrub_bytes_per_s=_positive(raw, "scrub_bytes_per_s", 16 << 20),
                limits=NodeLimits.from_config(raw.get("limits")),
                faults=_faults(raw.get("faults")),
            )
        except ConfigError as exc:
            raise ConfigError(f"invalid node config {path}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"invalid node config {path}: missing or bad {exc}") from None


def _positive(raw: dict[str, Any], key: str, default: int) -> int:
    value = int(raw.get(key, default))
    if value <= 0:
        raise ValueError(key)
    return value


def _faults(value: object) -> Faults:
    if value is None:
        return Faults()
    if not isinstance(value, list):
        raise ConfigError("faults must be a list of fault names")
    return Faults.parse(value)
