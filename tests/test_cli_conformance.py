"""CLI conformance: upstream `walrus` invocations, as `args.rs` and the docs write them, run
against a testbed; each row asserts the exit code and the keys of the JSON printed.

Rows name the objects they act on by placeholder (`{blob_id}`, `{object}`, …); the fixture
makes a fresh object for every row that consumes one (deletes, burns, shares, withdrawals),
so rows do not depend on each other. Commands run in this process (`main()`), with `--json`
added, exactly as the console script would parse them.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import re
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from pywalrus.cli.main import main
from pywalrus.client import chain_ops
from pywalrus.client.client import StoreOptions
from pywalrus.core.types import BlobId
from testbed_harness import Network, running_testbed

BLOB = {
    "id",
    "registeredEpoch",
    "blobId",
    "size",
    "encodingType",
    "certifiedEpoch",
    "storage",
    "deletable",
}
STORED = {"path", "blobStoreResult"}
DRY_RUN = {"path", "blobId", "unencodedSize", "encodedSize", "storageCost", "encodingType"}
DELETED = {"blobIdentity", "deletedBlobs", "noBlobFound", "aborted"}
STAKED_WAL = {"id", "state", "node_id", "principal", "activation_epoch"}
INFO = {"epochInfo", "storageInfo", "sizeInfo", "priceInfo"}
HEALTH = {"healthInfo", "latestSeq"}
BLOB_ID_OUTPUT = {
    "blobId",
    "file",
    "unencodedLength",
    "encodingType",
    "rootHash",
    "encodedLength",
    "symbolSize",
    "nShards",
}

# (upstream invocation, exit code, JSON keys: a set for an object, [set] for a list of
# objects, a type for a scalar, None when nothing is checked beyond the exit code)
ROWS: list[tuple[str, int, Any]] = [
    ("info", 0, INFO),
    ("info all", 0, {*INFO, "committeeInfo", "bftInfo"}),
    ("info all --sort-by id --desc --hide-details", 0, {*INFO, "committeeInfo", "bftInfo"}),
    ("info epoch", 0, {"currentEpoch", "startOfCurrentEpoch", "epochDuration", "maxEpochsAhead"}),
    ("info storage", 0, {"nShards", "nNodes"}),
    ("info size", 0, {"storageUnitSize", "maxBlobSize", "maxBlobSizeInQuilt"}),
    (
        "info price",
        0,
        {"storagePricePerUnitSize", "writePricePerUnitSize", "encodingDependentPriceInfo"},
    ),
    (
        "info bft",
        0,
        {"maxFaultyShards", "minCorrectShards", "quorumThreshold", "minNodesAbove", "shardsAbove"},
    ),
    (
        "info committee --sort-by url",
        0,
        {
            "nShards",
            "nPrimarySourceSymbols",
            "nSecondarySourceSymbols",
            "maxSliverSize",
            "metadataStorageSize",
            "maxEncodedBlobSize",
            "currentStorageNodes",
            "nextStorageNodes",
        },
    ),
    ("store {new_file} --epochs 2", 0, [STORED]),
    ("store {new_file} {new_file} --epochs 1 --permanent", 0, [STORED]),
    ("store {new_file} --epochs max --force --deletable", 0, [STORED]),
    ("store {new_file} --end-epoch {end_epoch}", 0, [STORED]),
    ("store {new_file} --earliest-expiry-time 2099-01-01T00:00:00Z", 1, None),
    ("write {new_file} --epochs 1", 0, [STORED]),
    ("store {new_file} --epochs 3 --dry-run", 0, [DRY_RUN]),
    ("store {new_file} --epochs 1 --permanent --share", 0, [STORED]),
    ("store {new_file} --epochs 1 --ignore-resources", 0, [STORED]),
    ("store {new_file} --epochs 1 --permanent --deletable", 2, None),
    ("store {new_file} --epochs 1 --end-epoch 9", 2, None),
    (
        "blob-id {file}",
        0,
        BLOB_ID_OUTPUT,
    ),
    (
        "blob-id {file} --n-shards 1000",
        0,
        BLOB_ID_OUTPUT,
    ),
    ("convert-blob-id {decimal}", 0, str),
    ("read {blob_id}", 0, {"blobId", "blob"}),
    ("read {blob_id} --out {out}", 0, {"out", "blobId"}),
    ("read {blob_id} --out {out} --strict-consistency-check", 0, {"out", "blobId"}),
    ("read {blob_id} --skip-consistency-check", 0, {"blobId", "blob"}),
    ("read {missing_blob}", 1, None),
    ("blob-status --blob-id {blob_id}", 0, {"blobId", "status"}),
    ("blob-status --file {file}", 0, {"blobId", "file", "status"}),
    ("blob-status --blob-id {blob_id} --timeout 500ms", 0, {"blobId", "status"}),
    ("blob-status --blob-id {permanent_blob}", 0, {"blobId", "status", "estimatedExpiryTimestamp"}),
    ("list-blobs", 0, [BLOB]),
    ("list-blobs --include-expired", 0, [BLOB]),
    ("health --committee", 0, HEALTH),
    ("health --active-set --detail --sort-by name --desc --concurrent-requests 3", 0, HEALTH),
    ("health --node-ids {node_a} {node_b}", 0, HEALTH),
    ("health --node-id {node_a}", 0, HEALTH),
    ("health --node-urls {node_url}", 0, HEALTH),
    ("health --node-urls 127.0.0.1:1", 1, None),
    ("set-blob-attribute {object} --attr key1 value1 --attr key2 value2", 0, None),
    ("get-blob-attribute {object}", 0, {"attribute"}),
    ("remove-blob-attribute-fields {object} --keys key1 key2", 0, None),
    ("remove-blob-attribute {object}", 0, None),
    ("share --blob-obj-id {permanent_object}", 0, {"sharedBlobObjectId", "amount"}),
    ("share --blob-obj-id {permanent_object} --amount 1000", 0, {"sharedBlobObjectId", "amount"}),
    ("fund-shared-blob --shared-blob-obj-id {shared} --amount 1000", 0, {"amount"}),
    ("extend --blob-obj-id {shared} --shared --epochs-extended 1", 0, {"epochsExtended"}),
    ("extend --blob-obj-id {object} --epochs-extended 2", 0, {"epochsExtended"}),
    ("delete --blob-id {deletable_blob} --yes", 0, [DELETED]),
    ("delete --blob-ids {deletable_blob} {deletable_blob_2} --yes --no-status-check", 0, [DELETED]),
    ("delete --object-ids {deletable_object} {deletable_object_2} --yes", 0, [DELETED]),
    ("delete --object-id {deletable_object} --yes", 0, [DELETED]),
    ("delete --file {deletable_file} --yes", 0, [DELETED]),
    ("delete --files {deletable_file} {deletable_file_2} --yes", 0, [DELETED]),
    (
        "burn-blobs --object-ids {deletable_object} {deletable_object_2} --yes",
        0,
        {"burnedBlobObjectIds"},
    ),
    ("burn-blobs --all-expired --yes", 0, {"burnedBlobObjectIds"}),
    ("stake --node-ids {node_a} {node_b} --amounts 1000000000", 0, {"stakedWal"}),
    ("stake --node-id {node_a} --amount 2000000000", 0, {"stakedWal"}),
    ("list-staked-wal", 0, {"stakedWals"}),
    ("list-staked-wal --staked-only", 0, {"stakedWals"}),
    ("list-staked-wal --withdrawing-only", 0, {"stakedWals"}),
    ("request-withdraw-stake {node_c} --dry-run", 0, {"stakedWals"}),
    ("request-withdraw-stake {node_c} {staked_wal} --dry-run", 0, {"stakedWals"}),
    ("withdraw-stake {staked_wal}", 0, {"stakedWalIds", "txDigest"}),
    ("withdraw-stake {staked_wal} {staked_wal_2}", 0, {"stakedWalIds", "txDigest"}),
    ("generate-sui-wallet --path {new_path}", 0, {"walletAddress"}),
    (
        "generate-sui-wallet --path {new_path} --sui-network localnet --use-faucet",
        0,
        {"walletAddress"},
    ),
    ("get-wal", 0, {"digest", "address", "wal", "gas", "coin"}),
    ("get-wal --amount 500000000", 0, {"digest", "address", "wal", "gas", "coin"}),
]

JSON_ROWS: list[tuple[dict[str, Any], int, Any]] = [
    # The docs' examples (docs/content/walrus-client/json-mode.mdx), then more verbs.
    ({"command": {"store": {"files": ["{new_file}", "{new_file}"], "epochs": 5}}}, 0, [STORED]),
    ({"command": {"read": {"blobId": "{blob_id}", "out": "{out}"}}}, 0, {"out", "blobId"}),
    ({"command": {"read": {"blobId": "{blob_id}"}}}, 0, {"blobId", "blob"}),
    ({"command": {"store": {"files": ["{new_file}"], "epochs": "max"}}}, 0, [STORED]),
    (
        {"command": {"blobStatus": {"blobId": "{blob_id}", "timeout": {"secs": 1, "nanos": 0}}}},
        0,
        {"blobId", "status"},
    ),
    ({"command": {"info": {"command": {"all": {}}}}}, 0, {*INFO, "committeeInfo", "bftInfo"}),
    (
        {"command": {"info": {"command": "bft"}}},
        0,
        {"maxFaultyShards", "minCorrectShards", "quorumThreshold", "minNodesAbove", "shardsAbove"},
    ),
    ({"command": {"health": {"committee": True}}}, 0, HEALTH),
    ({"command": {"listBlobs": {}}}, 0, [BLOB]),
    (
        {"command": {"setBlobAttribute": {"blobObjId": "{object}", "attributes": ["k", "v"]}}},
        0,
        None,
    ),
    ({"command": {"getBlobAttribute": {"blobObjId": "{object}"}}}, 0, {"attribute"}),
    ({"command": {"removeBlobAttributeFields": {"blobObjId": "{object}", "keys": ["k"]}}}, 0, None),
    ({"command": {"delete": {"objectIds": ["{deletable_object}"], "yes": True}}}, 0, [DELETED]),
    (
        {"command": {"burnBlobs": {"objectIds": ["{deletable_object}"], "yes": True}}},
        0,
        {"burnedBlobObjectIds"},
    ),
    ({"command": {"stake": {"nodeIds": ["{node_a}"], "amounts": [1000000000]}}}, 0, {"stakedWal"}),
    ({"command": {"listStakedWal": {"stakedOnly": True}}}, 0, {"stakedWals"}),
    (
        {"command": {"withdrawStake": {"stakedWalIds": ["{staked_wal}"]}}},
        0,
        {"stakedWalIds", "txDigest"},
    ),
    ({"command": {"convertBlobId": {"blobIdDecimal": "{decimal}"}}}, 0, str),
    (
        {"command": {"blobId": {"file": "{file}", "nShards": 100}}},
        0,
        BLOB_ID_OUTPUT,
    ),
    ({"config": "{config}", "command": {"info": {}}}, 0, INFO),
    (
        {
            "command": {
                "store": {
                    "files": ["{new_file}"],
                    "epochs": 1,
                    "permanent": True,
                    "deletable": True,
                }
            }
        },
        2,
        None,
    ),
]


class Objects:
    """Fresh objects on the testbed for the rows' placeholders."""

    def __init__(self, network: Network, root: Path) -> None:
        self.network = network
        self.root = root
        self.count = 0
        self.file = self.new_file()
        stored = self.store(self.file.read_bytes())
        self.blob_id = stored["blobId"]
        self.object = stored["id"]
        self.permanent_blob = self.store(random.randbytes(900), deletable=False)["blobId"]
        committee = asyncio.run(network.committee())
        nodes = sorted(committee.members, key=lambda m: m.node_id)
        self.node_a, self.node_b, self.node_c = (m.node_id for m in nodes[:3])
        self.node_url = nodes[0].url.removeprefix("http://")
        self.end_epoch = committee.epoch + 3
        self.staked()  # node C always has a StakedWal to request the withdrawal of

    def new_file(self) -> Path:
        self.count += 1
        path = self.root / f"file-{self.count}.bin"
        path.write_bytes(random.randbytes(600 + self.count))
        return path

    def store(self, data: bytes, deletable: bool = True) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            async with self.network.client() as client:
                result = await client.store(data, StoreOptions(epochs=2, deletable=deletable))
                return dict(result["newlyCreated"]["blobObject"])

        return asyncio.run(go())

    def shared(self) -> str:
        permanent = self.store(random.randbytes(700), deletable=False)

        async def go() -> str:
            async with self.network.client() as client:
                return str((await client.blobs().share(permanent["id"], 10**8))["sharedBlobObject"])

        return asyncio.run(go())

    def staked(self) -> str:
        async def go() -> str:
            async with self.network.client() as client:
                account = client.account
                stakes = await chain_ops.stake_many(client.chain, account, [(self.node_c, 10**9)])
                return stakes.staked[0].id

        return asyncio.run(go())

    def value(self, name: str) -> str:
        """The placeholder's value: a fresh object where the row consumes one."""
        base = name.removesuffix("_2")
        if base == "new_file":
            return str(self.new_file())
        if base == "deletable_file":
            path = self.new_file()
            self.store(path.read_bytes())
            return str(path)
        if base in ("deletable_blob", "deletable_object"):
            stored = self.store(random.randbytes(650))
            return str(stored["blobId"] if base == "deletable_blob" else stored["id"])
        if base == "permanent_object":
            return str(self.store(random.randbytes(650), deletable=False)["id"])
        if base == "shared":
            return self.shared()
        if base == "staked_wal":
            return self.staked()
        if base == "new_path":
            self.count += 1
            return str(self.root / f"wallet-{self.count}.keystore")
        if base == "out":
            return str(self.root / "out.bin")
        if base == "missing_blob":
            return str(BlobId(bytes(32)))
        if base == "decimal":
            return str(BlobId.parse(self.blob_id).as_u256)
        if base == "config":
            return str(self.network.config_path)
        if base == "file":
            return str(self.file)
        return str(getattr(self, base))

    def fill(self, template: str) -> str:
        return re.sub(r"\{([a-z_0-9]+)\}", lambda m: self.value(m.group(1)), template)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_testbed(tmp_path_factory.mktemp("conformance"), nodes=5)


@pytest.fixture(scope="module")
def objects(network: Network, tmp_path_factory: pytest.TempPathFactory) -> Objects:
    return Objects(network, tmp_path_factory.mktemp("conformance-files"))


def run(network: Network, argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--config", str(network.config_path), *argv])
    return code, out.getvalue(), err.getvalue()


def check(code: int, out: str, err: str, expected_code: int, keys: Any) -> None:
    assert code == expected_code, (out, err)
    if expected_code != 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), err
        return
    if keys is None:
        return
    value = json.loads(out)
    if isinstance(keys, type):
        assert isinstance(value, keys), value
    elif isinstance(keys, list):
        assert isinstance(value, list) and value, value
        for item in value:
            assert keys[0] <= set(item), (keys[0] - set(item), item)
    else:
        assert set(value) == keys, (set(value) ^ keys, value)


@pytest.mark.parametrize(("invocation", "code", "keys"), ROWS, ids=[r[0] for r in ROWS])
def test_upstream_invocation(
    network: Network, objects: Objects, invocation: str, code: int, keys: Any
) -> None:
    argv = [*objects.fill(invocation).split(), "--json"]
    check(*run(network, argv), code, keys)


@pytest.mark.parametrize(
    ("document", "code", "keys"),
    JSON_ROWS,
    ids=[json.dumps(r[0]["command"])[:60] for r in JSON_ROWS],
)
def test_json_invocation(
    network: Network, objects: Objects, document: dict[str, Any], code: int, keys: Any
) -> None:
    # `walrus json` ignores the command line's options: the config comes in the document.
    text = objects.fill(json.dumps({"config": "{config}", **document}))
    check(*run(network, ["json", text]), code, keys)
