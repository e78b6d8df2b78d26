"""VNDMS, Vietnam's disaster-management portal: its station list and `detailRain` river series.

The series answer holds comma-joined strings, not arrays; labels carry hour, day and month in
GMT+7 but no year (an older form is "7h30/12": hour, minute, day); gaps are "-", "null", "NULL"
or empty. The server refuses requests without browser-like Referer and Origin headers.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from canhbao.clock import LOCAL_TZ
from canhbao.config import VndmsConfig
from feeds.errors import PayloadInvalid
from feeds.models import CatalogueEntry, FetchResult, Observation, Parameter, number
from feeds.ports import FeedClient

NAME = "vndms"
MISSING = frozenset({"-", "null", "NULL", "", "None"})

_LABEL_DAY_MONTH = re.compile(r"^(\d{1,2})h\s+(\d{1,2})/(\d{1,2})$")  # "0h \n15/11"
_LABEL_MINUTE_DAY = re.compile(r"^(\d{1,2})h(\d{2})/(\d{1,2})$")  # "7h30/12"
_STATION_ID = re.compile(r"Mã trạm:\s*<b>\s*([^<]+?)\s*</b>")
_RIVER = re.compile(r"Sông:\s*<b>\s*([^<]*?)\s*</b>")


@dataclass(frozen=True, slots=True)
class Series:
    """One station's parsed detailRain answer."""

    observations: tuple[Observation, ...]
    catalogue: CatalogueEntry | None
    quirks: tuple[str, ...]


def parse_label(label: str, now: datetime) -> datetime:
    """A VNDMS time label as an aware UTC datetime, its year (and month) inferred from `now`.

    A label is never more than a day ahead of `now`: December seen in January is last year's.
    """
    text = label.strip()
    local_now = now.astimezone(LOCAL_TZ)
    if match := _LABEL_DAY_MONTH.match(text):
        hour, day, month = (int(g) for g in match.groups())
        minute = 0
        candidates = [(local_now.year, month), (local_now.year - 1, month)]
    elif match := _LABEL_MINUTE_DAY.match(text):
        hour, minute, day = (int(g) for g in match.groups())
        previous_month = (local_now.replace(day=1) - timedelta(days=1)).month
        previous_year = local_now.year if local_now.month > 1 else local_now.year - 1
        candidates = [(local_now.year, local_now.month), (previous_year, previous_month)]
    else:
        raise PayloadInvalid(f"unrecognised time label {label!r}")
    for year, month in candidates:
        try:
            moment = datetime(year, month, day, hour, minute, tzinfo=LOCAL_TZ)
        except ValueError:
            continue  # 30/02, or day 31 in a 30-day month: try the earlier candidate
        if moment <= local_now + timedelta(days=1):
            return moment.astimezone(UTC)
    raise PayloadInvalid(f"time label {label!r} is not a date near {local_now:%Y-%m-%d}")


def _first(joined: Any) -> float | None:
    """The first value of a repeated per-point field like bao_dong1 = "1,1,1,..."."""
    if joined is None:
        return None
    text = str(joined).split(",")[0].strip()
    if text in MISSING:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return number(value, "threshold")


def parse_series(payload: Any, *, source_id: str, now: datetime) -> Series:
    """A detailRain answer as water-level observations (metres, UTC)."""
    if not isinstance(payload, Mapping):
        raise PayloadInvalid(f"detailRain: expected an object, got {type(payload).__name__}")
    labels_raw, values_raw = payload.get("labels"), payload.get("value")
    if not isinstance(labels_raw, str) or not isinstance(values_raw, str):
        raise PayloadInvalid("detailRain: 'labels' and 'value' must be comma-joined strings")
    labels = labels_raw.split(",") if labels_raw.strip() else []
    values = values_raw.split(",") if values_raw.strip() else []
    quirks: list[str] = []
    if len(labels) != len(values):
        quirks.append(f"{len(labels)} labels but {len(values)} values; extra ones dropped")
    observations: list[Observation] = []
    seen: set[datetime] = set()
    for index, (label, text) in enumerate(zip(labels, values, strict=False)):
        try:
            observed_at = parse_label(label, now)
        except PayloadInvalid as err:
            quirks.append(f"point {index}: {err}")
            continue
        if observed_at in seen:
            quirks.append(f"point {index}: repeated time {label.strip()!r}")
            continue
        seen.add(observed_at)
        observations.append(
            Observation(source_id, Parameter.water_level, observed_at, _value(text, index))
        )
    if labels and not observations:
        raise PayloadInvalid("detailRain: no time label could be read")
    thresholds = {
        key: _first(payload.get(key))
        for key in ("bao_dong1", "bao_dong2", "bao_dong3", "gia_tri_lu_lich_su")
    }
    catalogue = CatalogueEntry(
        source_id=source_id,
        name=str(payload.get("name_vn") or ""),
        lat=None,
        lon=None,
        river=str(payload.get("river_name") or ""),
        details={
            **thresholds,
            "nam_lu_lich_su": payload.get("nam_lu_lich_su"),
            "province": payload.get("province_name"),
        },
    )
    return Series(tuple(observations), catalogue, tuple(quirks))


def _value(text: str, index: int) -> float | None:
    text = text.strip()
    if text in MISSING:
        return None
    try:
        value = float(text)
    except ValueError:
        raise PayloadInvalid(f"detailRain: value {index} is {text!r}, not a number") from None
    return number(value, f"detailRain value {index}")


def parse_station_list(payload: Any) -> tuple[tuple[CatalogueEntry, ...], tuple[str, ...]]:
    """The water_level GeoJSON: stations with id and river read from the popup HTML."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("features"), list):
        raise PayloadInvalid("water_level: expected a GeoJSON FeatureCollection")
    entries: list[CatalogueEntry] = []
    quirks: list[str] = []
    for index, feature in enumerate(payload["features"]):
        properties = feature.get("properties") if isinstance(feature, Mapping) else None
        geometry = feature.get("geometry") if isinstance(feature, Mapping) else None
        popup = str((properties or {}).get("popupInfo") or "")
        station = _STATION_ID.search(popup)
        if properties is None or station is None:
            quirks.append(f"feature {index}: no station id in popupInfo")
            continue
        river = _RIVER.search(popup)
        coordinates = geometry.get("coordinates") if isinstance(geometry, Mapping) else None
        lon = lat = None
        if isinstance(coordinates, Sequence) and len(coordinates) >= 2:
            lon = number(coordinates[0], f"feature {index} longitude")
            lat = number(coordinates[1], f"feature {index} latitude")
        entries.append(
            CatalogueEntry(
                source_id=html.unescape(station.group(1)),
                name=str(properties.get("label") or ""),
                lat=lat,
                lon=lon,
                river=html.unescape(river.group(1)) if river else "",
            )
        )
    return tuple(entries), tuple(quirks)


class VndmsSource:
    """Polls detailRain for every configured VNDMS station, and the station list daily."""

    name = NAME

    def __init__(self, config: VndmsConfig, source_ids: Sequence[str]) -> None:
        self._config = config
        self._source_ids = tuple(source_ids)
        self._catalogue_at: datetime | None = None

    def _headers(self) -> dict[str, str]:
        return {
            "Referer": self._config.origin.rstrip("/") + "/",
            "Origin": self._config.origin.rstrip("/"),
            "X-Requested-With": "XMLHttpRequest",
        }

    async def fetch(self, client: FeedClient, now: datetime) -> FetchResult:
        observations: list[Observation] = []
        catalogue: list[CatalogueEntry] = []
        quirks: list[str] = []
        for source_id in self._source_ids:
            form = {
                "id": source_id,
                "timeSelect": str(self._config.time_select),
                "source": "Water",
                "fromDate": "",
                "toDate": "",
            }
            response = await client.post_form(
                self._config.series_url, form, headers=self._headers()
            )
            series = parse_series(response.json(), source_id=source_id, now=now)
            observations.extend(series.observations)
            quirks.extend(f"{source_id}: {quirk}" for quirk in series.quirks)
            if series.catalogue is not None:
                catalogue.append(series.catalogue)
        if self._config.stations_url and self._catalogue_due(now):
            for band in range(4):
                listed = await client.get(
                    self._config.stations_url, params={"lv": str(band)}, headers=self._headers()
                )
                if listed is not None:
                    entries, list_quirks = parse_station_list(listed.json())
                    catalogue.extend(entries)
                    quirks.extend(list_quirks)
            self._catalogue_at = now
        return FetchResult(
            observations=tuple(observations), catalogue=tuple(catalogue), quirks=tuple(quirks)
        )

    def _catalogue_due(self, now: datetime) -> bool:
        return self._catalogue_at is None or (now - self._catalogue_at) >= timedelta(
            seconds=self._config.catalogue_interval_s
        )
