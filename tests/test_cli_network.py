"""The `walrus` command as a user runs it, against a real testbed (7 nodes, 100 shards):
hyphen-leading blob IDs, honest blob statuses, hung nodes, multi-file stores and multi-object
deletes, lifetimes, interrupted uploads, confirmations on a terminal, and messages."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import pty
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pywalrus.chain.client import ChainClient
from pywalrus.chain.wallet import Wallet
from pywalrus.client.client import StoreOptions
from pywalrus.client.config import write_client_config
from pywalrus.core.accounts import Account
from pywalrus.core.config import EncodingConfig
from pywalrus.core.encoding import compute_metadata
from pywalrus.core.types import BlobId, SliverPairIndex
from pywalrus.demo import next_steps
from pywalrus.network import routes
from pywalrus.testbed import local
from testbed_harness import Network, running_testbed, walrus_text

N_SHARDS = 100
TIMEOUT = 90


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_testbed(tmp_path_factory.mktemp("cli-net"), nodes=7, daemon=True)


def walrus(
    network: Network, *args: str | Path, config: Path | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    env["WALRUS_CONFIG"] = str(config or network.config_path)
    return walrus_text(*args, env=env, cwd=cwd, timeout=TIMEOUT)


def ok_json(network: Network, *args: str | Path, config: Path | None = None) -> Any:
    result = walrus(network, *args, "--json", config=config)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def one_line_error(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr and "ssl:default" not in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def hyphen_blob(seed: int) -> tuple[bytes, BlobId]:
    """Data whose blob ID (at 100 shards) starts with `-`: about one in 64 does."""
    rng = random.Random(seed)
    config = EncodingConfig(N_SHARDS)
    for _ in range(10_000):
        data = rng.randbytes(200)
        blob_id = compute_metadata(data, config).blob_id()
        if str(blob_id).startswith("-"):
            return data, blob_id
    raise AssertionError("no hyphen-leading blob ID found")


def query(network: Network, method: str, *args: Any) -> Any:
    async def go() -> Any:
        async with ChainClient(network.config.chain_url) as chain:
            return await getattr(chain, method)(*args)

    return asyncio.run(go())


def wal_of(network: Network, address: str) -> int:
    coins = query(network, "owned_objects", address, "wal::Coin")
    return sum(int(c.fields["balance"]) for c in coins)


def blob_objects(network: Network, address: str) -> list[str]:
    return sorted(o.id for o in query(network, "owned_objects", address, "walrus::Blob"))


def store_sdk(network: Network, data: bytes, **options: Any) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with network.client() as client:
            return await client.store(data, StoreOptions(**options))

    blob: dict[str, Any] = asyncio.run(go())["newlyCreated"]["blobObject"]
    return blob


@contextmanager
def paused(network: Network, names: list[str]) -> Iterator[None]:
    """SIGSTOP the named nodes (hung: connections accepted, no answers), SIGCONT after."""
    pids = [local.running_pid(network.dir, name) for name in names]
    try:
        for pid in pids:
            assert pid is not None
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid in pids:
            if pid is not None:
                os.kill(pid, signal.SIGCONT)


def by_shards(network: Network) -> list[tuple[str, int]]:
    committee = asyncio.run(network.committee())
    return sorted(((m.name, len(m.shards)) for m in committee.members), key=lambda x: -x[1])


def funded_wallet(network: Network, root: Path, wal: int, gas: int) -> tuple[Path, str]:
    """A new wallet with `wal` FROST and `gas` MIST from the faucet, and its config."""
    account = Account.generate()
    root.mkdir(parents=True, exist_ok=True)
    Wallet.create(root / "wallet.keystore", account)
    config = root / "client_config.yaml"
    write_client_config(config, network.config.chain_url, None, "wallet.keystore")
    query(network, "faucet", account.address, wal, gas)
    return config, account.address


def test_hyphen_leading_blob_ids_everywhere(network: Network, tmp_path: Path) -> None:
    data, blob_id = hyphen_blob(1)
    path = tmp_path / "hyphen.bin"
    path.write_bytes(data)
    (stored,) = ok_json(network, "store", path, "--epochs", "2")
    assert stored["blobStoreResult"]["newlyCreated"]["blobObject"]["blobId"] == str(blob_id)
    back = tmp_path / "back.bin"
    read = walrus(network, "read", str(blob_id), "--out", back)
    assert read.returncode == 0, read.stderr
    assert back.read_bytes() == data
    status = ok_json(network, "blob-status", "--blob-id", str(blob_id))
    assert status["blobId"] == str(blob_id) and "deletable" in status["status"]
    document = json.dumps({"command": {"read": {"blobId": str(blob_id)}}})
    via_json = walrus(network, "json", document)
    assert via_json.returncode == 0, via_json.stderr
    assert base64.b64decode(json.loads(via_json.stdout)["blob"]) == data
    # The demo's hint, run exactly as printed.
    walrus_bin = Path(sys.executable).parent / "walrus"
    (hint,) = [line for line in next_steps(walrus_bin, network.dir, blob_id) if " read " in line]
    env = {**os.environ, "WALRUS_CONFIG": str(network.config_path)}
    if walrus_bin.exists():
        printed = subprocess.run(
            shlex.split(hint), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert printed.returncode == 0, printed.stderr
        assert (tmp_path / "copy.bin").read_bytes() == data
    # And its curl line, against the testbed's daemon.
    (daemon,) = [m.url for m in network.members() if m.role == "daemon"]
    (curl,) = [
        line for line in next_steps(walrus_bin, network.dir, blob_id, daemon) if "curl" in line
    ]
    (tmp_path / "copy.bin").unlink(missing_ok=True)
    if shutil.which("curl"):
        printed = subprocess.run(
            shlex.split(curl), cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert printed.returncode == 0, printed.stderr
        assert (tmp_path / "copy.bin").read_bytes() == data
    deleted = ok_json(network, "delete", "--blob-ids", str(blob_id), "--no-status-check")
    assert [d["blobId"] for d in deleted[0]["deletedBlobs"]] == [str(blob_id)]


def test_blob_status_needs_enough_weight_and_never_waits_for_hung_nodes(
    network: Network,
) -> None:
    deletable = store_sdk(network, random.randbytes(3000), epochs=2)
    permanent = store_sdk(network, random.randbytes(3000), epochs=2, deletable=False)
    unknown = BlobId(random.randbytes(32))
    assert "not stored" in walrus(network, "blob-status", "--blob-id", str(unknown)).stdout
    order = by_shards(network)
    # All but the smallest node hung: nodes holding less than a third of the shards answer.
    hung = [name for name, _ in order[:-1]]
    with paused(network, hung):
        result = walrus(network, "blob-status", "--blob-id", deletable["blobId"], "--timeout", "1s")
        line = one_line_error(result, 1, "could not learn the status")
        assert f"holding {order[-1][1]} of {N_SHARDS} shards answered" in line
        assert "34 needed" in line and all(name in line for name in hung)
        # A permanent status the chain event it names confirms is accepted, as upstream.
        confirmed = ok_json(network, "blob-status", "--blob-id", permanent["blobId"])
        assert confirmed["status"]["permanent"]["isCertified"] is True
        assert confirmed["status"]["permanent"]["endEpoch"] == permanent["storage"]["endEpoch"]
        assert "estimatedExpiryTimestamp" in confirmed
        # Health reports the hung nodes instead of waiting for them.
        report = ok_json(network, "health", "--committee", "--timeout", "1s")
        assert set(report) == {"healthInfo", "latestSeq"}
        errors = {h["nodeName"]: h["healthInfo"] for h in report["healthInfo"]}
        assert {n for n, h in errors.items() if "Err" in h} == set(hung)
        assert all("no answer within 1 s" in errors[n]["Err"] for n in hung)
        assert "Ok" in errors[order[-1][0]]
    with paused(network, [name for name, _ in order]):
        nobody = walrus(network, "blob-status", "--blob-id", deletable["blobId"])
        one_line_error(nobody, 1, f"holding 0 of {N_SHARDS} shards answered")
    # Everyone back: the status is known again.
    status = ok_json(network, "blob-status", "--blob-id", deletable["blobId"])
    assert status["status"]["deletable"]["deletableCounts"]["count_deletable_certified"] == 1


def test_multi_file_store_checks_everything_before_paying(network: Network, tmp_path: Path) -> None:
    address = network.config.wallet().active.address
    good = tmp_path / "good.bin"
    good.write_bytes(random.randbytes(1000))
    big = tmp_path / "big.bin"
    with big.open("wb") as sparse:
        sparse.truncate(EncodingConfig(N_SHARDS).max_blob_size + 1)
    before = (wal_of(network, address), blob_objects(network, address))
    too_large = walrus(network, "store", good, big, "--epochs", "1")
    one_line_error(too_large, 1, f"file '{big}'", "maximum blob size", "nothing was stored")
    missing = walrus(network, "store", good, tmp_path / "missing.bin")
    one_line_error(missing, 1, "missing.bin' does not exist")
    past = walrus(network, "store", good, "--earliest-expiry-time", "2001-01-01T00:00:00Z")
    one_line_error(past, 1, "is not in the future")
    too_long = walrus(network, "store", good, "--epochs", "54")
    one_line_error(too_long, 1, "up to 53 epochs ahead; 54 epochs were requested")
    assert (wal_of(network, address), blob_objects(network, address)) == before
    # A dry run pays nothing and prints upstream's DryRunOutput.
    (dry,) = ok_json(network, "store", good, "--dry-run", "--epochs", "3")
    assert set(dry) == {
        "path",
        "blobId",
        "unencodedSize",
        "encodedSize",
        "storageCost",
        "encodingType",
    }
    assert (wal_of(network, address), blob_objects(network, address)) == before
    # --epochs max: the system's limit.
    (longest,) = ok_json(network, "store", good, "--epochs", "max", "--force")
    blob = longest["blobStoreResult"]["newlyCreated"]["blobObject"]
    epoch = asyncio.run(network.staking()).epoch
    assert blob["storage"]["endEpoch"] == epoch + 53


def test_each_file_of_a_store_gets_its_own_result(network: Network, tmp_path: Path) -> None:
    # Enough WAL for one small blob for one epoch (1 unit: storage + write), not for two.
    system = query(network, "singleton", "walrus::System").fields
    one = system["storage_price_per_unit_size"] + system["write_price_per_unit_size"]
    config, address = funded_wallet(network, tmp_path / "poor", one + one // 2, 10**10)
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(random.randbytes(500))
    second.write_bytes(random.randbytes(500))
    result = walrus(network, "store", first, second, "--epochs", "1", "--json", config=config)
    line = one_line_error(result, 1, "1 of 2 files could not be stored", str(second))
    assert "insufficient WAL" in line
    items = json.loads(result.stdout)
    assert [i["path"] for i in items] == [str(first), str(second)]
    assert "newlyCreated" in items[0]["blobStoreResult"]
    error = items[1]["blobStoreResult"]["error"]
    assert error["failurePhase"] == "registering" and error["blobId"] is None
    assert "insufficient WAL" in error["errorMsg"]
    assert len(blob_objects(network, address)) == 1


def test_gas_rather_than_wal_short_is_said(network: Network, tmp_path: Path) -> None:
    config, _ = funded_wallet(network, tmp_path / "nogas", 10**10, 0)
    path = tmp_path / "f.bin"
    path.write_bytes(b"gasless")
    result = walrus(network, "store", path, config=config)
    one_line_error(result, 1, "not enough gas (SUI)", "get-wal --gas")
    transfer = walrus(network, "wallet", "transfer", "--to", "0x1", "--amount", "5", config=config)
    one_line_error(transfer, 1, "not enough gas (SUI)", "get-wal --gas")
    # --gas-budget caps what a transaction may cost, before or after the verb.
    capped = walrus(
        network, "--gas-budget", "1", "wallet", "transfer", "--to", "0x1", "--amount", "5"
    )
    one_line_error(capped, 1, "costs more gas than --gas-budget allows", "exceeds budget 1")


def test_multi_object_delete_checks_first_and_reports_each(
    network: Network, tmp_path: Path
) -> None:
    a = store_sdk(network, random.randbytes(800), epochs=2)
    b = store_sdk(network, random.randbytes(800), epochs=2)
    permanent = store_sdk(network, random.randbytes(800), epochs=2, deletable=False)
    address = network.config.wallet().active.address
    unreadable = walrus(
        network, "delete", "--files", tmp_path / "nope.bin", "--object-ids", a["id"], "--yes"
    )
    one_line_error(unreadable, 1, "nope.bin' does not exist")
    assert a["id"] in blob_objects(network, address)
    nobody = "0x" + "ee" * 32
    result = walrus(
        network, "delete", "--object-ids", a["id"], nobody, permanent["id"], "--yes", "--json"
    )
    one_line_error(result, 1, "2 of 3 deletions failed or found nothing to delete")
    outputs = json.loads(result.stdout)
    assert [o["blobIdentity"]["objectId"] for o in outputs] == [a["id"], nobody, permanent["id"]]
    assert [d["id"] for d in outputs[0]["deletedBlobs"]] == [a["id"]]
    assert outputs[1]["noBlobFound"] is True and outputs[1]["deletedBlobs"] == []
    assert outputs[2]["error"] and outputs[2]["deletedBlobs"] == []
    owned = blob_objects(network, address)
    assert a["id"] not in owned and b["id"] in owned and permanent["id"] in owned
    # By blob ID, with the status afterwards (upstream's postDeletionStatus).
    (by_id,) = ok_json(network, "delete", "--blob-ids", b["blobId"])
    assert by_id["postDeletionStatus"] in ("nonexistent", by_id["postDeletionStatus"])
    assert [d["id"] for d in by_id["deletedBlobs"]] == [b["id"]]


def test_extend_and_share_shapes(network: Network) -> None:
    permanent = store_sdk(network, random.randbytes(900), epochs=2, deletable=False)
    shared = ok_json(network, "share", "--blob-obj-id", permanent["id"], "--amount", "100000000")
    assert set(shared) == {"sharedBlobObjectId", "amount"} and shared["amount"] == 100_000_000
    without = walrus(
        network, "extend", "--blob-obj-id", shared["sharedBlobObjectId"], "--epochs-extended", "1"
    )
    one_line_error(without, 1, "is a shared blob: extend it with --shared")
    extended = ok_json(
        network,
        "extend",
        "--blob-obj-id",
        shared["sharedBlobObjectId"],
        "--shared",
        "--epochs-extended",
        "1",
    )
    assert extended == {"epochsExtended": 1}
    assert ok_json(
        network,
        "fund-shared-blob",
        "--shared-blob-obj-id",
        shared["sharedBlobObjectId"],
        "--amount",
        "5",
    ) == {"amount": 5}


def test_not_enough_confirmations_says_what_was_paid(network: Network, tmp_path: Path) -> None:
    order = by_shards(network)
    down, weight = [], 0
    for name, shards in order:
        down.append(name)
        weight += shards
        if 3 * (N_SHARDS - weight) < 2 * N_SHARDS + 1:
            break
    path = tmp_path / "f.bin"
    path.write_bytes(random.randbytes(2000))
    try:
        for name in down:
            network.stop(name)
        result = walrus(network, "store", path, "--epochs", "1")
        line = one_line_error(result, 1, f"of {N_SHARDS} shards confirmed", "67 are needed")
        assert "stays registered as object 0x" in line and "FROST paid" in line
        assert "3w" not in line
    finally:
        network.up()


def test_interrupted_store_says_what_stays_registered(network: Network, tmp_path: Path) -> None:
    data = random.randbytes(300_000)
    path = tmp_path / "interrupted.bin"
    path.write_bytes(data)
    blob_id = str(compute_metadata(data, EncodingConfig(N_SHARDS)).blob_id())
    address = network.config.wallet().active.address
    order = by_shards(network)
    env = {**os.environ, "WALRUS_CONFIG": str(network.config_path)}

    def registered() -> list[Any]:
        blobs = query(network, "owned_objects", address, "walrus::Blob")
        return [o for o in blobs if o.fields["blob_id"] == blob_id]

    def uploading() -> bool:
        """Whether a node that is up holds or buffers the blob's metadata: the store is past
        registering, and the client knows what it registered (seeing the registration on
        chain is not enough: its answer may still be on the way to the client)."""
        for member in network.members():
            if member.name in hung:
                continue
            url = member.url.rstrip("/") + routes.METADATA_STATUS.format(blob_id=blob_id)
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as answer:
                if json.load(answer)["success"]["data"] != "nonexistent":
                    return True
        return False

    # Nodes holding more than a third of the shards hung: the upload cannot finish.
    hung = [name for name, _ in order[:3]]
    with paused(network, hung):
        process = subprocess.Popen(
            [sys.executable, "-m", "pywalrus.cli", "store", str(path), "--epochs", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while not uploading() and time.monotonic() < deadline:
                assert process.poll() is None, process.communicate()
                time.sleep(0.1)
            (obj,) = registered()
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("Error: interrupted: ")
    assert f"blob {blob_id} stays registered as object {obj.id}" in lines[0]
    assert "reuses this registration" in lines[0]
    # And a retry does reuse it: nothing is paid again.
    (again,) = ok_json(network, "store", path, "--epochs", "1")
    created = again["blobStoreResult"]["newlyCreated"]
    assert "reuseRegistration" in created["resourceOperation"] and created["cost"] == 0
    assert created["blobObject"]["id"] == obj.id


def run_on_terminal(
    network: Network, args: list[str], answer: bytes
) -> subprocess.CompletedProcess[str]:
    """`walrus ARGS` with its stdin on a terminal (a pty) that answers `answer`."""
    parent, child = pty.openpty()
    env = {**os.environ, "WALRUS_CONFIG": str(network.config_path)}
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "pywalrus.cli", *args],
            stdin=child,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        os.write(parent, answer)
        out, err = process.communicate(timeout=TIMEOUT)
    finally:
        os.close(parent)
        os.close(child)
    return subprocess.CompletedProcess(args, process.returncode, out, err)


def test_confirmations_on_a_terminal(network: Network) -> None:
    blob = store_sdk(network, random.randbytes(700), epochs=2)
    address = network.config.wallet().active.address
    refused = run_on_terminal(network, ["burn-blobs", "--object-ids", blob["id"]], b"n\n")
    assert refused.returncode == 0, refused.stderr
    assert f"burn the following blob object(s):\n{blob['id']}\n(1 total)" in refused.stdout
    assert "Aborting. No blobs were burned." in refused.stdout
    assert blob["id"] in blob_objects(network, address)
    burned = run_on_terminal(network, ["burn-blobs", "--object-ids", blob["id"], "--yes"], b"")
    assert burned.returncode == 0, burned.stderr
    assert "Do you want to proceed?" not in burned.stdout
    assert blob["id"] not in blob_objects(network, address)
    other = store_sdk(network, random.randbytes(700), epochs=2)
    deleted = run_on_terminal(
        network, ["delete", "--blob-ids", other["blobId"], "--no-status-check"], b"y\n"
    )
    assert deleted.returncode == 0, deleted.stderr
    listing = f"The following blobs with blob ID {other['blobId']} are deletable:\n{other['id']}"
    assert listing in deleted.stdout
    assert other["id"] not in blob_objects(network, address)


def test_copied_config_and_an_existing_testbed(network: Network, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "client_config.yaml"
    copy.parent.mkdir()
    shutil.copy(network.config_path, copy)
    address = walrus(network, "wallet", "address", config=copy)
    assert address.returncode == 0, address.stderr
    assert address.stdout.strip() == network.config.wallet().active.address
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "pywalrus.cli",
            "testbed",
            "up",
            "--dir",
            str(network.dir),
            "--nodes",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert (
        "already holds a network of 7 nodes and 100 shards; it keeps that network" in again.stderr
    )
    assert len(network.members()) == 9  # the chain, 7 nodes and the daemon


def test_read_shows_progress_also_when_the_blob_goes_to_the_terminal(network: Network) -> None:
    data = b"hello walrus, on a terminal\n" * 2000
    blob = store_sdk(network, data, epochs=2)
    parent, child = pty.openpty()
    env = {**os.environ, "WALRUS_CONFIG": str(network.config_path), "COLUMNS": "120"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pywalrus.cli", "read", blob["blobId"]],
        stdin=subprocess.DEVNULL,
        stdout=child,
        stderr=child,
        env=env,
    )
    os.close(child)
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            chunk = os.read(parent, 65536)
        except OSError:  # the other side closed: the process is done
            break
        if not chunk:
            break
        seen += chunk
    os.close(parent)
    assert process.wait(TIMEOUT) == 0
    assert b"fetching slivers" in seen
    assert seen.count(b"hello walrus, on a terminal") == 2000


def test_read_moves_on_from_a_hung_node(network: Network, tmp_path: Path) -> None:
    # Before, each request to a hung node waited for the session's two-minute bound; now a
    # node slow past the read timeout is passed over and its slivers are taken from others.
    data = random.randbytes(3 * (1 << 20))
    blob = store_sdk(network, data, epochs=2)
    out = tmp_path / "back.bin"
    committee = asyncio.run(network.committee())
    blob_id = BlobId.parse(blob["blobId"])
    # The owner of the first systematic sliver: the read cannot do without asking it.
    owner = committee.owner(committee.encoding.shard_for_pair(SliverPairIndex(0), blob_id))
    with paused(network, [owner.name]):
        env = {**os.environ, "WALRUS_CONFIG": str(network.config_path)}
        result = walrus_text("read", blob["blobId"], "--out", out, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == data
