"""The cameras' ports (cameras.ports) over geofences and alerting."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from alerting.errors import AlertingError
from alerting.keys import ALERTING
from alerting.models import covers_point
from alerting.workflow import Workflow
from cameras.errors import CameraError
from cameras.ports import CameraPorts, Ward
from geofences.devices import DeviceRegistry
from geofences.keys import GEOFENCES


def camera_ports(app: web.Application) -> CameraPorts:
    """Built when the cameras' context starts: geofences' and alerting's ran before it."""
    return CameraPorts(
        wards=GeofencesWards(app[GEOFENCES]),
        warnings=AlertingCoverage(app[ALERTING]),
    )


class GeofencesWards:
    """The cameras' WardLocator over geofences' area catalogue: the deepest area covering the
    camera's point."""

    def __init__(self, registry: DeviceRegistry) -> None:
        self._registry = registry

    async def ward_at(self, lon: float, lat: float) -> Ward | None:
        catalog = self._registry.catalog  # replaced whole when areas are re-imported
        area_id = catalog.locate(lon, lat)
        if area_id < 0:
            return None
        area = catalog.areas[area_id]
        return Ward(area.code, area.name)


class AlertingCoverage:
    """The cameras' WarningCoverage over alerting's workflow: the warnings in force are read
    once for all the points."""

    def __init__(self, workflow: Workflow) -> None:
        self._workflow = workflow

    async def covered(self, points: Sequence[tuple[float, float]]) -> list[bool]:
        try:
            alerts = await self._workflow.in_force_at()
        except AlertingError as err:
            raise CameraError(f"warnings in force: {err}") from err
        return [any(covers_point(alert, lon, lat) for alert in alerts) for lon, lat in points]
