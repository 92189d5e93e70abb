"""Running the chain as a process: `walrus chain --config chain.yaml`.

The configuration names the chain ID, the listen address, the data directory, the chain key
(a Sui keystore entry), the genesis file, and whether the clock is manual and the faucet open.
On first start the genesis transaction runs; on every later start the ledger continues from
its database.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from pywalrus.chain.contracts.staking import STAKING, epoch_actions_due
from pywalrus.chain.contracts.system import ACCOUNTING, SYSTEM, needs_accounting_migration
from pywalrus.chain.ledger import Clock, Ledger
from pywalrus.chain.server import ChainServer
from pywalrus.chain.tx import Call
from pywalrus.core.accounts import Account
from pywalrus.core.errors import TransactionRejected, WalrusError
from pywalrus.runtime import run_service, until_terminated

log = logging.getLogger("pywalrus.chain")


@dataclass(frozen=True)
class ChainConfig:
    """The chain process' configuration file."""

    chain_id: str
    """Name of the chain; transactions are bound to it."""
    host: str
    """Listen host (127.0.0.1 by default)."""
    port: int
    """Listen port."""
    data_dir: Path
    """Where the SQLite database lives."""
    key_file: Path
    """The chain key (base64 Sui keystore entry) that signs checkpoints."""
    genesis_file: Path
    """YAML genesis configuration, used on first start."""
    manual_clock: bool
    """Tests drive the clock through `chain_advanceClock` instead of wall time."""
    faucet: bool
    """Whether `chain_faucet` hands out WAL and gas (local networks)."""

    @classmethod
    def load(cls, path: Path) -> ChainConfig:
        try:
            raw: dict[str, Any] = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise WalrusError(f"cannot read chain config {path}: {exc}") from None
        base = path.parent
        try:
            return cls(
                chain_id=str(raw["chain_id"]),
                host=str(raw.get("host", "127.0.0.1")),
                port=int(raw["port"]),
                data_dir=base / raw.get("data_dir", "chain-data"),
                key_file=base / raw["key_file"],
                genesis_file=base / raw["genesis_file"],
                manual_clock=bool(raw.get("manual_clock", False)),
                faucet=bool(raw.get("faucet", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WalrusError(f"invalid chain config {path}: missing or bad {exc}") from None


def open_ledger(config: ChainConfig) -> Ledger:
    """Open (and on first start, create through genesis) the chain's ledger."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    key = Account.from_keystore(config.key_file.read_text().strip())
    ledger = Ledger(
        config.data_dir / "chain.sqlite", config.chain_id, key, Clock(config.manual_clock)
    )
    latest = ledger.store.latest_checkpoint()
    if latest is not None:
        ledger.clock.not_before(latest.timestamp_ms)
    if not ledger.is_initialized:
        genesis = yaml.safe_load(config.genesis_file.read_text())
        ledger.execute_system([Call("genesis::init", {"config": genesis})])
    elif needs_accounting_migration(ledger.singleton(SYSTEM), ledger.singleton_id(ACCOUNTING)):
        ledger.execute_system([Call("system::migrate_accounting")])
    return ledger


def tick(ledger: Ledger) -> None:
    """Run the permissionless epoch step that is due, if any."""
    staking = ledger.singleton(STAKING)
    due = epoch_actions_due(staking.fields, ledger.clock.now_ms())
    if due is not None:
        try:
            ledger.execute_system([Call(due)])
        except TransactionRejected as exc:
            log.warning("epoch step %s failed: %s", due, exc)


@dataclass
class RunningChain:
    """A started chain: its ledger and the aiohttp runner serving its JSON-RPC."""

    ledger: Ledger
    runner: web.AppRunner
    port: int
    """The port it listens on (the configured one, or the one chosen for port 0)."""

    async def stop(self) -> None:
        """Stop serving (long-polls released at once), then close the ledger."""
        await self.runner.cleanup()
        self.ledger.close()


async def start_chain(config: ChainConfig, precheck_workers: int = 2) -> RunningChain:
    """Open the ledger of `config` and serve it in the running event loop on
    `config.host`/`config.port`. `precheck_workers` processes check signatures ahead of the
    sequencer; with 0 everything is checked in this process (an in-process test network)."""
    ledger = open_ledger(config)
    server = ChainServer(
        ledger, faucet=config.faucet, tick=lambda: tick(ledger), precheck_workers=precheck_workers
    )
    runner = web.AppRunner(server.app(), access_log=None)
    try:
        await runner.setup()
        await web.TCPSite(runner, config.host, config.port).start()
    except BaseException:
        await runner.cleanup()
        ledger.close()
        raise
    return RunningChain(ledger, runner, runner.addresses[0][1])


async def serve(config: ChainConfig) -> None:
    """Run the chain of `config` until SIGINT or SIGTERM."""
    running = await start_chain(config)
    # The sequencer allocates many short-lived dicts per transaction; move what is alive now
    # out of the collector's way and collect the young generation less often.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    log.info("chain %s listening on http://%s:%d", config.chain_id, config.host, running.port)
    await until_terminated()
    await running.stop()


def run(config_path: Path) -> None:
    run_service(serve(ChainConfig.load(config_path)))
