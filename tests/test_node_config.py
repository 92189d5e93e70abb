"""A node's config: test faults are typed and checked when the config is loaded; every refusal
of the node has its row in the one table of HTTP statuses and reasons."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pywalrus.core.errors import ConfigError
from pywalrus.network.envelope import STATUS_FOR_CODE
from pywalrus.node.api import HTTP_ERRORS
from pywalrus.node.config import NodeConfig
from pywalrus.node.faults import Faults
from pywalrus.node.outcomes import Refusal
from testbed_harness import walrus_text


def node_yaml(tmp_path: Path, **extra: Any) -> Path:
    config = {
        "name": "n0",
        "node_id": "0x" + "00" * 32,
        "port": 0,
        "protocol_key_file": "key",
        "wallet_file": "wallet.yaml",
        "chain_url": "http://127.0.0.1:1/",
        **extra,
    }
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_faults_named_in_the_config_are_on_and_only_those(tmp_path: Path) -> None:
    faults = NodeConfig.load(node_yaml(tmp_path, faults=["no_gc", "corrupt_slivers"])).faults
    assert faults == Faults(no_gc=True, corrupt_slivers=True)
    assert set(faults.names()) == {"no_gc", "corrupt_slivers"}
    assert Faults.parse(faults.names()) == faults
    assert NodeConfig.load(node_yaml(tmp_path)).faults == Faults()
    assert NodeConfig.load(node_yaml(tmp_path, faults=None)).faults == Faults()
    assert Faults().names() == ()


@pytest.mark.parametrize(
    ("faults", "named"),
    [
        (["no_gcc"], "'no_gcc'"),
        (["corrupt_slivers", "Corrupt_Metadata"], "'Corrupt_Metadata'"),
        ([3], "3"),
    ],
)
def test_an_unknown_fault_is_a_config_error_naming_it(
    tmp_path: Path, faults: list[object], named: str
) -> None:
    path = node_yaml(tmp_path, faults=faults)
    with pytest.raises(ConfigError) as caught:
        NodeConfig.load(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert f"unknown fault {named}" in message
    assert "no_gc" in message.partition("known:")[2]  # and says which ones exist


def test_faults_must_be_a_list(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="faults must be a list of fault names"):
        NodeConfig.load(node_yaml(tmp_path, faults="no_gc"))


def test_walrus_node_refuses_a_config_with_an_unknown_fault(tmp_path: Path) -> None:
    """The process exits at once with one line naming the fault, before touching the chain,
    the keys or the store."""
    result = walrus_text("node", "--config", node_yaml(tmp_path, faults=["no_batch_routes"]))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "unknown fault 'no_batch_routes'" in lines[0]
    assert not (tmp_path / "data").exists()


def test_every_refusal_has_one_http_status_and_reason() -> None:
    assert set(HTTP_ERRORS) == set(Refusal)
    for refusal, (status, reason) in HTTP_ERRORS.items():
        assert status in STATUS_FOR_CODE, refusal
        assert re.fullmatch(r"[A-Z][A-Z_]*[A-Z]", reason), refusal
    pairs = list(HTTP_ERRORS.values())
    assert len(set(pairs)) == len(pairs), "each (status, reason) names one refusal"
