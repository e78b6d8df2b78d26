"""The cameras' ports (cameras.ports) over geofences and alerting, and alerting's evidence port
(alerting.ports.EvidenceSource) over the cameras."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from alerting.errors import AlertingError
from alerting.keys import ALERTING
from alerting.models import Resource, covers_point
from alerting.ports import EvidenceStill, Geometry
from alerting.workflow import Workflow
from cameras.errors import CameraError
from cameras.evidence import evidence, offered
from cameras.keys import CAMERAS
from cameras.ports import CameraPorts, Ward
from cameras.service import Cameras
from canhbao import keys
from canhbao.adapters.geofences import GeofencesWards
from geofences.keys import GEOFENCES


def camera_ports(app: web.Application) -> CameraPorts:
    """Built when the cameras' context starts: geofences' and alerting's ran before it."""
    return CameraPorts(
        wards=GeofencesWards(app[GEOFENCES], Ward),
        warnings=AlertingCoverage(app[ALERTING]),
    )


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


class CamerasEvidence:
    """Alerting's EvidenceSource over the cameras domain: the cameras inside an area with their
    latest stills, and a still as a CAP resource (pinned by cameras from then on).

    Alerting starts before cameras (whose warning port reads alerting), so the running cameras
    domain is looked up when asked; before it has started there is nothing to offer.
    """

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def _cameras(self) -> Cameras | None:
        return self._app.get(CAMERAS)

    async def offer(self, area: Geometry) -> list[EvidenceStill]:
        service = self._cameras()
        if service is None:
            return []
        base = self._app[keys.CONFIG].server.public_base_url.rstrip("/")
        return [
            EvidenceStill(
                still_id=found.still.id,
                camera_id=found.camera.id,
                camera_name=found.camera.name,
                watches=found.camera.watches,
                taken_at=found.still.fetched_at,
                url=f"{base}/api/v1/camera-images/{found.still.sha256}",
                thumbnail_url=f"{base}/api/v1/camera-images/{found.still.sha256}/thumbnail",
                flags=found.flags,
            )
            for found in await offered(service, area)
        ]

    async def resource(self, still_id: int, language: str) -> Resource | None:
        service = self._cameras()
        if service is None:
            return None
        base = self._app[keys.CONFIG].server.public_base_url
        try:
            found = await evidence(service, still_id, base, language)
        except CameraError as err:
            raise AlertingError(f"camera still {still_id}: {err}") from err
        if found is None:
            return None
        return Resource(
            description=found.description,
            mime_type=found.mime_type,
            uri=found.uri,
            size=found.size,
            digest=found.digest,
        )
