"""The `walrus` command without a network: start-up imports, exit codes, argument forms,
`walrus json`, output formats, store lifetimes, config discovery and testbed directories.

Most cases run `main()` in this process (the parsing under test is the same, and it keeps
the module fast); start-up and exit-code cases that depend on the process run it for real.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import click
import pytest

from pywalrus.chain.wallet import Wallet
from pywalrus.cli import json_mode, output
from pywalrus.cli.main import cli, main
from pywalrus.cli.params import WalrusCommand
from pywalrus.client.config import ClientConfig, find_config
from pywalrus.client.store_plan import ChainTime, epochs_ahead
from pywalrus.core.accounts import Account
from pywalrus.core.errors import ConfigError, StoreRefused
from pywalrus.core.types import BlobId
from testbed_harness import walrus_text

HYPHEN_ID = "-" + "A" * 41 + "E"
"""A blob ID that starts with `-` (one in 64 do)."""
BlobId.parse(HYPHEN_ID)


walrus = walrus_text


def in_process(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def one_line(code: int, err: str, expected_code: int, *needles: str) -> None:
    assert code == expected_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]


def loaded_modules(*args: str) -> set[str]:
    """The modules a real `walrus ARGS` process has imported when it exits."""
    probe = (
        "import sys\nfrom pywalrus.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "sys.__stdout__.write('\\n'.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60
    )
    return set(result.stdout.splitlines())


def test_help_imports_neither_aiohttp_nor_the_chain() -> None:
    modules = loaded_modules("--help")
    assert "pywalrus.cli.main" in modules and "click" in modules
    heavy = {m for m in modules if m.split(".")[0] in ("aiohttp", "numpy", "yaml", "rich")}
    assert heavy == set()
    assert not {m for m in modules if m.startswith(("pywalrus.chain", "pywalrus.client"))}


def test_offline_blob_id_imports_no_network_code(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)
    modules = loaded_modules("blob-id", str(path), "--n-shards", "10")
    assert "pywalrus.core.encoding" in modules
    assert not {m for m in modules if m.startswith(("aiohttp", "pywalrus.chain"))}


def test_no_arguments_prints_the_help_and_exits_2() -> None:
    result = walrus()
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Usage: walrus" in result.stderr and "Traceback" not in result.stderr
    assert "store" in result.stderr and "blob-status" in result.stderr
    version = walrus("-V")
    assert version.returncode == 0 and version.stdout.startswith("walrus, version ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("store", "f", "--epochs", "1", "--end-epoch", "3"), "--epochs, --end-epoch"),
        (("store", "f", "--epochs", "2", "--earliest-expiry-time", "2030-01-01T00:00:00Z"), ""),
        (("store", "f", "--permanent", "--deletable"), "--permanent, --deletable"),
        (("store", "f", "--share"), "--share needs --permanent"),
        (("store", "f", "--epochs", "0"), "invalid epoch count"),
        (("store", "f", "--epochs", "forever"), "invalid epoch count"),
        (("store", "f", "--earliest-expiry-time", "tomorrow"), "invalid time"),
        (("store",), "Missing argument"),
        (("read",), "Missing argument"),
        (("read", "not-a-blob-id"), "is invalid"),
        (("read", HYPHEN_ID, "--strict-consistency-check", "--skip-consistency-check"), ""),
        (("blob-status",), "exactly one of --file, --blob-id"),
        (("blob-status", "--blob-id", HYPHEN_ID, "--file", "x"), "exactly one"),
        (("blob-status", "--blob-id", HYPHEN_ID, "--timeout", "soon"), "invalid duration"),
        (("health",), "exactly one of --node-ids"),
        (("health", "--committee", "--active-set"), "exactly one"),
        (("burn-blobs",), "exactly one of --object-ids"),
        (("burn-blobs", "--all", "--all-expired"), "exactly one"),
        (("delete",), "no files, blob IDs, or object IDs"),
        (("delete", "--object-ids", "nothex"), "invalid address"),
        (("list-staked-wal", "--staked-only", "--withdrawing-only"), "cannot be used together"),
        (("withdraw-stake",), "Missing argument"),
        (("stake",), "Missing option"),
        (("extend", "--blob-obj-id", "0x1"), "Missing option"),
        (("no-such-verb",), "No such command"),
        (("store", "f", "--bogus"), "No such option"),
        (("json", "{not json"), "invalid JSON"),
        (("json", '{"command": {"store": {"files": ["f"], "noSuchFlag": 1}}}'), "noSuchFlag"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], needle: str) -> None:
    code, out, err = in_process(*args)
    one_line(code, err, 2, needle)
    assert out == ""


def test_a_decimal_blob_id_gets_upstream_hint() -> None:
    blob_id = BlobId.parse(HYPHEN_ID)
    code, _, err = in_process("read", str(blob_id.as_u256))
    one_line(code, err, 2, "decimal format", HYPHEN_ID)
    code, out, _ = in_process("convert-blob-id", str(blob_id.as_u256))
    assert (code, out) == (0, f"Walrus blob ID: {HYPHEN_ID}\n")
    code, _, err = in_process("convert-blob-id", HYPHEN_ID)
    one_line(code, err, 1, "already a valid Walrus blob ID", str(blob_id.as_u256))


def test_upstream_argument_forms_are_normalised() -> None:
    delete = cli.commands["delete"]
    assert isinstance(delete, WalrusCommand)
    # num_args = 1..: several values after one flag become repeated flags.
    assert delete.normalise(["--object-ids", "0x1", "0x2", "--yes"]) == [
        "--object-ids",
        "0x1",
        "--object-ids",
        "0x2",
        "--yes",
    ]
    # A blob ID starting with "-" is a value of --blob-ids, not an option.
    assert delete.normalise(["--blob-ids", HYPHEN_ID, "--no-status-check"]) == [
        "--blob-ids",
        HYPHEN_ID,
        "--no-status-check",
    ]
    read = cli.commands["read"]
    assert isinstance(read, WalrusCommand)
    assert read.normalise([HYPHEN_ID, "--out", "f"]) == ["--out", "f", "--", HYPHEN_ID]
    assert read.normalise(["--out", HYPHEN_ID]) == ["--out", HYPHEN_ID]
    ctx = read.make_context("read", [HYPHEN_ID, "--out", "x"])
    assert str(ctx.params["blob_id"]) == HYPHEN_ID and ctx.params["out"] == Path("x")


def test_walrus_json_reaches_every_flag() -> None:
    def argv(command: dict[str, object], **top: object) -> list[str]:
        return json_mode.to_argv(json.dumps({"command": command, **top}), cli)

    assert argv({"read": {"blobId": HYPHEN_ID, "out": "o"}}, config="c.yaml") == [
        "--json",
        "--config",
        "c.yaml",
        "read",
        "--out",
        "o",
        "--",
        HYPHEN_ID,
    ]
    assert argv({"store": {"files": ["a", "b"], "epochs": "max", "permanent": True}})[1:] == [
        "store",
        "--epochs",
        "max",
        "--permanent",
        "--",
        "a",
        "b",
    ]
    # Attribute commands: the object ID is positional, pairs are `--attr KEY VALUE`.
    assert argv({"setBlobAttribute": {"blobObjId": "0x5", "attributes": ["k", "v", "k2", "v2"]}})[
        1:
    ] == ["set-blob-attribute", "--attr", "k", "v", "--attr", "k2", "v2", "--", "0x5"]
    assert argv({"removeBlobAttributeFields": {"blobObjId": "0x5", "keys": ["a", "b"]}})[1:] == [
        "remove-blob-attribute-fields",
        "--keys",
        "a",
        "--keys",
        "b",
        "--",
        "0x5",
    ]
    assert argv({"burnBlobs": {"all": True, "yes": True}})[1:] == ["burn-blobs", "--all", "--yes"]
    assert argv({"info": {"command": {"all": {"sortBy": "id"}}}})[1:] == [
        "info",
        "all",
        "--sort-by",
        "id",
    ]
    assert argv({"info": {"command": "epoch"}})[1:] == ["info", "epoch"]
    assert argv({"nodeAdmin": {"command": {"collectCommission": {"nodeId": "0x7"}}}})[1:] == [
        "node-admin",
        "collect-commission",
        "--node-id",
        "0x7",
    ]
    # serde's Duration form, and the upstream verbs with positional arguments.
    assert argv({"blobStatus": {"blobId": HYPHEN_ID, "timeout": {"secs": 2, "nanos": 0}}})[1:] == [
        "blob-status",
        "--blob-id",
        HYPHEN_ID,
        "--timeout",
        "2.0s",
    ]
    assert argv({"requestWithdrawStake": {"nodeId": "0x1", "stakedWalIds": ["0x2"]}})[-3:] == [
        "--",
        "0x1",
        "0x2",
    ]
    assert argv({"write": {"files": ["a"]}}, gasBudget=5)[:4] == [
        "--json",
        "--gas-budget",
        "5",
        "write",
    ]


def test_sizes_and_amounts_print_as_upstream() -> None:
    # Upstream's own test vectors (walrus-service/src/client/cli.rs).
    for value, text in [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.00 KiB"),
        (1024 * 99, "99.0 KiB"),
        (1024 * 100, "100 KiB"),
        (1024 * 1023, "1023 KiB"),
        (1024**6, "1.00 EiB"),
        (2**64 - 1, "16.0 EiB"),
    ]:
        assert output.human_bytes(value) == text
    for mist, text in [
        (0, "0 MIST"),
        (10, "10 MIST"),
        (10_000, "10,000 MIST"),
        (100_000, "0.0001 SUI"),
        (100_001, "0.0001 SUI"),
        (1_000_000, "0.0010 SUI"),
        (9_123_456, "0.0091 SUI"),
        (10_000_000, "0.010 SUI"),
        (10_123_456, "0.010 SUI"),
        (123_456_789, "0.123 SUI"),
    ]:
        assert output.human_mist(mist) == text
    assert output.human_frost(1_500_000_000) == "1.500 WAL"
    assert output.exact_wal(1_500_000_000) == "1.5 WAL"


def test_store_lifetimes_are_checked_in_the_users_terms() -> None:
    hour = 3_600_000
    now = 1_800_000_000_000
    chain = ChainTime(
        epoch=4, max_epochs_ahead=53, epoch_duration_ms=hour, epoch_start_ms=now - 10, now_ms=now
    )
    assert epochs_ahead(chain, epochs="max") == 53
    assert epochs_ahead(chain, epochs=53) == 53
    with pytest.raises(StoreRefused, match="up to 53 epochs ahead; 54 epochs were requested"):
        epochs_ahead(chain, epochs=54)
    assert epochs_ahead(chain, end_epoch=5) == 1
    with pytest.raises(StoreRefused, match="end epoch 4 must be greater than the current epoch 4"):
        epochs_ahead(chain, end_epoch=4)
    with pytest.raises(StoreRefused, match="end epoch 60 is 56 epochs ahead"):
        epochs_ahead(chain, end_epoch=60)
    # An earliest expiry time: (T - epoch start) // duration + 1 epochs, as upstream counts;
    # one in the past (or now) is refused, not paid for.
    assert epochs_ahead(chain, earliest_expiry_ms=now + 1) == 1
    assert epochs_ahead(chain, earliest_expiry_ms=now - 10 + hour) == 2
    with pytest.raises(StoreRefused, match="is not in the future"):
        epochs_ahead(chain, earliest_expiry_ms=now - 5)
    with pytest.raises(StoreRefused, match="is not in the future"):
        epochs_ahead(chain, earliest_expiry_ms=now)
    with pytest.raises(StoreRefused, match="54 epochs ahead"):
        epochs_ahead(chain, earliest_expiry_ms=now - 10 + 53 * hour)
    # During an epoch change, the epoch is reckoned from now.
    changing = ChainTime(4, 53, hour, None, now)
    assert epochs_ahead(changing, earliest_expiry_ms=now + hour) == 2


def test_read_checks_the_destination_before_anything_else(tmp_path: Path) -> None:
    # No config exists: had the blob been fetched first, the error would name the config.
    missing = tmp_path / "missing" / "x"
    code, _, err = in_process("read", HYPHEN_ID, "--out", str(missing), "--config", "/nope.yaml")
    one_line(code, err, 1, f"directory '{missing.parent}' does not exist")
    code, _, err = in_process("read", HYPHEN_ID, "--out", str(tmp_path), "--config", "/nope.yaml")
    one_line(code, err, 1, "it is a directory")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "net"
    directory.mkdir()
    Wallet.create(directory / "wallet.keystore", Account.generate())
    (directory / "client_config.yml").write_text(
        "chain_url: http://127.0.0.1:1/\nwallet: wallet.keystore\n"
    )
    return directory


def test_config_discovery_follows_upstream(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WALRUS_CONFIG", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # client_config.yml is found as well as .yaml, in the working directory first.
    monkeypatch.chdir(config_dir)
    assert find_config() == config_dir / "client_config.yml"
    # A WALRUS_CONFIG naming a missing file is an error, not skipped.
    monkeypatch.setenv("WALRUS_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(ConfigError, match=r"gone.yaml' \(from \$WALRUS_CONFIG\) does not exist"):
        find_config()
    code, _, err = in_process("wallet", "address")
    one_line(code, err, 1, "gone.yaml", "does not exist")
    # Paths inside a config resolve relative to the config file, from any directory.
    monkeypatch.delenv("WALRUS_CONFIG")
    monkeypatch.chdir(tmp_path)
    config = ClientConfig.load(Path("net") / "client_config.yml")
    assert config.wallet_path == (config_dir / "wallet.keystore").resolve()
    code, out, _ = in_process("--config", "net/client_config.yml", "wallet", "address")
    assert (code, out.strip()) == (0, Wallet.load(config_dir / "wallet.keystore").active.address)


def test_contexts_and_wallet_override(config_dir: Path, tmp_path: Path) -> None:
    other = Account.generate()
    Wallet.create(tmp_path / "other.keystore", other)
    multi = config_dir / "multi.yaml"
    multi.write_text(
        "contexts:\n"
        "  local:\n    chain_url: http://127.0.0.1:1/\n    wallet: wallet.keystore\n"
        "  elsewhere:\n    chain_url: http://127.0.0.1:2/\n    wallet: ../other.keystore\n"
        "default_context: local\n"
    )
    assert ClientConfig.load(multi).chain_url == "http://127.0.0.1:1/"
    assert ClientConfig.load(multi, "elsewhere").wallet_path == (tmp_path / "other.keystore")
    with pytest.raises(ConfigError, match=r"no context 'nope' \(it has: elsewhere, local\)"):
        ClientConfig.load(multi, "nope")
    with pytest.raises(ConfigError, match="single context"):
        ClientConfig.load(config_dir / "client_config.yml", "local")
    code, out, _ = in_process("--config", str(multi), "--context", "elsewhere", "wallet", "address")
    assert (code, out.strip()) == (0, other.address)
    code, out, _ = in_process(
        "wallet", "address", "--config", str(multi), "--wallet", str(tmp_path / "other.keystore")
    )
    assert (code, out.strip()) == (0, other.address)


def test_testbed_up_refuses_unusable_directories(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("not a directory")
    code, _, err = in_process("testbed", "up", "--dir", str(file))
    one_line(code, err, 1, f"testbed directory '{file}' is a file")
    code, _, err = in_process("testbed", "up", "--dir", str(file / "below"))
    one_line(code, err, 1, "cannot create the testbed directory", "Not a directory")
    assert file.read_text() == "not a directory"


def test_completion_script() -> None:
    code, out, _ = in_process("completion", "--shell", "bash")
    assert code == 0 and "_WALRUS_COMPLETE" in out and "complete " in out
    code, _, err = in_process("completion", "--shell", "tcsh")
    one_line(code, err, 1, "tcsh", "bash, zsh, fish")


def test_every_verb_has_help_without_the_sdk() -> None:
    for name, command in cli.commands.items():
        ctx = click.Context(command, info_name=name, parent=click.Context(cli, info_name="walrus"))
        assert command.get_help(ctx), name
