"""The exception tree: one module defines every public error, its drawing is the hierarchy, and
every error is imported from there."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pywalrus
from pywalrus.core import errors

ROOT = Path(__file__).resolve().parents[1]
PRIVATE = {
    "pywalrus.chain.server": {"RpcError", "_Unrepresentable"},
    "pywalrus.cli.data_commands": {"Interrupted"},
    "pywalrus.cli.output": {"CliError", "UsageProblem"},
    "pywalrus.node.outcomes": {"Refused"},
    "pywalrus.node.shard_sync": {"ShardSyncSuperseded", "SourceUnavailable"},
    "pywalrus.services.http": {"ServiceError"},
}
"""Control-flow exceptions allowed outside `core/errors.py` (named in its docstring)."""


def tree_classes() -> dict[str, type[errors.WalrusError]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, errors.WalrusError)
        and value.__module__ == errors.__name__
    }


def drawn_edges() -> list[tuple[str, str, set[str]]]:
    """(class, parent, other bases) for every line of the drawing in the module docstring."""
    doc = errors.__doc__ or ""
    edges = []
    parents: list[str] = []
    for line in doc.splitlines():
        if line.strip() == "WalrusError":
            parents = ["WalrusError"]
            continue
        match = re.match(r"^ {4}((?:[│ ] {3})*)[├└]── (\w+)(?: \((\w+)\))?", line)
        if not parents or match is None:
            continue
        depth = len(match.group(1)) // 4 + 1
        assert depth <= len(parents), f"a line deeper than its parent: {line.strip()}"
        del parents[depth:]
        edges.append((match.group(2), parents[-1], {match.group(3)} - {None}))
        parents.append(match.group(2))
    return edges


def test_the_drawing_is_the_hierarchy() -> None:
    classes = tree_classes()
    edges = drawn_edges()
    assert {name for name, _, _ in edges} | {"WalrusError"} == set(classes), (
        "draw every class of pywalrus.core.errors in its docstring, and only those"
    )
    for name, parent, others in edges:
        bases = {base.__name__ for base in classes[name].__bases__}
        assert bases == {parent} | others, f"{name} is drawn under {parent} {others or ''}"


def test_no_other_module_defines_an_exception() -> None:
    stray = []
    for info in pkgutil.walk_packages(pywalrus.__path__, "pywalrus."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
                and info.name != errors.__name__
                and name not in PRIVATE.get(info.name, set())
            ):
                stray.append(f"{info.name}.{name}")
    assert stray == [], "define public errors in pywalrus/core/errors.py"


def test_errors_are_imported_from_core_errors() -> None:
    names = set(tree_classes())
    wrong = []
    for path in sorted(
        [*ROOT.glob("src/**/*.py"), *ROOT.glob("tests/*.py"), *ROOT.glob("benchmarks/*.py")]
    ):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module not in (
                errors.__name__,
                "pywalrus",
            ):
                wrong += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name} from {node.module}"
                    for alias in node.names
                    if alias.name in names
                ]
    assert wrong == [], "import errors from pywalrus.core.errors (or pywalrus)"
