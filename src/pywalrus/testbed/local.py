"""A local network in one directory: `walrus testbed up|status|down --dir D`.

`up` writes a genesis (committee, stakes, funded wallets), keys and configs, starts the chain
and the storage nodes as background processes, waits until they are healthy and writes
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
    """`chain` or `node-i`."""
    role: str
    """`chain` or `node`."""
    config: str
    """Config path relative to the testbed directory."""
    url: str
    """Base URL of its HTTP API."""
    health_path: str
    """Path that answers 2xx when healthy."""


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
    return [Member(**m) for m in state["members"]]


def start_member(directory: Path, member: Member) -> None:
    """Start one member's process in the background."""
    process = start_walrus(
        [member.role, "--config", str(directory / member.config)],
        directory / "logs" / f"{member.name}.log",
    )
    _pid_file(directory, member.name).parent.mkdir(exist_ok=True)
    _pid_file(directory, member.name).write_text(str(process.pid))


def create(
    directory: Path, nodes: int, shards: int, epoch_duration_ms: int, manual_clock: bool = False
) -> None:
    """Write keys, genesis and configs for a new testbed in `directory`."""
    check_directory(directory)
    chain_port, *node_ports = free_ports(1 + nodes)
    identities = generate_nodes(nodes, node_ports)
    client = Account.generate()
    Wallet.create(directory / "wallet.keystore", client)
    chain_key = Account.generate()
    genesis = make_genesis(identities, shards, epoch_duration_ms, [client])
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
    state = {"members": [m.__dict__ for m in members], "nodes": nodes, "shards": shards}
    (directory / STATE).write_text(yaml.safe_dump(state, sort_keys=False))


async def _fill_node_ids(directory: Path, members: list[Member]) -> None:
    """Look up each node's pool ID on chain (by its operator's cap) into its config."""
    chain = members[0]
    async with ChainClient(chain.url) as client:
        for member in members[1:]:
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
) -> list[Member]:
    """Create (if needed) and start every process that is not running; wait for health.

    An existing testbed keeps its layout: `nodes` and `shards` only shape a new one.
    """
    check_directory(directory)
    if not (directory / STATE).exists():
        create(directory, nodes, shards, epoch_duration_ms, manual_clock)
    members = load_members(directory)
    chain = members[0]
    if running_pid(directory, chain.name) is None:
        start_member(directory, chain)
    wait_until_healthy(chain.url + chain.health_path, timeout)
    asyncio.run(_fill_node_ids(directory, members))
    for member in members[1:]:
        if running_pid(directory, member.name) is None:
            start_member(directory, member)
    for member in members[1:]:
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
