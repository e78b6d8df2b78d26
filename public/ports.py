"""What the public pages read from other domains, in their own words; create_app fills them.

- WarningSource: warnings the public may see (alerting: never a Test or Exercise message);
- StationSource: stations and their recent water levels (feeds);
- WardSource: the wards and their outlines (geofences);
- CameraSource: the cameras and their latest stills (cameras).

Each has a `version()`: a cheap value that changes whenever what the source would answer
changes, so a page is rebuilt only when its inputs moved. The adapters (canhbao/adapters/
public.py) translate their domain's errors into public.errors.SourceUnavailable.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from feeds.models import Station

Language = Literal["vi", "en"]
# A river station's page shows the rain of the nearest gauge no farther than this.
RAIN_NEAR_KM = 30.0
# (lon, lat) rings: GeoJSON's order, as the map projects them.
Ring = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class WarningText:
    """One language's words of a warning, as its author wrote them."""

    headline: str
    event: str
    description: str
    instruction: str
    area: str
    sender_name: str


@dataclass(frozen=True)
class PublicWarning:
    """An issued warning as the public sees it (never a Test or Exercise message)."""

    identifier: str
    sent: datetime
    expires: datetime | None
    msg_type: str  # Alert | Update | Cancel
    state: Literal["issued", "expired", "superseded"]
    severity: str
    urgency: str
    response_types: tuple[str, ...]
    texts: dict[Language, WarningText]
    ward_codes: tuple[str, ...] = ()
    polygons: tuple[Ring, ...] = ()
    risk_level: int | None = None  # cấp độ rủi ro thiên tai (disaster risk level) 1-5
    references: tuple[str, ...] = ()  # identifiers of the messages it replaces
    superseded_by: str | None = None

    def text(self, language: Language) -> WarningText:
        """The words in `language`, else in the other one."""
        return self.texts.get(language) or next(iter(self.texts.values()))


@dataclass(frozen=True)
class PublicWard:
    """A ward (phường/xã) with its outline, as geofences keeps it."""

    code: str
    name: str
    parent: str  # the city or province's name, "" at the top
    population: int | None
    outline: tuple[Ring, ...]  # outer rings only, (lon, lat)
    centre: tuple[float, float]  # (lon, lat), a point inside
    leaf: bool = True  # False for a city or province that holds wards


@dataclass(frozen=True)
class RainSeries:
    """Rain near a station: the gauge (the station itself when it is one, else the nearest rain
    gauge), how far it is, and its good amounts over the last day (mm per interval ending at
    each time), oldest first."""

    gauge: Station
    distance_km: float
    amounts: Sequence[tuple[datetime, float]] = field(default=())


@dataclass(frozen=True)
class StationSeries:
    """A station and its good water levels over the last day, oldest first, and rain near it."""

    station: Station
    levels: Sequence[tuple[datetime, float]] = field(default=())
    rain: RainSeries | None = None


@dataclass(frozen=True)
class PublicCamera:
    id: str
    name: str
    lon: float
    lat: float
    ward_code: str
    ward_name: str
    watches: str
    image_path: str | None  # path of the latest still (same origin), None before the first
    thumbnail_path: str | None
    seen_at: datetime | None
    flags: tuple[str, ...] = ()


class WarningSource(Protocol):
    async def in_force(self) -> list[PublicWarning]:
        """Issued warnings in force now, newest first."""
        ...

    async def warning(self, identifier: str) -> PublicWarning | None:
        """One message the public may see (in force, expired or replaced), or None."""
        ...

    async def version(self) -> Hashable:
        """Changes whenever a warning is issued, updated, cancelled or expires."""
        ...


class StationSource(Protocol):
    def stations(self) -> list[Station]:
        """Every station feeds watches."""
        ...

    async def series(self, station_id: str, since: datetime) -> StationSeries | None:
        """The station's good water levels from `since` to now, and the rain at it or at the
        nearest rain gauge (within RAIN_NEAR_KM); None for an unknown id."""
        ...

    def version(self) -> Hashable:
        """Changes when the stations or their alarm bands change (readings also age pages)."""
        ...


class WardSource(Protocol):
    def wards(self) -> list[PublicWard]:
        """Every area, wards and the cities that hold them."""
        ...

    def version(self) -> Hashable:
        """Changes when the areas are imported again."""
        ...


class CameraSource(Protocol):
    async def cameras(self) -> list[PublicCamera]: ...

    def version(self) -> Hashable:
        """Changes when a camera's latest still changes."""
        ...


@dataclass(frozen=True)
class PublicPorts:
    """What create_app hands the public pages at start-up."""

    warnings: WarningSource
    stations: StationSource
    wards: WardSource
    cameras: CameraSource
