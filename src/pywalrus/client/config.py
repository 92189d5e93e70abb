"""Client configuration (`client_config.yaml`) and the wallet it points to.

Without `--config`, the configuration is `$WALRUS_CONFIG` (which must then exist), else the
first of `client_config.yaml` and `client_config.yml` found in `./`,
`$XDG_CONFIG_HOME/walrus/`, `~/.config/walrus/` and `~/.walrus/`, as upstream looks. A file
may hold one configuration or several under `contexts:` with a `default_context:`, as
upstream's multi-context files. Paths inside it (the wallet) resolve relative to the file, and
`~` to the home directory, so a configuration works from any working directory.
The wallet it names is a `pywalrus.chain.wallet.Wallet`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pywalrus.chain.wallet import Wallet
from pywalrus.core.errors import ConfigError

CONFIG_ENV = "WALRUS_CONFIG"
CONFIG_NAME = "client_config.yaml"
CONFIG_NAMES = (CONFIG_NAME, "client_config.yml")


def config_candidates() -> list[Path]:
    """Where a configuration is looked for, in order (without `--config` and the variable)."""
    directories = [Path.cwd()]
    if os.environ.get("XDG_CONFIG_HOME"):
        directories.append(Path(os.environ["XDG_CONFIG_HOME"]) / "walrus")
    home = Path.home()
    directories += [home / ".config" / "walrus", home / ".walrus"]
    return [directory / name for directory in directories for name in CONFIG_NAMES]


def find_config(explicit: Path | None = None) -> Path:
    """The configuration file to use, or a `ConfigError` naming where it was looked for."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"client config '{explicit}' does not exist")
        return explicit
    named = os.environ.get(CONFIG_ENV)
    if named:
        if not Path(named).is_file():
            raise ConfigError(f"client config '{named}' (from ${CONFIG_ENV}) does not exist")
        return Path(named)
    for candidate in config_candidates():
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in config_candidates())
    raise ConfigError(f"no client config found (use --config or ${CONFIG_ENV}; looked in {looked})")


def _select_context(raw: Any, path: Path, context: str | None) -> Any:
    """The configuration of `context` (or the default one) in a multi-context file."""
    if not isinstance(raw, dict) or "contexts" not in raw:
        if context is not None:
            raise ConfigError(
                f"client config {path} has a single context; --context {context} cannot apply"
            )
        return raw
    contexts = raw["contexts"]
    chosen = context if context is not None else raw.get("default_context")
    if not isinstance(contexts, dict) or not contexts:
        raise ConfigError(f"client config {path}: contexts must map names to configurations")
    if chosen is None:
        raise ConfigError(f"client config {path} has contexts but no default_context")
    if chosen not in contexts:
        names = ", ".join(sorted(map(str, contexts)))
        raise ConfigError(f"client config {path} has no context {chosen!r} (it has: {names})")
    return contexts[chosen]


def _resolve(base: Path, value: str) -> Path:
    return (base / Path(value).expanduser()).resolve()


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
    def load(cls, path: Path, context: str | None = None) -> ClientConfig:
        """Read `path` (the configuration of `context` in a multi-context file)."""
        try:
            raw = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read client config {path}: {exc}") from None
        raw = _select_context(raw, path, context)
        if not isinstance(raw, dict) or not isinstance(raw.get("chain_url"), str):
            raise ConfigError(f"client config {path} needs a chain_url")
        wallet = raw.get("wallet", "wallet.keystore")
        base = path.parent.resolve()
        return cls(
            chain_url=raw["chain_url"],
            chain_address=raw.get("chain_address"),
            wallet_path=_resolve(base, str(wallet)),
            path=path,
            extra={
                k: v for k, v in raw.items() if k not in ("chain_url", "chain_address", "wallet")
            },
        )

    def with_wallet(self, wallet: Path) -> ClientConfig:
        """This configuration with another wallet (`--wallet`, relative to the working
        directory)."""
        return dataclasses.replace(self, wallet_path=wallet.expanduser().resolve())

    def wallet(self) -> Wallet:
        return Wallet.load(self.wallet_path)


def write_client_config(
    path: Path, chain_url: str, chain_address: str | None, wallet: str, **extra: Any
) -> None:
    """Write a client configuration file."""
    body = {"chain_url": chain_url, "chain_address": chain_address, "wallet": wallet, **extra}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
