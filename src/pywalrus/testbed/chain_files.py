"""Writing a chain's configuration, key and genesis files into a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pywalrus.core.accounts import Account


def write_chain_files(
    directory: Path,
    chain_id: str,
    port: int,
    genesis: dict[str, Any],
    chain_key: Account,
    manual_clock: bool = False,
    faucet: bool = True,
) -> Path:
    """Write `chain.yaml`, `chain.key` and `genesis.yaml`; returns the config path."""
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "chain.key"
    key_file.write_text(chain_key.to_keystore() + "\n")
    key_file.chmod(0o600)
    (directory / "genesis.yaml").write_text(yaml.safe_dump(genesis, sort_keys=False))
    config = {
        "chain_id": chain_id,
        "host": "127.0.0.1",
        "port": port,
        "data_dir": "chain-data",
        "key_file": "chain.key",
        "genesis_file": "genesis.yaml",
        "manual_clock": manual_clock,
        "faucet": faucet,
    }
    path = directory / "chain.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
