"""Figures (median and p90 per local day and per ward) and exports (CSV, GeoJSON), with the
injected clock and once with the real one (sub-second times, UTC vs Asia/Ho_Chi_Minh)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from canhbao.clock import ManualClock, SystemClock
from dispatch.reports import percentile
from tests.conftest import AppClient, StaffFactory
from tests.dispatch.conftest import CALLER, HUE

API = "/api/v1/dispatch"
PATH = ("triaged", "offered", "accepted", "en_route", "on_scene", "resolved")


def test_nearest_rank_percentiles() -> None:
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    values = [float(v) for v in range(1, 11)]
    assert (percentile(values, 0.5), percentile(values, 0.9)) == (5.0, 9.0)


async def test_figures_per_local_day_and_ward(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    # 23:55 in Huế on the 15th is 16:55 UTC: the third request comes after local midnight.
    clock.set(datetime(2025, 11, 15, 16, 55, tzinfo=UTC))
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    for minutes_to_accept in (2, 4, 10):
        created = await (await minh.post(f"{API}/requests", json={"caller": CALLER})).json()
        path = f"{API}/requests/{created['id']}/state"
        for state in PATH:
            clock.advance(timedelta(minutes=minutes_to_accept if state == "accepted" else 0))
            await minh.post(path, json={"state": state})
        clock.advance(timedelta(minutes=1))
    figures = await (await minh.get(f"{API}/figures", params={"days": "2"})).json()
    assert [d["day"] for d in figures["days"]] == ["2025-11-15", "2025-11-16"]
    total = figures["total"]
    assert total["requests"] == 3
    assert total["to_accept"] == {"count": 3, "median_s": 240.0, "p90_s": 600.0}
    assert figures["wards"][0]["ward"] is None


async def test_exports_carry_every_request_and_no_phone(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    lan = await staff(client, "lan", roles=["operator"])
    await lan.post(f"{API}/requests", json={"caller": CALLER, **HUE, "address": "=cmd|' /C'"})
    await lan.post(f"{API}/requests", json={"caller": CALLER})
    text = await (await lan.get(f"{API}/requests.csv")).text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["number"] for r in rows] == ["1001", "1002"]
    assert rows[0]["address"].startswith("'=")
    assert CALLER not in text
    geo = await (await lan.get(f"{API}/requests.geojson")).json()
    first, second = geo["features"]
    assert first["geometry"] == {"type": "Point", "coordinates": [HUE["lon"], HUE["lat"]]}
    assert second["geometry"] is None
    assert CALLER not in str(geo)


async def test_with_the_real_clock_times_and_figures_hold(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client(clock=SystemClock())
    minh = await staff(client, "minh", roles=["dispatcher"])
    created = await (await minh.post(f"{API}/requests", json={"caller": CALLER, **HUE})).json()
    path = f"{API}/requests/{created['id']}"
    assert (await minh.post(f"{path}/claim")).status == 200
    for state in PATH:
        response = await minh.post(f"{path}/state", json={"state": state})
        assert response.status == 200, await response.text()
    timeline = (await (await minh.get(f"{path}/timeline")).json())["history"]
    moments = [datetime.fromisoformat(e["at"]) for e in timeline]
    assert moments == sorted(moments)
    assert all(
        datetime.fromisoformat(e["at_local"]).utcoffset() == timedelta(hours=7) for e in timeline
    )
    figures = await (await minh.get(f"{API}/figures")).json()
    stage = figures["total"]["to_resolved"]
    assert stage["count"] == 1
    assert 0 <= stage["median_s"] < 60
    assert (await minh.get(f"{API}/requests.csv")).status == 200
    opened = await (await minh.get(f"{API}/requests/open")).json()
    assert opened["rescue_requests"] == []
