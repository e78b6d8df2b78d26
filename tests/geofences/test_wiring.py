"""Geofences reaches other domains only through its ports, wired in create_app."""

from __future__ import annotations

import ast
import inspect
import re
import typing
from pathlib import Path

import geofences
from geofences import ports

PACKAGE = Path(geofences.__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_geofences_neither_imports_the_outbox_nor_reads_its_key() -> None:
    for path in PACKAGE.rglob("*.py"):
        modules = imported_modules(path)
        assert not any(m.startswith("notify.outbox") for m in modules), path
        assert "OUTBOX" not in path.read_text(encoding="utf-8"), path


def test_the_ports_speak_our_types_without_any() -> None:
    for _, protocol in inspect.getmembers(ports, inspect.isclass):
        if not getattr(protocol, "_is_protocol", False) or protocol is typing.Protocol:
            continue
        for name, member in inspect.getmembers(protocol, inspect.isfunction):
            hints = typing.get_type_hints(member)
            assert typing.Any not in hints.values(), f"{protocol.__name__}.{name}"


SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT INTO|DELETE FROM|UPDATE geofences_\w+ SET)\b")


def test_every_sql_statement_is_in_the_store() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "store" in path.relative_to(PACKAGE).parts:
            continue
        assert not SQL.search(path.read_text(encoding="utf-8")), path


def test_no_module_past_600_lines_nor_class_past_30_methods() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert text.count("\n") <= 600, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                methods = [
                    item
                    for item in node.body
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                ]
                assert len(methods) <= 30, f"{path}: {node.name}"
