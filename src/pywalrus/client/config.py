"""Client configuration (`client_config.yaml`) and the wallet it points to.

Without `--config`, the configuration is looked for in `$WALRUS_CONFIG`, then
`./client_config.yaml`, `$XDG_CONFIG_HOME/walrus/client_config.yaml`,
`~/.config/walrus/client_config.yaml` and `~/.walrus/client_config.yaml`, as upstream does.
The wallet is a Sui-style keystore: a JSON list of base64 `flag ‖ private key` entries, the
first being the active address.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pywalrus.core.accounts import Account
from pywalrus.core.errors import WalrusError

CONFIG_ENV = "WALRUS_CONFIG"
CONFIG_NAME = "client_config.yaml"


class ConfigError(WalrusError):
    """A missing or invalid client configuration or wallet."""


def config_candidates() -> list[Path]:
    candidates = []
    if os.environ.get(CONFIG_ENV):
        candidates.append(Path(os.environ[CONFIG_ENV]))
    candidates.append(Path.cwd() / CONFIG_NAME)
    if os.environ.get("XDG_CONFIG_HOME"):
        candidates.append(Path(os.environ["XDG_CONFIG_HOME"]) / "walrus" / CONFIG_NAME)
    home = Path.home()
    candidates += [home / ".config" / "walrus" / CONFIG_NAME, home / ".walrus" / CONFIG_NAME]
    return candidates


def find_config(explicit: Path | None = None) -> Path:
    """The configuration file to use, or a `ConfigError` naming where it was looked for."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"client config '{explicit}' does not exist")
        return explicit
    for candidate in config_candidates():
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in config_candidates())
    raise ConfigError(f"no client config found (use --config or ${CONFIG_ENV}; looked in {looked})")


@dataclass(frozen=True)
class ClientConfig:
    """What a client needs to reach a network."""

    chain_url: str
    """JSON-RPC URL of the chain."""
    chain_address: str | None
    """Address of the chain key, to verify checkpoints (optional)."""
    wallet_path: Path
    """The keystore file."""
    path: Path
    """Where this configuration was read from."""
    extra: dict[str, Any]
    """Other settings (upload concurrency, timeouts, …)."""

    @classmethod
    def load(cls, path: Path) -> ClientConfig:
        try:
            raw = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read client config {path}: {exc}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("chain_url"), str):
            raise ConfigError(f"client config {path} needs a chain_url")
        wallet = raw.get("wallet", "wallet.keystore")
        return cls(
            chain_url=raw["chain_url"],
            chain_address=raw.get("chain_address"),
            wallet_path=(path.parent / str(wallet)).resolve(),
            path=path,
            extra={
                k: v for k, v in raw.items() if k not in ("chain_url", "chain_address", "wallet")
            },
        )

    def wallet(self) -> Wallet:
        return Wallet.load(self.wallet_path)


@dataclass(frozen=True)
class Wallet:
    """The accounts of a keystore; the first is the active one."""

    accounts: tuple[Account, ...]
    """Keys in keystore order."""
    path: Path
    """The keystore file."""

    @property
    def active(self) -> Account:
        return self.accounts[0]

    @classmethod
    def load(cls, path: Path) -> Wallet:
        try:
            entries = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"wallet '{path}' does not exist") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read wallet '{path}': {exc}") from None
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"wallet '{path}' holds no keys")
        try:
            return cls(tuple(Account.from_keystore(e) for e in entries), path)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"wallet '{path}': {exc}") from None

    @classmethod
    def create(cls, path: Path, account: Account | None = None) -> Wallet:
        if path.exists():
            raise ConfigError(f"wallet '{path}' already exists")
        account = account or Account.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([account.to_keystore()]) + "\n")
        path.chmod(0o600)
        return cls((account,), path)


def write_client_config(
    path: Path, chain_url: str, chain_address: str | None, wallet: str, **extra: Any
) -> None:
    """Write a client configuration file."""
    body = {"chain_url": chain_url, "chain_address": chain_address, "wallet": wallet, **extra}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
