"""The house's rules, read from the code's own imports and definitions (ast; nothing is run).

- The shell (`canhbao/`) imports no domain; only the composition root (`canhbao/app.py`, the
  adapters it builds in `canhbao/adapters/`) and the command line (`canhbao/cli.py`) know them.
- A domain imports no other domain, except the published contracts listed in PUBLISHED (value
  types, events and pure functions); everything else crosses through ports the composition root
  fills.
- The module import graph has no circle (imports under TYPE_CHECKING and inside functions count:
  a circle hidden in a function is still a circle).
- No module outside tests and bench/ over 600 lines; no class over 30 methods; no `Any` in a
  port, nor in any typing Protocol (a port need not live in ports.py), spelt directly, quoted
  or through an alias.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHELL = "canhbao"
DOMAINS = (
    "notify",
    "feeds",
    "geofences",
    "alerting",
    "hotline",
    "dispatch",
    "cameras",
    "public",
    "exercises",
    "simulator",
)
PACKAGES = (SHELL, *DOMAINS)
# The composition root: create_app, the command line, and the adapters create_app builds to join
# two domains (canhbao/adapters/).
COMPOSITION = ("canhbao.app", "canhbao.cli", "canhbao.adapters")
# Published contracts: the modules any domain may import from another. Each holds plain value
# types, events and pure functions over them (no I/O, no state, nothing that reaches back):
# notify's message and error types and its TwiML writer, which every sender of a message
# speaks; feeds' stations, levels and threshold events, which every domain quotes. Everything
# else crosses through a port that the composition root fills.
PUBLISHED = {
    "notify.models",
    "notify.errors",
    "notify.events",
    "notify.ports",
    "notify.twiml",
    "feeds.models",
    "feeds.levels",
    "feeds.thresholds",
}
MAX_LINES = 600
MAX_METHODS = 30


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        root = REPO / package
        if not root.is_dir():
            continue
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module of ours that `name` imports, with the line, wherever the import stands."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _ours(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if candidate in MODULES:
                    yield candidate, node.lineno
                else:
                    yield from _ours(base, node.lineno)


def _ours(module: str, line: int) -> Iterator[tuple[str, int]]:
    # `import a.b.c` names a.b.c; the nearest module of ours on the way up is the arrow's head.
    parts = module.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            yield candidate, line
            return
        parts.pop()


GRAPH: dict[str, set[str]] = {
    name: {target for target, _ in _imports(name, path) if target != name}
    for name, path in MODULES.items()
}


def _package(module: str) -> str:
    return module.split(".")[0]


def test_the_shell_imports_no_domain() -> None:
    arrows = sorted(
        f"{name} → {target}"
        for name, targets in GRAPH.items()
        if _package(name) == SHELL and not name.startswith(COMPOSITION)
        for target in targets
        if _package(target) in DOMAINS
    )
    assert arrows == []


def test_domains_meet_only_through_published_contracts() -> None:
    arrows = sorted(
        f"{name} → {target}"
        for name, targets in GRAPH.items()
        if _package(name) in DOMAINS
        for target in targets
        if _package(target) in DOMAINS
        and _package(target) != _package(name)
        and target not in PUBLISHED
    )
    assert arrows == []


def test_the_import_graph_has_no_circle() -> None:
    circles = [sorted(component) for component in _components(GRAPH) if len(component) > 1]
    assert circles == []


def _components(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively (no recursion limit to meet)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name}: {lines} lines; split it by concern"
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            methods = [
                item
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            assert len(methods) <= MAX_METHODS, f"{name}.{node.name}: {len(methods)} methods"


def _is_protocol_base(base: ast.expr) -> bool:
    """typing's Protocol, generic or not (`Protocol[T]`); asyncio.Protocol is a transport."""
    if isinstance(base, ast.Subscript):
        base = base.value
    if isinstance(base, ast.Name):
        return base.id == "Protocol"
    return (
        isinstance(base, ast.Attribute)
        and base.attr == "Protocol"
        and isinstance(base.value, ast.Name)
        and base.value.id in {"typing", "typing_extensions"}
    )


def _protocols(tree: ast.Module) -> Iterator[ast.ClassDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(_is_protocol_base(b) for b in node.bases):
            yield node


def _says_any(node: ast.AST, aliases: set[str]) -> bool:
    return any(
        (isinstance(part, ast.Name) and (part.id == "Any" or part.id in aliases))
        or (isinstance(part, ast.Attribute) and part.attr == "Any")
        # A quoted annotation (or one under `from __future__ import annotations` written as
        # a string on purpose) is read too.
        or (
            isinstance(part, ast.Constant)
            and isinstance(part.value, str)
            and _says_any(_expression(part.value), aliases)
        )
        for part in ast.walk(node)
    )


def _expression(text: str) -> ast.AST:
    try:
        return ast.parse(text, mode="eval")
    except SyntaxError:
        return ast.Constant(None)


def _own_aliases(tree: ast.Module) -> set[str]:
    """A module's module-level names for a type holding Any (`Json = dict[str, Any]`)."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and _says_any(value, found):
            found.add(target.id)
    return found


def _any_aliases() -> dict[str, set[str]]:
    """Per module, the names that stand for a type holding Any: its own module-level aliases
    (`Json = dict[str, Any]`) and those it imports from a module of ours."""
    trees = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}
    own = {name: _own_aliases(tree) for name, tree in trees.items()}
    aliases = {name: set(found) for name, found in own.items()}
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in own:
                for alias in node.names:
                    if alias.name in own[node.module]:
                        aliases[name].add(alias.asname or alias.name)
    return aliases


def test_ports_speak_typed_words() -> None:
    """No Any in a port, nor in any other typing Protocol (a port need not live in ports.py),
    however it is spelt: directly, quoted, or through an alias that holds it."""
    aliases = _any_aliases()
    offenders = [
        f"{name}.{protocol.name}:{node.lineno}"
        for name, path in MODULES.items()
        for protocol in _protocols(ast.parse(path.read_text(encoding="utf-8")))
        for node in protocol.body
        if _says_any(node, aliases[name])
    ]
    assert offenders == []


def test_the_any_rule_sees_every_spelling() -> None:
    """The reader behind test_ports_speak_typed_words finds Any spelt every way we know."""
    source = """
import typing, asyncio
from typing import Any, Protocol
Json = dict[str, Any]
Rows = list[Json]
class Plain(Protocol):
    def a(self) -> Any: ...
class Aliased(typing.Protocol):
    def b(self) -> Rows: ...
class Generic(Protocol[T]):
    x: "dict[str, Any]"
class Clean(Protocol):
    def c(self) -> dict[str, object]: ...
class Transport(asyncio.Protocol):
    def d(self) -> Any: ...
"""
    tree = ast.parse(source)
    aliases = _own_aliases(tree)
    flagged = sorted(
        protocol.name
        for protocol in _protocols(tree)
        if any(_says_any(node, aliases) for node in protocol.body)
    )
    assert aliases == {"Json", "Rows"}
    assert flagged == ["Aliased", "Generic", "Plain"]


def test_the_rules_see_the_code() -> None:
    """A rule over an empty graph proves nothing: the reader must find our arrows."""
    assert "canhbao.app" in MODULES
    assert {"alerting", "feeds", "geofences", "hotline", "notify"} <= {
        _package(target) for target in GRAPH["canhbao.app"]
    }
    assert "canhbao.db" in GRAPH["canhbao.audit"]
