"""Every benchmark module imports and has a main(): `make bench` cannot rot unnoticed."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import bench

MODULES = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def test_the_expected_benchmarks_exist() -> None:
    assert set(MODULES) >= {"alerting", "feeds", "geofences", "hotline", "outbox"}


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_module_imports_and_has_main(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.main)
