"""The pages: each built from the ports into a template, kept in the PageCache while the
inputs' version holds. Handlers (routes.py) only pick the page and the language."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jinja2
import shapely

from canhbao.clock import Clock
from canhbao.config import Config
from feeds import levels as feed_levels
from feeds.models import Parameter, Station
from public import models, svg, texts
from public.cache import Page, PageCache, Rendered
from public.errors import SourceUnavailable
from public.ports import Language, PublicPorts, PublicWard, PublicWarning, StationSeries

DAY = timedelta(hours=24)
FRESH = timedelta(hours=3)  # an older reading is shown with its time, not as the level now
NEAREST = 3


@dataclass(frozen=True)
class StationRow:
    station: Station
    value: float | None
    observed_at: datetime | None
    band: int | None
    trend: str | None
    margin: feed_levels.Margin | None  # to the next band; None past the last or unbanded
    fresh: bool
    rain: models.RainSummary | None = None  # at the station, or at the nearest gauge


class Pages:
    """Builds and caches every public page."""

    def __init__(
        self, ports: PublicPorts, config: Config, clock: Clock, env: jinja2.Environment
    ) -> None:
        self.ports = ports
        self.clock = clock
        self.env = env
        self.settings = config.public
        self.base = config.server.public_base_url.rstrip("/")
        self.cache = PageCache(self.settings.max_pages, self.settings.rebuild_s)
        self._version: Hashable = None
        self._checked_at = -float("inf")
        self._checking: asyncio.Task[Hashable] | None = None

    # -- inputs ---------------------------------------------------------------------------

    async def version(self) -> Hashable:
        """Every source's version, read at most once per `recheck_s` for all requests."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._checked_at < self.settings.recheck_s:
            return self._version
        if self._checking is None:
            self._checking = asyncio.ensure_future(self._read_version())
        task = self._checking
        try:
            return await asyncio.shield(task)
        finally:
            if task.done() and self._checking is task:
                self._checking = None

    async def _read_version(self) -> Hashable:
        started = asyncio.get_running_loop().time()
        try:
            warnings = await self.ports.warnings.version()
        except SourceUnavailable:
            warnings = None  # the page itself will say what it cannot read
        version = (
            warnings,
            self.ports.stations.version(),
            self.ports.wards.version(),
            self.ports.cameras.version(),
        )
        self._version, self._checked_at = version, started
        return version

    async def page(self, key: Hashable, build: Callable[[], Awaitable[Rendered]]) -> Page:
        return await self.cache.get(key, await self.version(), build)

    def render(self, name: str, language: Language, **values: Any) -> str:
        template = self.env.get_template(name)
        return template.render(
            lang=language,
            t=texts.UI[language],
            hotline=self.settings.hotline,
            made_at=models.local_time(self.clock.now(), language),
            base=self.base,
            **values,
        )

    def not_found(self, language: Language) -> Rendered:
        """Vietnamese first whatever the reader chose, English under it."""
        del language
        return Rendered(self.render("not_found.html", "vi", en=texts.UI["en"]), status=404)

    async def missing(self, language: Language) -> Rendered:
        """The 404 page, as a page builder."""
        return self.not_found(language)

    # -- the pages --------------------------------------------------------------------------

    async def home(self, language: Language) -> Rendered:
        try:
            warnings = await self.ports.warnings.in_force()
        except SourceUnavailable:
            return Rendered(self.render("unavailable.html", language), status=503)
        warnings.sort(key=lambda w: (models.SEVERITY_ORDER.get(w.severity, 9), -w.sent.timestamp()))
        wards = self.ports.wards.wards()
        names = {w.code: w.name for w in wards}
        rows = await self._station_rows(self.ports.stations.stations())
        shades = _shades(warnings)
        extra = [ring for w in warnings if not w.ward_codes for ring in w.polygons]
        return Rendered(
            self.render(
                "home.html",
                language,
                warnings=[self._warning_view(w, language, names) for w in warnings],
                map=svg.ward_map(wards, shades, extra) if wards else None,
                stations=[self._station_view(r, language) for r in rows],
            )
        )

    async def warning(self, identifier: str, language: Language) -> Rendered:
        try:
            found = await self.ports.warnings.warning(identifier)
        except SourceUnavailable:
            return Rendered(self.render("unavailable.html", language), status=503)
        if found is None:
            return self.not_found(language)
        wards = self.ports.wards.wards()
        names = {w.code: w.name for w in wards}
        covered = {code: found.severity for code in found.ward_codes}
        return Rendered(
            self.render(
                "warning.html",
                language,
                w=self._warning_view(found, language, names),
                map=svg.ward_map(wards, covered, found.polygons) if wards else None,
                url=f"{self.base}/canh-bao/{found.identifier}",
            )
        )

    async def station(self, station_id: str, language: Language) -> Rendered:
        now = self.clock.now()
        try:
            series = await self.ports.stations.series(station_id, now - DAY)
        except SourceUnavailable:
            return Rendered(self.render("unavailable.html", language), status=503)
        if series is None:
            return self.not_found(language)
        row = _row(series, now)
        rain = row.rain
        thresholds = series.station.thresholds
        chart = svg.level_chart(
            series.levels,
            thresholds,
            now,
            models.short_time,
            lambda v: models.number(v, language, 1),
        )
        band_lines = (
            [
                (texts.BANDS[language][i + 1], models.number(level, language))
                for i, level in enumerate(thresholds.levels()[:3])
            ]
            if thresholds is not None
            else []
        )
        return Rendered(
            self.render(
                "station.html",
                language,
                s=self._station_view(row, language),
                chart=chart if series.levels else None,
                band_lines=band_lines,
                readings=[
                    (models.short_time(at), models.number(v, language))
                    for at, v in list(series.levels)[-12:][::-1]
                ],
                rain_chart=(
                    svg.rain_chart(
                        rain.hourly,
                        models.short_time,
                        lambda v: models.number(v, language, 0 if v.is_integer() else 1),
                    )
                    if rain is not None and rain.observed
                    else None
                ),
                levels=bool(series.levels) or series.rain is None,
            )
        )

    async def station_csv(self, station_id: str) -> Rendered | None:
        now = self.clock.now()
        series = await self.ports.stations.series(station_id, now - DAY)
        if series is None:
            return None
        if series.rain is not None and series.rain.gauge.id == series.station.id:
            # A rain gauge's data is its rain.
            return Rendered(
                models.csv_of_rain(series.station.id, series.rain.amounts), content_type="text/csv"
            )
        return Rendered(
            models.csv_of_levels(series.station.id, series.levels), content_type="text/csv"
        )

    async def ward(self, code: str, language: Language) -> Rendered:
        wards = self.ports.wards.wards()
        found = next((w for w in wards if w.code == code), None)
        if found is None:
            return self.not_found(language)
        try:
            warnings = await self.ports.warnings.in_force()
            cameras = await self.ports.cameras.cameras()
        except SourceUnavailable:
            return Rendered(self.render("unavailable.html", language), status=503)
        names = {w.code: w.name for w in wards}
        covering = [w for w in warnings if _covers(w, found)]
        stations = sorted(
            self.ports.stations.stations(),
            key=lambda s: models.distance_km(found.centre, (s.lon, s.lat)),
        )[:NEAREST]
        rows = await self._station_rows(stations)
        near = sorted(
            ((models.distance_km(found.centre, (c.lon, c.lat)), c) for c in cameras),
            key=lambda pair: pair[0],
        )[:NEAREST]
        shades = {found.code: "here"}
        return Rendered(
            self.render(
                "ward.html",
                language,
                ward=found,
                warnings=[self._warning_view(w, language, names) for w in covering],
                stations=[
                    {
                        **self._station_view(r, language),
                        "distance": models.number(
                            models.distance_km(found.centre, (r.station.lon, r.station.lat)),
                            language,
                            1,
                        ),
                    }
                    for r in rows
                ],
                cameras=[
                    (models.number(d, language, 1), self._camera_view(c, language)) for d, c in near
                ],
                map=svg.ward_map(wards, shades),
            )
        )

    async def cameras(self, language: Language) -> Rendered:
        try:
            cameras = await self.ports.cameras.cameras()
        except SourceUnavailable:
            return Rendered(self.render("unavailable.html", language), status=503)
        return Rendered(
            self.render(
                "cameras.html",
                language,
                cameras=[self._camera_view(c, language) for c in cameras],
            )
        )

    def search(self, query: str, language: Language) -> Rendered:
        """Not cached: any text may be asked, and the search runs over wards in memory."""
        wards = self.ports.wards.wards()
        found = models.search_wards((w for w in wards if w.leaf), query) if query else []
        return Rendered(self.render("search.html", language, q=query, results=found))

    # -- views ------------------------------------------------------------------------------

    def _warning_view(
        self, w: PublicWarning, language: Language, names: dict[str, str]
    ) -> dict[str, Any]:
        text = w.text(language)
        kind = ""
        if w.msg_type == "Cancel" or "AllClear" in w.response_types:
            kind = texts.UI[language]["all_clear"]
        elif w.msg_type == "Update":
            kind = texts.UI[language]["update"]
        return {
            "identifier": w.identifier,
            "text": text,
            "lang": "vi" if language == "vi" and "vi" in w.texts else next(iter(w.texts)),
            "severity": w.severity,
            "severity_words": texts.SEVERITIES[language].get(w.severity, w.severity),
            "kind": kind,
            "state": w.state,
            "sent": models.local_time(w.sent, language),
            "sent_iso": w.sent.isoformat(),
            "expires": models.local_time(w.expires, language) if w.expires else "",
            "wards": [(code, names.get(code, code)) for code in w.ward_codes],
            "risk_level": w.risk_level,
            "references": w.references,
            "superseded_by": w.superseded_by,
            "cap_url": f"/cap/alerts/{w.identifier}.xml",
        }

    def _station_view(self, row: StationRow, language: Language) -> dict[str, Any]:
        ui = texts.UI[language]
        return {
            "id": row.station.id,
            "name": row.station.name,
            "river": row.station.river,
            "value": models.number(row.value, language) if row.value is not None else None,
            "observed": models.local_time(row.observed_at, language) if row.observed_at else "",
            "band": row.band,
            "band_words": texts.BANDS[language][row.band] if row.band is not None else "",
            "trend": ui[f"trend_{row.trend}"] if row.trend else "",
            "margin": _margin_words(row, language),
            "fresh": row.fresh,
            "rain": _rain_view(row.rain, language) if row.rain is not None else None,
            "gauge": Parameter.rainfall in row.station.parameters,
        }

    def _camera_view(self, camera: Any, language: Language) -> dict[str, Any]:
        return {
            "id": camera.id,
            "name": camera.name,
            "watches": camera.watches,
            "ward_code": camera.ward_code,
            "ward_name": camera.ward_name,
            "image": camera.image_path,
            "thumbnail": camera.thumbnail_path,
            "seen": models.local_time(camera.seen_at, language) if camera.seen_at else "",
            "flags": [
                texts.CAMERA_FLAGS[language][flag]
                for flag in camera.flags
                if flag in texts.CAMERA_FLAGS[language]
            ],
        }

    async def _station_rows(self, stations: Sequence[Station]) -> list[StationRow]:
        now = self.clock.now()
        rows = []
        for station in stations:
            try:
                series = await self.ports.stations.series(station.id, now - DAY)
            except SourceUnavailable:
                series = None
            rows.append(_row(series or StationSeries(station), now))
        return rows


def _row(series: StationSeries, now: datetime) -> StationRow:
    station = series.station
    rain = models.rain_summary(series.rain, now) if series.rain is not None else None
    if not series.levels:
        return StationRow(station, None, None, None, None, None, False, rain)
    observed_at, value = series.levels[-1]
    thresholds = station.thresholds
    band = feed_levels.band(value, thresholds) if thresholds is not None else None
    trend = feed_levels.trend(list(series.levels))
    margin = feed_levels.margin_to_next(value, thresholds) if thresholds is not None else None
    return StationRow(
        station,
        value,
        observed_at,
        band,
        trend.direction if trend else None,
        margin,
        now - observed_at <= FRESH,
        rain,
    )


def _rain_view(rain: models.RainSummary, language: Language) -> dict[str, Any]:
    """The rain in words: the class is always named, so colour never carries it alone."""
    ui = texts.UI[language]
    words = texts.RAIN_CLASSES[language][rain.rain_class]
    if rain.intense:
        words += f", {texts.INTENSE_RAIN[language]}"
    return {
        "observed": rain.observed,
        "total": ui["rain_total"].format(mm=models.number(rain.total_24h, language, 1)),
        "recent": ui["rain_3h"].format(mm=models.number(rain.total_3h, language, 1)),
        "words": words,
        # The shade of the rain's class, as the alarm bands are shaded (.b0 to .b3).
        "shade": max(rain.rain_class - 1, 0),
        "at": (
            ui["rain_at"].format(
                name=rain.gauge_name, km=models.number(rain.distance_km, language, 1)
            )
            if rain.distance_km > 0
            else ""
        ),
        "gauge_id": rain.gauge_id,
    }


def _margin_words(row: StationRow, language: Language) -> str:
    ui = texts.UI[language]
    if row.band is None:
        return ""
    if row.margin is None:
        return ui["above_all"]
    return ui["to_next"].format(
        metres=models.number(row.margin.metres, language),
        band=texts.NEXT_BANDS[language][row.margin.next_band],
    )


_RANK = {"Extreme": 0, "Severe": 1, "Moderate": 2, "Minor": 3}


def _shades(warnings: Sequence[PublicWarning]) -> dict[str, str]:
    """Each ward's most severe warning in force."""
    shades: dict[str, str] = {}
    for w in warnings:
        if w.msg_type == "Cancel":
            continue
        for code in w.ward_codes:
            held = shades.get(code)
            if held is None or _RANK.get(w.severity, 9) < _RANK.get(held, 9):
                shades[code] = w.severity
    return shades


def _covers(warning: PublicWarning, ward: PublicWard) -> bool:
    if warning.msg_type == "Cancel":
        return False
    if ward.code in warning.ward_codes:
        return True
    lon, lat = ward.centre
    return any(
        shapely.intersects_xy(shapely.polygons(list(ring)), lon, lat)
        for ring in warning.polygons
        if len(ring) >= 4
    )
