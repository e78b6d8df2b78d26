"""What the citizen app shows for a station: latest values, band, trend, rain, wind, and why not.

Pure: the routes gather readings, level states and forecasts, this turns them into JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from canhbao.clock import to_local, utc_text
from feeds import levels, quality
from feeds.models import UNITS, Flag, Parameter, Reading, Station
from feeds.stations import as_fields
from feeds.thresholds import EventKind, LevelState, band_name

_FLAG_WORDS = {
    Flag.good: "good",
    Flag.not_evaluated: "not evaluated",
    Flag.suspect: "suspect",
    Flag.fail: "failed quality control",
    Flag.missing: "missing",
}


def reading_json(reading: Reading) -> dict[str, Any]:
    return {
        "parameter": reading.parameter.value,
        "value": reading.value,
        "unit": UNITS[reading.parameter],
        "observed_at": utc_text(reading.observed_at),
        "observed_at_local": to_local(reading.observed_at).isoformat(),
        "ingested_at": utc_text(reading.ingested_at),
        "flag": int(reading.flag),
        "reasons": list(reading.reasons),
        "source": reading.source,
        **({"interval_s": reading.interval_s} if reading.interval_s else {}),
    }


def status(
    station: Station, latest: Sequence[Reading], now: datetime, ahead: Sequence[Reading] = ()
) -> tuple[str, str]:
    """("ok" | "suspect" | "failing" | "missing" | "stale" | "no_data", why) for the station.

    `latest` holds each parameter's newest reading at or before now; `ahead` the newest of those
    dated later (QC failed them as "future"): they are named in the reason, never the status.
    Stale is judged by arrival: a reading that came late, or nothing arriving for three
    reporting periods. A replay's readings arrive now, so it is fresh while it plays.
    """
    state, why = _status(station, latest, now)
    if ahead:
        first = min(ahead, key=lambda r: r.observed_at)
        note = f"ignored a reading dated {utc_text(first.observed_at)}, ahead of now (future)"
        why = f"{why}; {note}" if why else note
    return state, why


def _status(station: Station, latest: Sequence[Reading], now: datetime) -> tuple[str, str]:
    if not latest:
        return "no_data", "no reading yet"
    newest = max(latest, key=lambda r: r.observed_at)
    limit = timedelta(seconds=station.reporting_period_s * quality.STALE_PERIODS)
    arrived = max(r.ingested_at for r in latest)
    if now - arrived > limit:
        return "stale", f"nothing received since {utc_text(arrived)}"
    if newest.stale:
        return "stale", f"latest reading ({utc_text(newest.observed_at)}) arrived late"
    if newest.flag is Flag.fail:
        return "failing", "latest reading failed QC: " + ", ".join(newest.reasons)
    if newest.flag is Flag.missing:
        return "missing", "latest reading is missing at the source"
    if newest.flag is Flag.suspect:
        return "suspect", "latest reading is suspect: " + ", ".join(newest.reasons)
    return "ok", ""


def summarize(
    station: Station,
    *,
    latest: Mapping[Parameter, Reading],
    recent: Mapping[Parameter, Sequence[Reading]],
    states: Mapping[EventKind, LevelState],
    forecasts: Sequence[tuple[Parameter, datetime, float | None]],
    now: datetime,
    ahead: Mapping[Parameter, Reading] | None = None,
) -> dict[str, Any]:
    """The station view. `latest` holds each parameter's newest reading at or before now,
    `recent` the 24 h up to it, oldest first; `ahead` readings dated after now (ignored).
    Levels follow the latest reading that may drive alarms, never a flagged one."""
    state, why = status(station, list(latest.values()), now, list((ahead or {}).values()))
    body: dict[str, Any] = {
        **as_fields(station),
        "status": state,
        "status_reason": why,
        "latest": {p.value: reading_json(r) for p, r in latest.items()},
    }
    water = [r for r in recent.get(Parameter.water_level, ()) if r.drives_alarms]
    if station.thresholds is not None:
        body["water_level"] = _river(station, water, states)
    rain = [r for r in recent.get(Parameter.rainfall, ()) if r.value is not None and r.flag < 4]
    if Parameter.rainfall in station.parameters:
        body["rain"] = _rain(rain, now)
    if Parameter.wind_speed in station.parameters:
        body["wind"] = _wind(recent)
    if forecasts:
        body["forecast"] = _forecast(forecasts, now)
    return body


def _river(
    station: Station, water: Sequence[Reading], states: Mapping[EventKind, LevelState]
) -> dict[str, Any]:
    assert station.thresholds is not None  # noqa: S101  # checked by the caller
    confirmed = states.get(EventKind.river_band, LevelState()).level
    view: dict[str, Any] = {"alarm_band": confirmed, "alarm_band_name": band_name(confirmed)}
    if not water:
        return {**view, "band": None, "trend": None, "margin": None, "cap_do_rui_ro": None}
    last = water[-1]
    value = last.value if last.value is not None else 0.0
    current = levels.band(value, station.thresholds)
    margin = levels.margin_to_next(value, station.thresholds)
    trend = levels.trend([(r.observed_at, r.value) for r in water if r.value is not None])
    return {
        **view,
        "value": value,
        "observed_at": utc_text(last.observed_at),
        "band": current,
        "band_name": band_name(current),
        "margin": None
        if margin is None
        else {"next_band": margin.next_band, "metres": margin.metres},
        "trend": None
        if trend is None
        else {"direction": trend.direction, "rate_m_per_h": trend.rate_m_per_h},
        "cap_do_rui_ro": levels.cap_do_rui_ro(value, station.thresholds),
    }


def _rain(rain: Sequence[Reading], now: datetime) -> dict[str, Any]:
    points = [(r.observed_at, r.value) for r in rain if r.value is not None]
    totals = levels.rain_totals(points, now)
    day = levels.rain_day(now)
    start, end = levels.rain_day_bounds(day)
    day_total = round(sum(v for at, v in points if start < at <= end), 2)
    category = levels.rain_category_24h(totals[24])
    return {
        "totals_mm": {f"{h}h": total for h, total in totals.items()},
        "category_24h": category.name,
        "category_24h_name": levels.RAIN_NAMES[category],
        "intense": levels.intense_rain(totals[3]),
        "rain_day": {"date": day.isoformat(), "total_mm": day_total},
    }


def _wind(recent: Mapping[Parameter, Sequence[Reading]]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for parameter, key in ((Parameter.wind_speed, "speed"), (Parameter.wind_gust, "gust")):
        good = [r for r in recent.get(parameter, ()) if r.drives_alarms]
        reading = good[-1] if good else None
        if reading is None or reading.value is None:
            view[key] = None
            continue
        cap = levels.cap_gio(reading.value)
        category = levels.wind_category(cap)
        view[key] = {
            "m_s": reading.value,
            "cap_gio": cap,
            "category": category.name,
            "category_name": levels.WIND_NAMES[category],
        }
    return view


def _forecast(
    forecasts: Sequence[tuple[Parameter, datetime, float | None]], now: datetime
) -> dict[str, Any]:
    horizon = now + timedelta(hours=24)
    rain = [
        v for p, at, v in forecasts if p is Parameter.rainfall and v is not None and at <= horizon
    ]
    gusts = [
        v for p, at, v in forecasts if p is Parameter.wind_gust and v is not None and at <= horizon
    ]
    winds = [
        v for p, at, v in forecasts if p is Parameter.wind_speed and v is not None and at <= horizon
    ]
    rain_24h = round(sum(rain), 1)
    return {
        "rain_next_24h_mm": rain_24h,
        "rain_next_24h_category": levels.rain_category_24h(rain_24h).name,
        "max_wind_cap_gio": levels.cap_gio(max(winds)) if winds else None,
        "max_gust_cap_gio": levels.cap_gio(max(gusts)) if gusts else None,
    }
