"""Adapters' pure parse() functions on the payloads and on their documented edge cases."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from canhbao.clock import LOCAL_TZ
from feeds.errors import PayloadInvalid
from feeds.models import Parameter, convert, number
from feeds.ports import decode_json
from feeds.sources import ea, nws, openmeteo, sensorthings, vndms
from tests.feeds.conftest import load

NOW = datetime(2025, 11, 22, 0, 0, tzinfo=LOCAL_TZ)


def at_local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)


# -- VNDMS --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "now", "expected"),
    [
        ("0h \n15/11", NOW, at_local(2025, 11, 15, 0)),
        ("23h \n21/11", NOW, at_local(2025, 11, 21, 23)),
        ("7h30/12", datetime(2025, 12, 20, tzinfo=LOCAL_TZ), at_local(2025, 12, 12, 7, 30)),
        # December seen in January belongs to the year before.
        ("23h \n31/12", datetime(2026, 1, 1, 6, tzinfo=LOCAL_TZ), at_local(2025, 12, 31, 23)),
        ("7h30/28", datetime(2026, 1, 2, tzinfo=LOCAL_TZ), at_local(2025, 12, 28, 7, 30)),
        # Up to a day ahead is allowed: clocks and the portal's rounding disagree a little.
        ("1h \n22/11", NOW, at_local(2025, 11, 22, 1)),
    ],
)
def test_vndms_labels(label: str, now: datetime, expected: datetime) -> None:
    assert vndms.parse_label(label, now.astimezone(UTC)) == expected


@pytest.mark.parametrize("label", ["", "15/11", "25h \n15/11", "0h \n31/11 extra", "noon"])
def test_vndms_bad_labels(label: str) -> None:
    with pytest.raises(PayloadInvalid):
        vndms.parse_label(label, NOW)


# hypothesis wants naive bounds; the time zone is put on below.
@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1)))  # noqa: DTZ001
def test_vndms_label_round_trip(moment: datetime) -> None:
    hour = moment.replace(minute=0, second=0, microsecond=0, tzinfo=LOCAL_TZ)
    now = hour + timedelta(days=30)
    label = f"{hour.hour}h \n{hour.day}/{hour.month}"
    assert vndms.parse_label(label, now) == hour.astimezone(UTC)


@given(st.text(max_size=20))
def test_vndms_label_garbage_is_refused_cleanly(label: str) -> None:
    try:
        vndms.parse_label(label, NOW)
    except PayloadInvalid:
        pass


def test_vndms_series_gaps_and_thresholds() -> None:
    payload = {
        "labels": "0h \n17/11,1h \n17/11,2h \n17/11,3h \n17/11,4h \n17/11,5h \n17/11",
        "value": "3.8,-,null,NULL,,4.43",
        "bao_dong1": "1.5,1.5,1.5,1.5,1.5,1.5",
        "bao_dong2": "3,3,3,3,3,3",
        "bao_dong3": "4.5,4.5,4.5,4.5,4.5,4.5",
        "gia_tri_lu_lich_su": "5.31,5.31,5.31,5.31,5.31,5.31",
        "name_vn": "Phú Ốc",
        "river_name": "Bồ",
    }
    series = vndms.parse_series(payload, source_id="71518", now=NOW)
    assert [o.value for o in series.observations] == [3.8, None, None, None, None, 4.43]
    assert series.observations[0].observed_at == at_local(2025, 11, 17, 0)
    assert series.catalogue is not None
    assert series.catalogue.details["bao_dong2"] == 3.0
    assert series.quirks == ()


def test_vndms_series_quirks() -> None:
    payload = {"labels": "0h \n17/11,bad,2h \n17/11,2h \n17/11", "value": "1,2,3,4,5"}
    series = vndms.parse_series(payload, source_id="71518", now=NOW)
    assert [o.value for o in series.observations] == [1.0, 3.0]
    assert len(series.quirks) == 3  # counts differ, a bad label, a repeated time


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"labels": ["0h \n17/11"], "value": ["1"]},
        {"labels": "0h \n17/11", "value": "nan"},
        {"labels": "0h \n17/11", "value": "abc"},
        {"labels": "x,y", "value": "1,2"},
    ],
)
def test_vndms_series_refused(payload: Any) -> None:
    with pytest.raises(PayloadInvalid):
        vndms.parse_series(payload, source_id="71518", now=NOW)


def test_vndms_station_list() -> None:
    entries, quirks = vndms.parse_station_list(load("vndms_water_level.json"))
    assert quirks == ()
    assert [(e.source_id, e.name, e.river) for e in entries] == [
        ("71520", "Kim Long", "Hương - Bồ"),
        ("71518", "Phú Ốc", "Hương - Bồ"),
    ]
    assert entries[0].lon == pytest.approx(107.5667)


# -- SensorThings -------------------------------------------------------------------------------


def test_sensorthings_units_and_intervals() -> None:
    payload = load("sta_civiliot_taiwan_flood_depth_excerpt.json")
    payload["value"][0]["Observations"][0]["result"] = 42
    payload["value"][1]["unitOfMeasurement"] = {"name": "foot", "symbol": "ft"}
    payload["value"][1]["Observations"][0]["result"] = "1.5"
    page = sensorthings.parse(payload, parameter=Parameter.flood_depth)
    assert [o.value for o in page.observations] == [0.42, pytest.approx(0.4572)]
    assert page.next_link is not None
    # phenomenonTime "a/b" on the Datastream; the Observation's own instant is used.
    assert page.observations[0].observed_at == datetime(2021, 12, 22, 1, 2, tzinfo=UTC)


def test_sensorthings_unknown_unit_skips_that_stream() -> None:
    payload = load("sta_civiliot_taiwan_flood_depth_excerpt.json")
    payload["value"][0]["unitOfMeasurement"] = {"name": "litre", "symbol": "L"}
    page = sensorthings.parse(payload, parameter=Parameter.flood_depth)
    assert [o.source_id for o in page.observations] == ["2859"]
    assert "cannot be a flood_depth" in page.quirks[0]


def test_sensorthings_naive_time_is_refused() -> None:
    with pytest.raises(PayloadInvalid, match="no time zone"):
        sensorthings.parse_time("2022-02-07T10:09:10", "x")


# -- Environment Agency ---------------------------------------------------------------------------


def _measure(unit: str, value: Any) -> dict[str, Any]:
    item = copy.deepcopy(load("ea_measures_level_stage_latest_trimmed.json")["items"][0])
    item["unitName"] = unit
    item["latestReading"]["value"] = value
    return {"items": [item]}


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [("mASD", 0.392, 0.392), ("mm", 392, 0.392), ("m", 1.5, 1.5), ("mAOD", -0.4, -0.4)],
)
def test_ea_level_units(unit: str, value: float, expected: float) -> None:
    observations, _ = ea.parse_measures(_measure(unit, value))
    assert observations[0].value == pytest.approx(expected)


@pytest.mark.parametrize("unit", ["---", "m3/s", "m/s", ""])
def test_ea_non_level_units_are_skipped_not_fatal(unit: str) -> None:
    observations, quirks = ea.parse_measures(_measure(unit, 2.0))
    assert observations == ()
    assert "skipped" in quirks[0]


def test_ea_nan_refuses_the_payload() -> None:
    with pytest.raises(PayloadInvalid):
        ea.parse_measures(_measure("mASD", float("nan")))


# -- Open-Meteo -----------------------------------------------------------------------------------


def test_openmeteo_single_point_and_kmh() -> None:
    point = load("openmeteo_forecast_hue.json")[0]
    point["hourly_units"]["wind_speed_10m"] = "km/h"
    point["hourly"]["wind_speed_10m"] = [36.0] * 24
    forecasts = openmeteo.parse(point, ["71520"])
    wind = [f for f in forecasts if f.parameter is Parameter.wind_speed]
    assert {f.value for f in wind} == {10.0}
    assert wind[0].valid_at == datetime(2025, 11, 15, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["hourly"].update(precipitation=[1.0]),
        lambda p: p.pop("utc_offset_seconds"),
        lambda p: p["hourly"]["time"].__setitem__(0, "tomorrow"),
        lambda p: p.update(error=True, reason="Latitude must be in range"),
    ],
)
def test_openmeteo_refused(change: Any) -> None:
    point = load("openmeteo_forecast_hue.json")[0]
    change(point)
    with pytest.raises(PayloadInvalid):
        openmeteo.parse(point, ["71520"])


def test_openmeteo_counts_must_match() -> None:
    with pytest.raises(PayloadInvalid, match="2 locations for 1 asked"):
        openmeteo.parse(load("openmeteo_forecast_hue.json"), ["71520"])


# -- NWS ------------------------------------------------------------------------------------------


def test_nws_rejected_values_are_missing() -> None:
    payload = load("nws_stations_observations_latest.json")
    payload["properties"]["windSpeed"]["qualityControl"] = "X"
    observations, quirks = nws.parse(payload, source_id="KFLL")
    speed = next(o for o in observations if o.parameter is Parameter.wind_speed)
    assert speed.value is None
    assert speed.note == "NWS qualityControl X"
    assert "rejected by NWS QC" in quirks[0]


# -- shared helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "parameter", "expected"),
    [
        (10.0, "ft", Parameter.water_level, 3.048),
        (36.0, "km/h", Parameter.wind_speed, 10.0),
        (10.0, "kn", Parameter.wind_gust, 5.14444),
        (1.0, "in", Parameter.rainfall, 25.4),
        (0.002, "wmoUnit:m", Parameter.rainfall, 2.0),
    ],
)
def test_unit_conversion(value: float, unit: str, parameter: Parameter, expected: float) -> None:
    assert convert(value, unit, parameter) == pytest.approx(expected)


def test_a_level_unit_is_no_wind_unit() -> None:
    with pytest.raises(PayloadInvalid):
        convert(1.0, "m", Parameter.wind_speed)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1.0", True, [1.0]])
def test_number_refuses_what_is_not_a_finite_number(value: Any) -> None:
    with pytest.raises(PayloadInvalid):
        number(value, "x")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<!DOCTYPE html><html>502</html>", "HTML or XML page"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b'{"a": Infinity}', "Infinity is not a JSON number"),
        (b'{"items": [1, 2', "not valid JSON"),
        (b'{"a": "\xff"}', "not UTF-8"),
    ],
)
def test_decode_json_refusals(body: bytes, message: str) -> None:
    with pytest.raises(PayloadInvalid, match=message):
        decode_json(body, "x")
