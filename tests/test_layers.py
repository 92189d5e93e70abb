"""The floors of the house, read from the source: which module may import which.

Every `import` in `src/pywalrus` is read with `ast`, those inside functions and
`if TYPE_CHECKING:` blocks included, relative ones resolved. Each test below is one rule; a
failure lists every import that breaks it as `file:line: importer -> imported`, under the rule.
The picture the rules enforce (also printed by `test_the_floor_picture`):

    cli/   pywalrus/__init__.py   demo.py     the `walrus` command and the public facade (top)
    services/                                 HTTP services over the SDK (issue 11; empty for now)
    client/                  node/            side by side: neither imports the other
    network/                                  what both speak to nodes with: NodeClient, routes,
                                              error envelope, committee view, verified fetches
    chain/                                    the chain client floor (client, wallet, schema, tx,
                                              objects, checkpoints) | the chain service
    core/                                     the pure protocol

    beside the floors: testbed/ and testing/ may import any floor and are imported only by the
    top floor; runtime.py (process plumbing) imports only the standard library and core, and
    is imported by chain, node, services, cli and the tools.

An import may go down any number of floors, never up and never sideways. The chain service
(ledger, store, contracts, RPC server, service, prechecks, the contracts' context) is imported
only by chain/ itself and the tools, and nothing of the chain client floor reaches it, however
indirectly: a process that only talks to the chain (the SDK, the CLI, a storage node) never
loads the ledger, SQLite or the contracts.

Not counted: `walrus chain` and `walrus node` load their services by name at run time
(`importlib.import_module(f"pywalrus.{kind}.service")`), the entry points of those processes.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "pywalrus"
CORE = ("pywalrus.core", "pywalrus._native")
"""The pure core, with its optional C accelerator (`_native.c`)."""

Room = tuple[str, tuple[str, ...]]
"""A name, and the module prefixes in the room."""
FLOORS: tuple[tuple[Room, ...], ...] = (
    (("cli/ pywalrus/__init__.py demo.py", ("pywalrus.cli", "pywalrus.demo")),),
    (("services/", ("pywalrus.services",)),),
    (("client/", ("pywalrus.client",)), ("node/", ("pywalrus.node",))),
    (("network/", ("pywalrus.network",)),),
    (("chain/", ("pywalrus.chain",)),),
    (("core/", CORE),),
)
"""Top to bottom, the rooms of each floor; rooms on one floor stand side by side. The package
itself (`pywalrus/__init__.py`, the public facade) is on the top floor."""
TOOLS = ("pywalrus.testbed", "pywalrus.testing")
RUNTIME = "pywalrus.runtime"
RUNTIME_USERS = ("pywalrus.chain", "pywalrus.node", "pywalrus.services", "pywalrus.cli", *TOOLS)
CHAIN_CLIENT_FLOOR = (
    "pywalrus.chain",
    *(
        f"pywalrus.chain.{m}"
        for m in ("client", "wallet", "schema", "tx", "objects", "checkpoints")
    ),
)
"""The part of chain/ that talks to a chain: what client/, network/ and node/ may import."""
IO_LIBRARIES = {"aiohttp", "asyncio", "http", "lmdb", "selectors", "socket", "sqlite3"}
IO_LIBRARIES |= {"subprocess", "urllib"}
"""What the pure core never imports."""
PENDING: dict[tuple[str, str], str] = {}
"""Imports that break a rule and are known, each with what removes it (issue 10, stage 2).
An entry that no longer matches an import fails `test_no_stale_exemptions`."""


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: Path
    line: int

    def __str__(self) -> str:
        where = f"src/{self.path.relative_to(SRC)}:{self.line}"
        return f"{where}: {self.importer} -> {self.imported}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def within(module: str, prefixes: tuple[str, ...] | str) -> bool:
    """Whether `module` is one of `prefixes` or inside one of them."""
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def imports_of(module: str, path: Path, modules: Collection[str]) -> Iterator[Import]:
    """Every import in the module's source (all of it: functions, TYPE_CHECKING blocks), as the
    module or submodule it names (`from a import b` names `a.b` if that is one of `modules`);
    `importlib.import_module("…")` with a literal name too."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in dict.fromkeys(names):
            yield Import(module, name, path, getattr(node, "lineno", 0))


ALL_IMPORTS = [i for module, path in MODULES.items() for i in imports_of(module, path, MODULES)]
OURS = [i for i in ALL_IMPORTS if within(i.imported, PACKAGE)]


def room_of(module: str) -> tuple[int, str] | None:
    """(floor number counted from the bottom, room name) of a module on the floors; None for
    the tools, runtime.py and modules outside pywalrus."""
    for top_index, rooms in enumerate(FLOORS):
        for name, prefixes in rooms:
            if within(module, prefixes) or (module == PACKAGE and top_index == 0):
                return len(FLOORS) - 1 - top_index, name
    return None


def is_chain_service(module: str) -> bool:
    return within(module, "pywalrus.chain") and module not in CHAIN_CLIENT_FLOOR


def pending(imp: Import) -> bool:
    return (imp.importer, imp.imported) in PENDING


def fail_with(rule: str, broken: list[Import], extra: str = "") -> None:
    listing = "\n".join(f"  {imp}" for imp in broken)
    assert not broken, f"\nRULE: {rule}\n{extra}{len(broken)} import(s) break it:\n{listing}"


def test_the_floor_picture() -> None:
    """Every module of pywalrus stands on a floor or beside them; prints the picture checked."""
    lost = [m for m in MODULES if room_of(m) is None and not within(m, (*TOOLS, RUNTIME))]
    assert not lost, f"modules on no floor (add them to FLOORS in tests/test_layers.py): {lost}"
    count: dict[str, int] = {}
    for module in MODULES:
        room = room_of(module)
        key = room[1] if room else next(t for t in (*TOOLS, RUNTIME) if within(module, t))
        count[key] = count.get(key, 0) + 1
    service = sum(1 for m in MODULES if is_chain_service(m))
    lines = ["", "Floors checked, top to bottom (an import goes down, never up or sideways):"]
    for rooms in FLOORS:
        lines.append("    " + "      ".join(f"{name} ({count.get(name, 0)})" for name, _ in rooms))
        if rooms[0][0] == "chain/":
            client = count.get("chain/", 0) - service
            lines[-1] += f": chain client floor ({client}) | chain service ({service})"
    tools = ", ".join(f"{t.split('.')[-1]}/ ({count.get(t, 0)})" for t in TOOLS)
    lines.append(f"  beside: {tools} import any floor; runtime.py: stdlib and core only")
    lines.append(f"  {len(MODULES)} modules, {len(OURS)} imports among them")
    for (importer, imported), why in PENDING.items():
        lines.append(f"  known, pending: {importer} -> {imported}: {why}")
    print("\n".join(lines))


def test_no_import_runs_up_a_floor() -> None:
    broken = []
    for imp in OURS:
        source, target = room_of(imp.importer), room_of(imp.imported)
        if source and target and target[0] > source[0]:
            broken.append(imp)
    fail_with("an import goes down a floor, never up (core < chain < network < ... < cli)", broken)


def test_client_and_node_stand_side_by_side() -> None:
    broken = []
    for imp in OURS:
        source, target = room_of(imp.importer), room_of(imp.imported)
        if source and target and source[0] == target[0] and source[1] != target[1]:
            broken.append(imp)
    fail_with(
        "rooms of one floor never import each other: node/ never imports client/, nor client/"
        " node/ (what both need lives in network/ or below)",
        broken,
    )


def test_core_is_pure() -> None:
    broken = [
        imp
        for imp in ALL_IMPORTS
        if within(imp.importer, CORE)
        and (
            imp.imported.split(".")[0] in IO_LIBRARIES
            or (within(imp.imported, PACKAGE) and not within(imp.imported, CORE))
        )
    ]
    fail_with(
        "core/ is pure: it imports nothing of pywalrus outside core/ and no I/O library"
        f" ({', '.join(sorted(IO_LIBRARIES))})",
        broken,
    )


def test_the_chain_service_stays_in_the_chain() -> None:
    broken = [
        imp
        for imp in OURS
        if is_chain_service(imp.imported)
        and not within(imp.importer, ("pywalrus.chain", *TOOLS))
        and not pending(imp)
    ]
    fail_with(
        "the chain service (ledger, store, contracts, server, service, prechecks, context) is"
        " imported only by chain/ and the tools; client/, network/ and node/ use the chain"
        f" client floor: {', '.join(m.split('.')[-1] for m in CHAIN_CLIENT_FLOOR[:-1])}",
        broken,
    )


def test_the_chain_client_floor_never_reaches_the_chain_service() -> None:
    """Followed transitively from each module of the chain client floor (chain/client.py
    first): the path to the first chain service module reached is reported."""
    edges: dict[str, list[Import]] = {}
    for imp in OURS:
        edges.setdefault(imp.importer, []).append(imp)
    broken = []
    paths = []
    for start in CHAIN_CLIENT_FLOOR:
        if start not in MODULES:
            continue
        seen = {start}
        queue: list[tuple[str, list[Import]]] = [(start, [])]
        while queue:
            module, path = queue.pop(0)
            for imp in edges.get(module, []):
                if imp.imported in seen:
                    continue
                seen.add(imp.imported)
                if is_chain_service(imp.imported):
                    broken.append(imp)
                    paths.append(" -> ".join([start, *(i.imported for i in [*path, imp])]))
                else:
                    queue.append((imp.imported, [*path, imp]))
    fail_with(
        "nothing the chain client floor imports, however indirectly, is the chain service",
        broken,
        "".join(f"  path: {p}\n" for p in paths),
    )


def test_tools_are_imported_only_from_the_top() -> None:
    top = FLOORS[0][0][1]
    broken = [
        imp
        for imp in OURS
        if within(imp.imported, TOOLS) and not within(imp.importer, (*top, *TOOLS))
    ]
    fail_with("testbed/ and testing/ are imported only by cli/, demo.py and each other", broken)


def test_runtime_is_plumbing() -> None:
    stdlib = sys.stdlib_module_names
    broken = [
        imp
        for imp in ALL_IMPORTS
        if imp.importer == RUNTIME
        and imp.imported.split(".")[0] not in stdlib
        and not within(imp.imported, CORE)
    ]
    broken += [
        imp for imp in OURS if imp.imported == RUNTIME and not within(imp.importer, RUNTIME_USERS)
    ]
    fail_with(
        "runtime.py imports only the standard library and core; chain, node, services, cli and"
        " the tools import it",
        broken,
    )


def test_no_stale_exemptions() -> None:
    found = {(imp.importer, imp.imported) for imp in OURS}
    stale = [pair for pair in PENDING if pair not in found]
    assert not stale, f"these imports are gone: remove them from PENDING: {stale}"


def test_the_reader_sees_every_kind_of_import(tmp_path: Path) -> None:
    """Imports inside functions and TYPE_CHECKING blocks, relative ones, submodules named by
    `from package import module`, and literal `importlib.import_module` calls."""
    source = """
from typing import TYPE_CHECKING
from . import sibling
from ..other import thing
from .. import other

if TYPE_CHECKING:
    from pkg.deep.typing_only import T

def late():
    import pkg.lazy
    importlib.import_module("pkg.by_name")
"""
    path = tmp_path / "module.py"
    path.write_text(source)
    modules = {"pkg.sub.sibling", "pkg.other", "pkg.sub.module"}
    found = [(i.imported, i.line) for i in imports_of("pkg.sub.module", path, modules)]
    assert sorted(found) == [
        ("pkg.by_name", 12),
        ("pkg.deep.typing_only", 8),
        ("pkg.lazy", 11),
        ("pkg.other", 4),
        ("pkg.other", 5),
        ("pkg.sub.sibling", 3),
        ("typing", 2),
    ]
