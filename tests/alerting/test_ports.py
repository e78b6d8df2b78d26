"""Alerting meets other domains only through its ports, built by the composition root."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import shapely

from alerting.errors import InvalidArea, UnknownWards
from canhbao.adapters.alerting import GeofencesDirectory
from geofences.keys import GEOFENCES
from tests.conftest import REPO, AppClient
from tests.geofences.conftest import load_hue

ALERTING = REPO / "alerting"


def _modules() -> list[Path]:
    return sorted(ALERTING.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_alerting_never_looks_another_domain_up_in_the_app(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    looked_up = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in {"GEOFENCES", "OUTBOX", "FEEDS", "HOTLINE", "PUSH", "SMS", "VOICE"}
    ]
    assert looked_up == [], f"{path.name} reads {looked_up} from the app: take a port instead"


def test_the_ports_speak_without_any() -> None:
    tree = ast.parse((ALERTING / "ports.py").read_text(encoding="utf-8"))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "Any" not in names


async def test_the_directory_turns_geofences_errors_into_alerting_errors(
    app_client: AppClient,
) -> None:
    client = await app_client()
    await load_hue(client)
    assert client.app is not None
    directory = GeofencesDirectory(client.app[GEOFENCES])
    with pytest.raises(UnknownWards) as unknown:
        directory.ward_outline(["hue.kim-tra", "hue.nowhere"], 50)
    assert unknown.value.codes == ("hue.nowhere",)
    flat = shapely.LineString([(107.45, 16.53), (107.47, 16.53)])
    with pytest.raises(InvalidArea, match="targeting cannot use it"):
        directory.check_area(flat)
    outline = directory.ward_outline(["hue.kim-tra"], 50)
    assert sum(len(ring) for ring in outline) <= 50 + len(outline)
    assert all(ring[0] == ring[-1] for ring in outline)
