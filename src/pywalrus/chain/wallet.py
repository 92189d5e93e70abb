"""A wallet: the accounts of a Sui-style keystore, a JSON list of base64 `flag ‖ private key`
entries, the first being the active address.

It belongs to the chain's client side: the SDK, the CLI and storage nodes (their operator
account) all sign transactions with a wallet's accounts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pywalrus.core.accounts import Account
from pywalrus.core.errors import ConfigError


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
