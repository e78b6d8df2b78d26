"""First start: Huế's 40 wards, shipped in geofences/data, loaded when no area exists yet."""

from __future__ import annotations

import logging
from pathlib import Path

from canhbao.config import GeofencesConfig
from canhbao.offload import ProcessPool
from geofences.areas import ImportOptions
from geofences.devices import DeviceRegistry
from geofences.work import prepare_import_off_loop

log = logging.getLogger(__name__)

HUE_WARDS = Path(__file__).resolve().parent / "data" / "hue_wards_2025.geojson"
HUE_OPTIONS = ImportOptions(
    name_property="Phường xã mới",
    parent_property="Tỉnh thành mới",
    population_property="Dân số (người)",
)
SEED_ACTOR = "system:first-start"


def hue_options(settings: GeofencesConfig) -> ImportOptions:
    """How the shipped file is read, under this config's caps."""
    return ImportOptions(
        name_property=HUE_OPTIONS.name_property,
        parent_property=HUE_OPTIONS.parent_property,
        population_property=HUE_OPTIONS.population_property,
        max_vertices=settings.max_import_vertices,
        outline_max_points=settings.outline_max_points,
        max_repair_crossings=settings.max_repair_crossings,
    )


async def seed_hue_wards(
    registry: DeviceRegistry, pool: ProcessPool, settings: GeofencesConfig
) -> None:
    """Import the shipped wards (audited as system:first-start); the caller checked that no
    area exists, so areas imported or edited later are never overwritten."""
    raw = HUE_WARDS.read_bytes()
    plan = await prepare_import_off_loop(pool, raw, len(raw), hue_options(settings))
    report = await registry.import_areas(plan, source=HUE_WARDS.name, actor=SEED_ACTOR)
    log.info("first start: Huế's wards loaded", extra={"areas": report["added"]})
