"""The chain verbs of `walrus` (info, wallet, faucet, staking, node admin) as real processes
against a real chain process, with their effects checked on the chain itself."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pywalrus.chain.client import ChainClient
from pywalrus.chain.contracts.coin import FROST_PER_WAL
from pywalrus.chain.objects import Object
from pywalrus.chain.wallet import Wallet
from pywalrus.client import chain_ops
from pywalrus.client.config import write_client_config
from pywalrus.core.accounts import Account
from pywalrus.core.config import EncodingConfig
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.core.errors import InsufficientFunds, InvalidAmount
from pywalrus.testbed.chain_files import write_chain_files
from pywalrus.testbed.genesis import NodeIdentity, generate_nodes, make_genesis
from pywalrus.testbed.ports import free_ports
from pywalrus.testbed.process import start_walrus, wait_until_healthy

T = TypeVar("T")
N_SHARDS = 10
EPOCH_MS = 3_600_000
TIMEOUT = 30


WALRUS = [sys.executable, "-m", "pywalrus.cli"]


@dataclass
class Net:
    """A running chain, a funded user wallet with its config, and a node operator's config."""

    root: Path
    url: str
    config: Path
    operator_config: Path
    user: Account
    nodes: list[NodeIdentity]
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no config is found except the ones the test names."""
        env = {k: v for k, v in os.environ.items() if k not in ("WALRUS_CONFIG", "XDG_CONFIG_HOME")}
        return {**env, "HOME": str(self.home), "PYTHONUNBUFFERED": "1", **extra}

    def run(
        self, *args: str | Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*WALRUS, *(str(a) for a in args)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            cwd=self.home,
            env=env or self.env(),
        )

    def in_process(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """`walrus ARGS --config CONFIG` run in this process: for refusals, which need no
        process of their own, to keep the module fast."""
        from pywalrus.cli.main import main

        argv = [str(a) for a in args]
        if "--config" not in argv:
            argv += ["--config", str(self.config)]
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(argv)
        return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())

    def ok(self, *args: str | Path, config: Path | None = None) -> str:
        """stdout of a successful `walrus ARGS --config CONFIG`."""
        result = self.run(*args, "--config", config or self.config)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def json(self, *args: str | Path, config: Path | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", config=config))

    def query(self, operation: Callable[[ChainClient], Awaitable[T]]) -> T:
        async def go() -> T:
            async with ChainClient(self.url) as client:
                return await operation(client)

        return asyncio.run(go())

    def balance(self, address: str) -> chain_ops.Balances:
        return self.query(lambda c: chain_ops.balances(c, address))

    def staked(self, address: str) -> list[chain_ops.StakedWalInfo]:
        return self.query(lambda c: chain_ops.list_staked_wal(c, address))

    def obj(self, object_id: str) -> Object:
        found = self.query(lambda c: c.get_object(object_id))
        assert found is not None, object_id
        return found

    def singleton(self, type_: str) -> dict[str, Any]:
        return self.query(lambda c: c.singleton(type_)).fields


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Assert `result` failed with exit code 1 and one `Error: …` line naming `needles`."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    root = tmp_path_factory.mktemp("cli-chain")
    (port,) = free_ports(1)
    key, user = Account.generate(), Account.generate()
    nodes = generate_nodes(4)
    genesis = make_genesis(nodes, N_SHARDS, EPOCH_MS, [user])
    chain_config = write_chain_files(root / "chain", "cli-chain", port, genesis, key)
    url = f"http://127.0.0.1:{port}/"
    process = start_walrus(["chain", "--config", str(chain_config)], root / "chain.log")
    try:
        wait_until_healthy(url + "health", 30, process)
        Wallet.create(root / "user" / "wallet.keystore", user)
        config = root / "user" / "client_config.yaml"
        write_client_config(config, url, key.address, "wallet.keystore")
        Wallet.create(root / "operator" / "wallet.keystore", nodes[0].operator)
        operator_config = root / "operator" / "client_config.yaml"
        write_client_config(operator_config, url, key.address, "wallet.keystore")
        home = root / "home"
        home.mkdir()
        yield Net(root, url, config, operator_config, user, nodes, home)
    finally:
        process.terminate()
        process.wait(10)


def test_info_matches_the_chain(net: Net) -> None:
    # --config and --json before the verb, as global options; upstream's InfoOutput sections.
    result = net.run("--config", net.config, "--json", "info")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert set(info) == {"epochInfo", "storageInfo", "sizeInfo", "priceInfo"}
    system, staking = net.singleton("walrus::System"), net.singleton("walrus::Staking")
    epoch = info["epochInfo"]
    assert epoch["currentEpoch"] == system["epoch"] == 1
    assert epoch["epochDuration"] == {"secs": EPOCH_MS // 1000, "nanos": 0}
    assert epoch["maxEpochsAhead"] == system["max_epochs_ahead"] == 53
    assert "DateTime" in epoch["startOfCurrentEpoch"]
    assert info["storageInfo"] == {"nShards": N_SHARDS, "nNodes": len(staking["committee"])}
    config = EncodingConfig(N_SHARDS)
    assert info["sizeInfo"]["maxBlobSize"] == config.max_blob_size
    assert info["sizeInfo"]["storageUnitSize"] == 1 << 20
    price = info["priceInfo"]
    assert price["storagePricePerUnitSize"] == system["storage_price_per_unit_size"]
    assert price["writePricePerUnitSize"] == system["write_price_per_unit_size"]
    (rs2,) = price["encodingDependentPriceInfo"]
    assert rs2["encodingType"] == "RS2"
    examples = rs2["exampleBlobs"]
    assert [e["unencodedSize"] for e in examples][-1] == config.max_blob_size
    units = -(-config.encoded_length(config.max_blob_size) // (1 << 20))
    assert examples[-1]["price"] == units * system["storage_price_per_unit_size"]
    # `info all` adds the committee and BFT sections; each section also on its own.
    full = net.json("info", "all")
    assert set(full) == {*info, "committeeInfo", "bftInfo"}
    nodes = {m["nodeId"]: m for m in full["committeeInfo"]["currentStorageNodes"]}
    assert {k: len(v) for k, v in staking["committee"].items()} == {
        k: m["nShards"] for k, m in nodes.items()
    }
    assert sorted(m["name"] for m in nodes.values()) == [n.name for n in net.nodes]
    assert {m["networkAddress"] for m in nodes.values()} == {n.network_address for n in net.nodes}
    assert full["bftInfo"]["maxFaultyShards"] == 3 and full["bftInfo"]["quorumThreshold"] == 7
    for section, key in (("epoch", "epochInfo"), ("size", "sizeInfo"), ("bft", "bftInfo")):
        assert net.json("info", section) == full[key] or section == "epoch"
    assert net.json("info", "committee")["nShards"] == N_SHARDS
    # Human output: sections and the committee table.
    text = net.ok("info")
    assert "Current epoch: 1" in text
    assert "Number of shards: 10" in text
    text = net.ok("info", "all")
    for node in net.nodes:
        assert node.name in text and node.network_address in text


def test_wallet_balance_and_transfer(net: Net) -> None:
    assert net.ok("wallet", "address").strip() == net.user.address
    before = net.json("wallet", "balance")
    assert before == net.balance(net.user.address).to_json()
    assert before["walBalance"] > 0 and before["gasBalance"] > 0
    recipient = Account.generate().address
    amount = 3 * FROST_PER_WAL + 7
    sent = net.json("wallet", "transfer", "--to", recipient, "--amount", str(amount))
    assert (sent["recipient"], sent["amount"]) == (recipient, amount)
    after = net.balance(net.user.address)
    assert after.wal == before["walBalance"] - amount
    assert 0 < before["gasBalance"] - after.gas < 10**7
    theirs = net.json("wallet", "balance", "--address", recipient)
    assert (theirs["walBalance"], theirs["coinCount"], theirs["gasBalance"]) == (amount, 1, 0)
    assert net.obj(sent["coin"]).owner == recipient
    text = net.ok("wallet", "transfer", "--to", recipient, "--amount", "1500000000")
    assert f"Sent 1.5 WAL (1,500,000,000 FROST) to {recipient}" in text
    assert net.balance(recipient).wal == amount + 1_500_000_000


def test_faucet_wallet_and_coin_merging(net: Net) -> None:
    path = net.root / "fresh" / "wallet.keystore"
    made = net.json("generate-sui-wallet", "--path", path, "--use-faucet")
    address = made["walletAddress"]
    assert Wallet.load(path).active.address == address
    assert net.balance(address).wal == 10 * FROST_PER_WAL
    config = net.root / "fresh" / "client_config.yaml"
    write_client_config(config, net.url, None, "wallet.keystore")
    got = net.json("get-wal", "--amount", str(2 * FROST_PER_WAL), config=config)
    assert net.obj(got["coin"]).owner == address
    held = net.balance(address)
    assert (held.wal, held.coins) == (12 * FROST_PER_WAL, 2)
    assert held.gas == 10 * 10**9
    # No single coin holds 11 WAL: the transfer merges both in the same transaction.
    net.json(
        "wallet", "transfer", "--to", net.user.address, "--amount", "11000000000", config=config
    )
    held = net.balance(address)
    assert (held.wal, held.coins) == (FROST_PER_WAL, 1)
    error = net.in_process(
        "wallet", "transfer", "--to", net.user.address, "--amount", "5000000000", "--config", config
    )
    one_line_error(error, "insufficient WAL", "1000000000 FROST in 1 coin(s)")
    # The default get-wal amount is 0.5 WAL; an existing wallet path is refused.
    assert "Received 0.5 WAL" in net.ok("get-wal", config=config)
    assert net.balance(address).wal == FROST_PER_WAL + FROST_PER_WAL // 2
    one_line_error(net.in_process("generate-sui-wallet", "--path", path), "already exists")
    # Without --path: the Sui configuration directory, which must be empty.
    made = net.json("generate-sui-wallet")
    default = net.home / ".sui" / "sui_config" / "sui.keystore"
    assert Wallet.load(default).active.address == made["walletAddress"]
    one_line_error(net.run("generate-sui-wallet"), "is not empty", "--path")
    # Gas from the faucet too, as the hint for too little gas says.
    got = net.json("get-wal", "--amount", "0", "--gas", "5000", config=config)
    assert (got["wal"], got["gas"]) == (0, 5000)


def test_stake_list_and_withdraw(net: Net) -> None:
    staking = net.singleton("walrus::Staking")
    node_a, node_b = sorted(staking["committee"])[:2]
    before = net.balance(net.user.address).wal
    staked = net.json("stake", "--node-ids", node_a, "--amounts", str(2 * FROST_PER_WAL))
    (new,) = staked["stakedWal"]  # upstream's StakeOutput, StakedWal in snake_case
    assert (new["node_id"], new["principal"], new["state"]) == (node_a, 2 * FROST_PER_WAL, "Staked")
    assert new["activation_epoch"] == staking["epoch"] + 1
    assert net.balance(net.user.address).wal == before - 2 * FROST_PER_WAL
    listed = {s["id"]: s for s in net.json("list-staked-wal")["stakedWals"]}
    assert listed[new["id"]]["state"] == "Staked"
    only_staked = net.json("list-staked-wal", "--staked-only")["stakedWals"]
    assert new["id"] in {s["id"] for s in only_staked}
    assert net.json("list-staked-wal", "--withdrawing-only") == {"stakedWals": []}
    both = net.in_process("list-staked-wal", "--staked-only", "--withdrawing-only")
    assert both.returncode == 2 and both.stderr.startswith("Error: ")
    # Upstream's positional arguments: NODE_ID [STAKED_WAL_IDS]; --dry-run changes nothing.
    dry = net.json("request-withdraw-stake", node_a, "--dry-run")
    assert [s["id"] for s in dry["stakedWals"]] == [new["id"]]
    assert net.obj(new["id"]).fields["state"] == "staked"
    # Not active yet: a withdrawal request is refused by the contract, with its reason...
    refused = net.run("request-withdraw-stake", node_a, new["id"], "--config", net.config)
    one_line_error(refused, "transaction rejected", "ENotWithdrawing", "not active yet")
    # ...and the stake is withdrawn directly, principal back, no rewards.
    out = net.json("withdraw-stake", new["id"])
    assert out == {"stakedWalIds": [new["id"]], "txDigest": out["txDigest"]}
    assert net.balance(net.user.address).wal == before
    assert new["id"] not in {s.id for s in net.staked(net.user.address)}
    # Two nodes after one flag (num_args = 1..), default amount (1 WAL each), human output.
    text = net.ok("stake", "--node-ids", node_a, node_b)
    assert "Staked WAL successfully on 2 storage nodes" in text
    mine = [s for s in net.staked(net.user.address) if s.node_id in (node_a, node_b)]
    assert sorted(s.principal for s in mine) == [FROST_PER_WAL, FROST_PER_WAL]
    assert sorted(s.node_id for s in mine) == sorted([node_a, node_b])
    # Several StakedWal of one node: listed, and the ones to withdraw must be named.
    net.ok("stake", "--node-ids", node_a)
    several = net.json("request-withdraw-stake", node_a)
    assert len(several["stakedWals"]) == 2 and "txDigest" not in several
    ids = [s.id for s in mine]
    text = net.ok("withdraw-stake", *ids)
    assert f"Withdrew staked WAL from 2 StakedWal object(s): {', '.join(ids)}" in text
    # Refused before sending: below the minimum stake, unknown node, mismatched amounts.
    low = net.in_process("stake", "--node-ids", node_a, "--amounts", "1", "--config", net.config)
    one_line_error(low, "must be between 1000000000")
    unknown = "0x" + "ab" * 32
    one_line_error(
        net.in_process("stake", "--node-id", unknown, "--config", net.config), "no storage"
    )
    mismatch = net.in_process(
        "stake", "--node-ids", node_a, node_b, "--amounts", "1", "2", "3", "--config", net.config
    )
    assert mismatch.returncode == 2 and len(mismatch.stderr.splitlines()) == 1


def test_node_register_vote_and_commission(net: Net) -> None:
    key = BlsPrivateKey.generate()
    key_file = net.root / "protocol.key"
    key_file.write_text(key.to_base64() + "\n")
    registered = net.json(
        "node-admin",
        "register",
        "--name",
        "cli-node",
        "--network-address",
        "127.0.0.1:19999",
        "--protocol-key-file",
        key_file,
        "--commission-rate",
        "500",
    )
    node_id = registered["nodeId"]
    pool = net.obj(node_id).fields
    assert (pool["name"], pool["network_address"]) == ("cli-node", "127.0.0.1:19999")
    assert pool["public_key"] == key.public_key().to_bytes().hex()
    assert pool["commission_rate"] == 500
    assert node_id in net.singleton("walrus::Staking")["pools"]
    assert net.obj(registered["cap"]).owner == net.user.address
    # Votes given change; the others stay.
    before = dict(pool["votes"])
    net.json("node-admin", "vote", "--storage-price", "123", "--node-capacity", "4567")
    votes = net.obj(node_id).fields["votes"]
    assert votes == {**before, "storage_price": 123, "node_capacity": 4567}
    text = net.ok("node-admin", "vote", "--write-price", "77")
    assert f"Set the votes of node {node_id}: write price 77" in text
    assert net.obj(node_id).fields["votes"]["write_price"] == 77
    one_line_error(net.in_process("node-admin", "vote", "--config", net.config), "nothing to vote")
    collected = net.json("node-admin", "collect-commission")
    assert (collected["nodeId"], collected["amount"]) == (node_id, 0)
    # Not in the committee: governance votes are refused by the contract.
    slash = net.in_process("node-admin", "vote-slash", "--node-id", node_id, "--config", net.config)
    one_line_error(slash, "ENotCommitteeMember")
    # A wrong key file is one line too.
    key_file.write_text("not base64!")
    bad_key = net.in_process(
        "node-admin",
        "register",
        "--name",
        "x",
        "--network-address",
        "h:1",
        "--protocol-key-file",
        key_file,
        "--config",
        net.config,
    )
    one_line_error(bad_key, "protocol key file")


def test_committee_member_governance(net: Net) -> None:
    staking = net.singleton("walrus::Staking")
    caps = net.query(
        lambda c: c.owned_objects(net.nodes[0].operator.address, "walrus::StorageNodeCap")
    )
    own = caps[0].fields["node_id"]
    target = next(n for n in staking["committee"] if n != own)
    # Upstream's arguments: the node, the upgrade manager and the package directory.
    package = net.root / "package"
    (package / "sources").mkdir(parents=True)
    (package / "sources" / "walrus.py").write_text("upgraded = True\n")
    digest = net.json("node-admin", "package-digest", "--package-path", package)["digest"]
    assert len(bytes.fromhex(digest[2:])) == 32
    upgrade = net.json(
        "node-admin",
        "vote-for-upgrade",
        "--node-id",
        own,
        "--upgrade-manager-object-id",
        "0x" + "01" * 32,
        "--package-path",
        package,
        config=net.operator_config,
    )
    assert upgrade["weight"] == len(staking["committee"][own])
    assert upgrade["packageDigest"] == digest
    # Our earlier spelling still works: `vote-upgrade --digest`.
    digest_2 = "0x" + "d1" * 32
    again_vote = net.json(
        "node-admin", "vote-upgrade", "--digest", digest_2, config=net.operator_config
    )
    assert again_vote["packageDigest"] == digest_2
    (package / "sources" / "walrus.py").write_text("upgraded = False\n")
    changed = net.json("node-admin", "package-digest", "--package-path", package)["digest"]
    assert changed != digest
    slash = net.json("node-admin", "vote-slash", "--node-id", target, config=net.operator_config)
    assert (slash["target"], slash["weight"]) == (target, len(staking["committee"][own]))
    again = net.in_process(
        "node-admin", "vote-slash", "--node-id", target, "--config", net.operator_config
    )
    one_line_error(again, "transaction rejected", "EDuplicateVote")


def test_config_discovery(net: Net) -> None:
    by_env = net.run("wallet", "address", env=net.env(WALRUS_CONFIG=str(net.config)))
    assert by_env.returncode == 0, by_env.stderr
    assert by_env.stdout.strip() == net.user.address
    # --config after the verb wins over the environment and the group option.
    after = net.run(
        "--config",
        net.root / "nope.yaml",
        "wallet",
        "address",
        "--config",
        net.operator_config,
        env=net.env(WALRUS_CONFIG=str(net.config)),
    )
    assert after.stdout.strip() == net.nodes[0].operator.address


def test_bad_inputs_are_one_line_errors(net: Net) -> None:
    one_line_error(net.run("wallet", "balance"), "no client config found", "WALRUS_CONFIG")
    missing = net.root / "missing.yaml"
    one_line_error(
        net.in_process("info", "--config", missing), f"client config '{missing}' does not"
    )
    bad_to = net.run(
        "wallet", "transfer", "--to", "0xnothex", "--amount", "5", "--config", net.config
    )
    one_line_error(bad_to, "invalid address '0xnothex'")
    zero = net.in_process(
        "wallet", "transfer", "--to", net.user.address, "--amount", "0", "--config", net.config
    )
    one_line_error(zero, "amount must be between 1 and")
    not_int = net.in_process(
        "wallet", "transfer", "--to", net.user.address, "--amount", "1.5", "--config", net.config
    )
    assert not_int.returncode == 2 and len(not_int.stderr.splitlines()) == 1
    (port,) = free_ports(1)
    dead = net.root / "dead" / "client_config.yaml"
    dead.parent.mkdir()
    write_client_config(dead, f"http://127.0.0.1:{port}/", None, "../user/wallet.keystore")
    one_line_error(
        net.run("info", "--config", dead), f"cannot reach the chain at http://127.0.0.1:{port}/"
    )
    one_line_error(
        net.in_process("withdraw-stake", "0x" + "12" * 32, "--config", net.config),
        "does not exist",
    )


def test_payment_planning() -> None:
    coins = [("0xa", 5), ("0xb", 20), ("0xc", 8), ("0xd", 0)]
    # The smallest coin that suffices on its own, no merge.
    assert chain_ops.plan_payment(coins, 7, "0x1") == chain_ops.Payment("0xc", 8, ())
    assert chain_ops.plan_payment(coins, 20, "0x1").coin == "0xb"
    # Otherwise the largest coins, merged into the largest, in the same transaction.
    merged = chain_ops.plan_payment(coins, 27, "0x1")
    assert (merged.coin, merged.balance) == ("0xb", 28)
    assert [c.to_json() for c in merged.calls] == [
        {"function": "wal::merge", "args": {"coin": "0xb", "others": ["0xc"]}}
    ]
    with pytest.raises(InsufficientFunds, match="holds 33 FROST in 4 coin"):
        chain_ops.plan_payment(coins, 34, "0x1")
    with pytest.raises(InvalidAmount):
        chain_ops.plan_payment(coins, 0, "0x1")
