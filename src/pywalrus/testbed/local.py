"""A local network in one directory: `walrus testbed up|status|down --dir D`.

`up` writes a genesis (committee, stakes, funded wallets), keys and configs, starts the chain,
the storage nodes and (unless told not to) a client daemon (aggregator and publisher, with a
wallet of its own) as background processes, waits until they are healthy and writes
`client_config.yaml`, so every other verb works against the network. Run again on an existing
directory, it restarts what is not running and keeps all data. Process IDs live in
`D/pids/NAME.pid`, logs in `D/logs/NAME.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pywalrus.chain.client import ChainClient
from pywalrus.chain.schema import STORAGE_NODE_CAP
from pywalrus.chain.wallet import Wallet
from pywalrus.client.config import write_client_config
from pywalrus.core.accounts import Account
from pywalrus.core.errors import TestbedError, WalrusError
from pywalrus.testbed.chain_files import write_chain_files
from pywalrus.testbed.genesis import generate_nodes, make_genesis
from pywalrus.testbed.ports import free_ports
from pywalrus.testbed.process import http_ok, session_processes, start_walrus, wait_until_healthy

STATE = "testbed.yaml"


@dataclass(frozen=True)
class Member:
    """One process of the testbed."""

    name: str
    """`chain`, `node-i` or `daemon`."""
    role: str
    """`chain`, `node` or `daemon` (the `walrus` verb that runs it)."""
    config: str
    """Config path relative to the testbed directory."""
    url: str
    """Base URL of its HTTP API."""
    health_path: str
    """Path that answers 2xx when healthy."""
    args: tuple[str, ...] = ()
    """More arguments of its verb."""

    def to_state(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["args"] = list(self.args)
        return state


def existing_layout(directory: Path) -> dict[str, Any] | None:
    """The node and shard counts of the network already in `directory`, if there is one."""
    try:
        state = yaml.safe_load((directory / STATE).read_text())
    except (OSError, yaml.YAMLError):
        return None
    return {"nodes": state.get("nodes"), "shards": state.get("shards")}


def check_directory(directory: Path) -> None:
    """Create `directory` if needed; a `TestbedError` naming why it cannot hold a testbed."""
    if directory.exists() and not directory.is_dir():
        raise TestbedError(f"testbed directory '{directory}' is a file, not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TestbedError(
            f"cannot create the testbed directory '{directory}': {exc.strerror}"
        ) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise TestbedError(f"testbed directory '{directory}' is not writable")


def _pid_file(directory: Path, name: str) -> Path:
    return directory / "pids" / f"{name}.pid"


def running_pid(directory: Path, name: str) -> int | None:
    path = _pid_file(directory, name)
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().split()
        if stat[2] == "Z":
            return None
    except OSError:
        pass
    return pid


def load_members(directory: Path) -> list[Member]:
    state = yaml.safe_load((directory / STATE).read_text())
    return [Member(**{**m, "args": tuple(m.get("args", ()))}) for m in state["members"]]


def start_member(directory: Path, member: Member) -> None:
    """Start one member's process in the background."""
    process = start_walrus(
        [member.role, "--config", str(directory / member.config), *member.args],
        directory / "logs" / f"{member.name}.log",
    )
    _pid_file(directory, member.name).parent.mkdir(exist_ok=True)
    _pid_file(directory, member.name).write_text(str(process.pid))


def create(
    directory: Path,
    nodes: int,
    shards: int,
    epoch_duration_ms: int,
    manual_clock: bool = False,
    daemon: bool = True,
) -> None:
    """Write keys, genesis and configs for a new testbed in `directory`."""
    check_directory(directory)
    chain_port, daemon_port, metrics_port, *node_ports = free_ports(3 + nodes)
    identities = generate_nodes(nodes, node_ports)
    client = Account.generate()
    Wallet.create(directory / "wallet.keystore", client)
    daemon_account = Account.generate()
    chain_key = Account.generate()
    genesis = make_genesis(
        identities, shards, epoch_duration_ms, [client, *([daemon_account] if daemon else [])]
    )
    write_chain_files(
        directory / "chain", "pywalrus-local", chain_port, genesis, chain_key, manual_clock
    )
    chain_url = f"http://127.0.0.1:{chain_port}/"
    members = [Member("chain", "chain", "chain/chain.yaml", chain_url, "health")]
    for identity, port in zip(identities, node_ports, strict=True):
        node_dir = directory / "nodes" / identity.name
        node_dir.mkdir(parents=True, exist_ok=True)
        (node_dir / "protocol.key").write_text(identity.protocol_key.to_base64() + "\n")
        (node_dir / "protocol.key").chmod(0o600)
        Wallet.create(node_dir / "wallet.keystore", identity.operator)
        config = {
            "name": identity.name,
            "node_id": None,
            "host": "127.0.0.1",
            "port": port,
            "data_dir": "data",
            "protocol_key_file": "protocol.key",
            "wallet_file": "wallet.keystore",
            "chain_url": chain_url,
            "operator": identity.operator.address,
        }
        (node_dir / "node.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        members.append(
            Member(
                identity.name,
                "node",
                f"nodes/{identity.name}/node.yaml",
                f"http://127.0.0.1:{port}/",
                "v1/health",
            )
        )
    # The wallet by its absolute path: a copy of the config (to ~/.walrus/) keeps working.
    write_client_config(
        directory / "client_config.yaml",
        chain_url,
        chain_key.address,
        str((directory / "wallet.keystore").resolve()),
    )
    if daemon:
        members.append(
            _daemon_member(
                directory, chain_url, chain_key.address, daemon_account, daemon_port, metrics_port
            )
        )
    state = {"members": [m.to_state() for m in members], "nodes": nodes, "shards": shards}
    (directory / STATE).write_text(yaml.safe_dump(state, sort_keys=False))


def _daemon_member(
    directory: Path,
    chain_url: str,
    chain_address: str,
    account: Account,
    port: int,
    metrics_port: int,
) -> Member:
    """The client daemon: its own funded wallet and client config in `daemon/`, so that its
    publisher's transactions never race the default client's."""
    daemon_dir = directory / "daemon"
    daemon_dir.mkdir(parents=True, exist_ok=True)
    Wallet.create(daemon_dir / "wallet.keystore", account)
    write_client_config(
        daemon_dir / "client_config.yaml",
        chain_url,
        chain_address,
        str((daemon_dir / "wallet.keystore").resolve()),
    )
    return Member(
        "daemon",
        "daemon",
        "daemon/client_config.yaml",
        f"http://127.0.0.1:{port}/",
        "status",
        (
            "--bind-address",
            f"127.0.0.1:{port}",
            "--metrics-address",
            f"127.0.0.1:{metrics_port}",
        ),
    )


async def fill_node_ids(directory: Path, members: list[Member]) -> None:
    """Look up each node's pool ID on chain (by its operator's cap) into its config."""
    chain = members[0]
    async with ChainClient(chain.url) as client:
        for member in members:
            if member.role != "node":
                continue
            path = directory / member.config
            config: dict[str, Any] = yaml.safe_load(path.read_text())
            if config.get("node_id"):
                continue
            caps = await client.owned_objects(config["operator"], STORAGE_NODE_CAP)
            if not caps:
                raise WalrusError(f"no node registered on chain for {member.name}")
            config["node_id"] = caps[0].fields["node_id"]
            path.write_text(yaml.safe_dump(config, sort_keys=False))


def up(
    directory: Path,
    nodes: int = 7,
    shards: int = 100,
    epoch_duration_ms: int = 300_000,
    timeout: float = 60.0,
    manual_clock: bool = False,
    daemon: bool = True,
) -> list[Member]:
    """Create (if needed) and start every process that is not running; wait for health.

    An existing testbed keeps its layout: `nodes` and `shards` only shape a new one, and
    `daemon` (whether it has a client daemon) too, except that `daemon=False` leaves an
    existing daemon stopped. The daemon starts after the nodes are healthy.
    """
    check_directory(directory)
    if not (directory / STATE).exists():
        create(directory, nodes, shards, epoch_duration_ms, manual_clock, daemon)
    members = load_members(directory)
    chain = members[0]
    if running_pid(directory, chain.name) is None:
        start_member(directory, chain)
    wait_until_healthy(chain.url + chain.health_path, timeout)
    asyncio.run(fill_node_ids(directory, members))
    for stage in ("node", "daemon"):
        started = [m for m in members if m.role == stage and (daemon or stage != "daemon")]
        for member in started:
            if running_pid(directory, member.name) is None:
                start_member(directory, member)
        for member in started:
            wait_until_healthy(member.url + member.health_path, timeout)
    return members


def status(directory: Path) -> list[dict[str, Any]]:
    """Each process with its pid, role, URL and health."""
    if not (directory / STATE).exists():
        raise WalrusError(f"no testbed in {directory}")
    out = []
    for member in load_members(directory):
        pid = running_pid(directory, member.name)
        out.append(
            {
                "name": member.name,
                "role": member.role,
                "pid": pid,
                "url": member.url,
                "running": pid is not None,
                "healthy": pid is not None and http_ok(member.url + member.health_path, 1.0),
                "log": str(directory / "logs" / f"{member.name}.log"),
            }
        )
    return out


def stop_member(
    directory: Path, name: str, sig: int = signal.SIGTERM, timeout: float = 10.0
) -> None:
    pid = running_pid(directory, name)
    if pid is None:
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(directory, name) is not None:
        time.sleep(0.05)
    if running_pid(directory, name) is not None:
        os.kill(pid, signal.SIGKILL)
    # Helpers it started (the chain's precheck workers) leave with it; whatever is still in
    # its session after that is an orphan.
    for leftover in session_processes(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(leftover, signal.SIGKILL)


def down(directory: Path) -> int:
    """Stop every process (nodes first); returns how many were running."""
    if not (directory / STATE).exists():
        raise WalrusError(f"no testbed in {directory}")
    members = load_members(directory)
    stopped = 0
    for member in reversed(members):
        if running_pid(directory, member.name) is not None:
            stop_member(directory, member.name)
            stopped += 1
    return stopped
