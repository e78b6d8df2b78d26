"""The citizen device API: registration, secrets, updates, rate limiting, dropped tokens."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely

from canhbao import eventlog, keys
from canhbao.cli import main as cli_main
from canhbao.clock import ManualClock, utc_text
from canhbao.config import load_config
from geofences import jobs
from geofences.ratelimit import RateLimiter
from notify.events import PUSH_TOKEN_REJECTED, PushTokenRejected
from tests.conftest import AppClient, make_config
from tests.geofences.conftest import (
    PHU_XUAN,
    THUAN_AN,
    Client,
    Register,
    fcm_token,
    load_hue,
    registry,
)

SECRET = "X-Device-Secret"


async def queued(client: Client) -> set[tuple[str, str, int]]:
    assert client.app is not None
    rows = await client.app[keys.DB].fetch_all(
        "SELECT token, topic, subscribe FROM geofences_topic_queue"
    )
    return {(row["token"], row["topic"], row["subscribe"]) for row in rows}


async def test_a_registered_device_gets_an_id_a_secret_and_its_wards_topics(
    hue: Client, register: Register
) -> None:
    answer = await register(hue, at=PHU_XUAN, areas=["hue.vy-da"], phone="0905 123 456")
    device = answer["device"]
    assert device["location_area"] == "hue.phu-xuan"
    assert device["area_codes"] == ["hue.vy-da"]
    assert device["phone"] == "+84905123456"
    assert device["topics"] == ["area-hue", "area-hue.phu-xuan", "area-hue.vy-da"]
    assert len(answer["secret"]) >= 40
    assert answer["device_id"] != answer["secret"]
    token = answer["token"]
    assert await queued(hue) == {
        (token, "area-hue", 1),
        (token, "area-hue.phu-xuan", 1),
        (token, "area-hue.vy-da", 1),
    }
    # The secret is stored only as its SHA-256.
    assert hue.app is not None
    row = await hue.app[keys.DB].fetch_one(
        "SELECT secret_hash FROM geofences_devices WHERE public_id = ?", (answer["device_id"],)
    )
    assert row is not None
    assert row["secret_hash"] == hashlib.sha256(answer["secret"].encode()).hexdigest()
    # And the device is in the index targeting reads.
    phu_xuan = registry(hue).catalog.by_code["hue.phu-xuan"]
    plan = registry(hue).plan(registry(hue).catalog.geometry[phu_xuan.id])
    assert plan.device_count == 1


async def test_later_calls_need_the_secret(hue: Client, register: Register) -> None:
    answer = await register(hue, at=PHU_XUAN)
    path = f"/api/v1/devices/{answer['device_id']}"
    ok = await hue.get(path, headers={SECRET: answer["secret"]})
    assert ok.status == 200
    assert (await ok.json())["device_id"] == answer["device_id"]
    for headers in ({}, {SECRET: "wrong"}, {SECRET: answer["secret"] + "x"}):
        refused = await hue.get(path, headers=headers)
        assert refused.status == 401
        error = (await refused.json())["error"]
        assert error["code"] == "device_refused"
        assert error["message"].startswith("Không tìm thấy thiết bị")
    unknown = await hue.get("/api/v1/devices/nobody", headers={SECRET: answer["secret"]})
    assert unknown.status == 401
    other = await register(hue)
    cross = await hue.patch(path, json={"language": "en"}, headers={SECRET: other["secret"]})
    assert cross.status == 401


async def test_moving_changes_the_ward_and_its_topics(hue: Client, register: Register) -> None:
    answer = await register(hue, at=PHU_XUAN)
    token = answer["token"]
    assert hue.app is not None
    await hue.app[keys.DB].execute("DELETE FROM geofences_topic_queue")
    response = await hue.patch(
        f"/api/v1/devices/{answer['device_id']}",
        json={"location": {"lon": THUAN_AN[0], "lat": THUAN_AN[1], "accuracy_m": 8}},
        headers={SECRET: answer["secret"]},
    )
    assert response.status == 200, await response.text()
    device = await response.json()
    assert device["location_area"] == "hue.thuan-an"
    assert device["topics"] == ["area-hue", "area-hue.thuan-an"]
    assert await queued(hue) == {(token, "area-hue.phu-xuan", 0), (token, "area-hue.thuan-an", 1)}
    catalog = registry(hue).catalog
    thuan_an = catalog.geometry[catalog.by_code["hue.thuan-an"].id]
    phu_xuan = catalog.geometry[catalog.by_code["hue.phu-xuan"].id]
    assert registry(hue).plan(thuan_an).device_count == 1
    assert registry(hue).plan(phu_xuan).device_count == 0


async def test_a_token_refresh_moves_the_topics_to_the_new_token(
    hue: Client, register: Register
) -> None:
    answer = await register(hue, at=PHU_XUAN)
    old, new = answer["token"], fcm_token()
    assert hue.app is not None
    await hue.app[keys.DB].execute("DELETE FROM geofences_topic_queue")
    response = await hue.patch(
        f"/api/v1/devices/{answer['device_id']}",
        json={"token": new, "area_codes": ["hue.kim-long"], "language": "en"},
        headers={SECRET: answer["secret"]},
    )
    assert response.status == 200, await response.text()
    device = await response.json()
    assert device["language"] == "en"
    # English devices hear each area on its ~en topic, so a topic send can be in English.
    assert device["topics"] == ["area-hue.kim-long~en", "area-hue.phu-xuan~en", "area-hue~en"]
    assert await queued(hue) == {
        (old, "area-hue", 0),
        (old, "area-hue.phu-xuan", 0),
        (new, "area-hue~en", 1),
        (new, "area-hue.kim-long~en", 1),
        (new, "area-hue.phu-xuan~en", 1),
    }


async def test_a_language_change_moves_the_device_to_that_languages_topics(
    hue: Client, register: Register
) -> None:
    answer = await register(hue, at=PHU_XUAN)
    token = answer["token"]
    assert hue.app is not None
    await hue.app[keys.DB].execute("DELETE FROM geofences_topic_queue")
    response = await hue.patch(
        f"/api/v1/devices/{answer['device_id']}",
        json={"language": "en"},
        headers={SECRET: answer["secret"]},
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["topics"] == ["area-hue.phu-xuan~en", "area-hue~en"]
    assert await queued(hue) == {
        (token, "area-hue", 0),
        (token, "area-hue.phu-xuan", 0),
        (token, "area-hue~en", 1),
        (token, "area-hue.phu-xuan~en", 1),
    }
    phu_xuan = registry(hue).catalog.geometry[registry(hue).catalog.by_code["hue.phu-xuan"].id]
    plan = registry(hue).plan(phu_xuan)
    assert plan.conditions_in("en") == ("'area-hue.phu-xuan~en' in topics",)
    assert plan.conditions_in("vi") == plan.conditions == ("'area-hue.phu-xuan' in topics",)


async def test_registering_a_known_token_again_replaces_the_old_device(
    hue: Client, register: Register
) -> None:
    first = await register(hue, at=PHU_XUAN)
    second = await register(hue, at=THUAN_AN, token=first["token"])
    assert second["device_id"] != first["device_id"]
    gone = await hue.get(f"/api/v1/devices/{first['device_id']}", headers={SECRET: first["secret"]})
    assert gone.status == 401
    assert len(registry(hue).devices) == 1
    token = first["token"]
    # The token leaves Phú Xuân's topic and joins Thuận An's; the city's stays as it was.
    assert {(t, topic, s) for t, topic, s in await queued(hue)} == {
        (token, "area-hue", 1),
        (token, "area-hue.thuan-an", 1),
        (token, "area-hue.phu-xuan", 0),
    }


async def test_unregistering_removes_the_device_and_unsubscribes_its_token(
    hue: Client, register: Register
) -> None:
    answer = await register(hue, at=PHU_XUAN, areas=["hue.vy-da"])
    path = f"/api/v1/devices/{answer['device_id']}"
    deleted = await hue.delete(path, headers={SECRET: answer["secret"]})
    assert deleted.status == 204
    assert (await hue.get(path, headers={SECRET: answer["secret"]})).status == 401
    token = answer["token"]
    # The subscribes were never handed over: they become unsubscribes (harmless if never sent).
    assert await queued(hue) == {
        (token, "area-hue", 0),
        (token, "area-hue.phu-xuan", 0),
        (token, "area-hue.vy-da", 0),
    }
    assert len(registry(hue).devices) == 0
    assert all(not members for members in registry(hue).subscribers.values())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"token": "short", "platform": "android"}, "token"),
        ({"token": "t" * 30, "platform": "symbian"}, "platform"),
        ({"token": "t" * 30, "platform": "ios", "language": "fr"}, "language"),
        (
            {"token": "t" * 30, "platform": "ios", "location": {"lat": 95, "lon": 107}},
            "location.lat",
        ),
        (
            {"token": "t" * 30, "platform": "ios", "location": {"lat": 16, "lon": "x"}},
            "location.lon",
        ),
        ({"token": "t" * 30, "platform": "ios", "phone": "12"}, "phone"),
        ({"token": "t" * 30, "platform": "ios", "area_codes": "hue"}, "area_codes"),
        ({"token": "t" * 30, "platform": "ios", "imei": "123"}, "imei"),
        (
            {"token": "t" * 30, "platform": "ios", "area_codes": [f"a{i}" for i in range(11)]},
            "area_codes",
        ),
    ],
)
async def test_a_bad_registration_names_the_field(
    hue: Client, body: dict[str, object], field: str
) -> None:
    response = await hue.post("/api/v1/devices", json=body)
    assert response.status == 400
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("invalid_field", field)
    assert error["message"].startswith("Dữ liệu không hợp lệ")


async def test_an_unknown_area_is_refused_with_its_code(hue: Client, register: Register) -> None:
    response = await hue.post(
        "/api/v1/devices",
        json={"token": fcm_token(), "platform": "ios", "area_codes": ["hue.atlantis"]},
    )
    assert response.status == 422
    assert (await response.json())["error"]["codes"] == ["hue.atlantis"]
    assert len(registry(hue).devices) == 0


async def test_an_old_fix_is_stored_but_does_not_count(
    hue: Client, register: Register, clock: ManualClock
) -> None:
    old = utc_text(clock.now() - timedelta(hours=30))
    answer = await register(hue, location={"lon": PHU_XUAN[0], "lat": PHU_XUAN[1], "time": old})
    assert answer["device"]["location_area"] == "hue.phu-xuan"
    assert answer["device"]["topics"] == []
    # A fix from the future (a phone's clock ahead) is taken as now.
    future = utc_text(clock.now() + timedelta(hours=3))
    ahead = await register(hue, location={"lon": PHU_XUAN[0], "lat": PHU_XUAN[1], "time": future})
    assert ahead["device"]["location"]["time"] == clock.now().isoformat()


async def test_locations_going_stale_leave_their_ward_topic(
    hue: Client, register: Register, clock: ManualClock
) -> None:
    answer = await register(hue, at=PHU_XUAN, areas=["hue.vy-da"])
    token = answer["token"]
    assert hue.app is not None
    await hue.app[keys.DB].execute("DELETE FROM geofences_topic_queue")
    assert await jobs.maintain(hue.app) == 0
    clock.advance(timedelta(hours=24, seconds=1))
    assert await jobs.maintain(hue.app) == 1
    # Vỹ Dạ is a subscription (and keeps the city's topic); Phú Xuân was only where it was.
    assert await queued(hue) == {(token, "area-hue.phu-xuan", 0)}
    device = await (
        await hue.get(f"/api/v1/devices/{answer['device_id']}", headers={SECRET: answer["secret"]})
    ).json()
    assert device["topics"] == ["area-hue", "area-hue.vy-da"]


async def test_a_token_fcm_rejects_is_dropped_and_can_be_replaced(
    hue: Client, register: Register
) -> None:
    answer = await register(hue, at=PHU_XUAN, areas=["hue.vy-da"])
    assert hue.app is not None
    rejected = PushTokenRejected(answer["token"], "UNREGISTERED")
    # As the sender records it: in the durable event log with the send's outcome (twice here:
    # delivery is at least once), then the same event on the bus to say the log has news.
    for _ in range(2):
        async with hue.app[keys.DB].transaction() as conn:
            await eventlog.append(conn, PUSH_TOKEN_REJECTED, [rejected], datetime.now(UTC))
    await hue.app[keys.BUS].publish(rejected)
    await hue.app[keys.EVENTS].settled()
    health = hue.app[keys.HEALTH].components["events.geofences.drop_token"]
    assert health.status == "ok"
    path = f"/api/v1/devices/{answer['device_id']}"
    device = await (await hue.get(path, headers={SECRET: answer["secret"]})).json()
    assert device["has_token"] is False
    assert device["topics"] == []
    assert await queued(hue) == set()
    assert len(registry(hue).devices) == 0
    catalog = registry(hue).catalog
    vy_da = catalog.geometry[catalog.by_code["hue.vy-da"].id]
    assert registry(hue).plan(vy_da).device_count == 0
    # The app later sends a fresh token: the device is back, with its topics.
    token = fcm_token()
    refreshed = await hue.patch(path, json={"token": token}, headers={SECRET: answer["secret"]})
    assert (await refreshed.json())["has_token"] is True
    assert registry(hue).plan(vy_da).device_count == 1
    assert {topic for t, topic, s in await queued(hue) if t == token and s} == {
        "area-hue",
        "area-hue.phu-xuan",
        "area-hue.vy-da",
    }


async def test_requests_past_the_limit_get_429_with_retry_after(
    app_client: AppClient, tmp_path: Path, clock: ManualClock, register: Register
) -> None:
    config = make_config(tmp_path, {"geofences": {"rate_limit": {"per_second": 0.5, "burst": 3}}})
    client = await app_client(config=config)
    for _ in range(3):
        await register(client)
    refused = await client.post(
        "/api/v1/devices", json={"token": fcm_token(), "platform": "android"}
    )
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "2"
    error = (await refused.json())["error"]
    assert error["code"] == "rate_limited"
    assert error["message"].startswith("Quá nhiều yêu cầu, vui lòng thử lại sau 2 giây")
    # Reads count too: the limit is per client address, whatever the endpoint.
    assert (await client.get("/api/v1/areas")).status == 429
    clock.advance(timedelta(seconds=2))
    await register(client)


async def test_the_retry_after_header_reaches_the_client(
    app_client: AppClient, tmp_path: Path
) -> None:
    config = make_config(tmp_path, {"geofences": {"rate_limit": {"per_second": 0.01, "burst": 1}}})
    client = await app_client(config=config)
    assert (await client.get("/api/v1/areas")).status == 200
    refused = await client.get("/api/v1/areas")
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "100"


def test_each_address_has_its_own_bucket_and_memory_is_bounded() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1.0, burst=2, max_clients=3, now=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limiter.acquire("b") == 0.0
    now[0] = 0.5
    assert limiter.acquire("a") == pytest.approx(0.5)
    for client in "cdef":
        limiter.acquire(client)
    assert len(limiter) == 3
    # "a" was forgotten (least recently used): it starts again with a full bucket.
    assert limiter.acquire("a") == 0.0
    assert RateLimiter.retry_after(0.01) == "1"
    assert RateLimiter.retry_after(2.2) == "3"


async def test_devices_and_subscriptions_survive_a_restart(
    app_client: AppClient, register: Register, config: object
) -> None:
    client = await app_client()
    await load_hue(client)
    await register(client, at=PHU_XUAN, areas=["hue.vy-da"])
    await register(client, at=THUAN_AN)
    await register(client, areas=["hue.vy-da"])
    await client.close()
    restarted = await app_client()
    loaded = registry(restarted)
    assert len(loaded.devices) == 2
    vy_da = loaded.catalog.by_code["hue.vy-da"].id
    assert len(loaded.subscribers[vy_da]) == 2
    city = loaded.catalog.geometry[loaded.catalog.by_code["hue"].id]
    assert loaded.plan(shapely.buffer(city, 0.01)).device_count == 3


async def test_a_device_request_body_is_capped(hue: Client) -> None:
    response = await hue.post(
        "/api/v1/devices",
        data=b"{" + b" " * 20_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 413


async def test_areas_imported_by_the_cli_reach_a_running_service(
    app_client: AppClient, tmp_path: Path, register: Register
) -> None:
    config_path = tmp_path / "config.toml"
    config_path.write_text(
        '[database]\n# test\npath = "canhbao.sqlite3"\n'
        "[geofences]\n# test\ntopic_flush_interval_s = 3600.0\n"
        "# test\nmaintenance_interval_s = 3600.0\n"
        "# test\nareas_refresh_interval_s = 3600.0\n",
        encoding="utf-8",
    )
    client = await app_client(config=load_config(config_path), clock=ManualClock(datetime.now(UTC)))
    # The command runs its own event loop, as from a shell: give it a thread.
    assert (
        await asyncio.to_thread(cli_main, ["--config", str(config_path), "areas", "load-hue"]) == 0
    )
    assert client.app is not None
    # The service has not looked yet: the device lands in no area.
    answer = await register(client, at=PHU_XUAN)
    assert answer["device"]["location_area"] is None
    await jobs.refresh_areas(client.app)
    assert "hue.phu-xuan" in registry(client).catalog.by_code
    device = await (
        await client.get(
            f"/api/v1/devices/{answer['device_id']}", headers={SECRET: answer["secret"]}
        )
    ).json()
    assert device["location_area"] == "hue.phu-xuan"
    assert device["topics"] == ["area-hue", "area-hue.phu-xuan"]
    # A zone drawn inside the ward: the device is now in the deepest area, and its topic.
    zone = tmp_path / "zone.geojson"
    square = shapely.box(
        PHU_XUAN[0] - 0.002, PHU_XUAN[1] - 0.002, PHU_XUAN[0] + 0.002, PHU_XUAN[1] + 0.002
    )
    zone.write_text(
        json.dumps(
            {
                "type": "Feature",
                "properties": {"ten": "Đập Đá"},
                "geometry": shapely.geometry.mapping(square),
            }
        ),
        encoding="utf-8",
    )
    args = ["--config", str(config_path), "areas", "import", str(zone), "--name-property", "ten"]
    assert await asyncio.to_thread(cli_main, [*args, "--parent", "hue.phu-xuan"]) == 0
    await jobs.refresh_areas(client.app)
    device = await (
        await client.get(
            f"/api/v1/devices/{answer['device_id']}", headers={SECRET: answer["secret"]}
        )
    ).json()
    assert device["location_area"] == "hue.phu-xuan.dap-da"
    assert device["topics"] == ["area-hue", "area-hue.phu-xuan", "area-hue.phu-xuan.dap-da"]
    assert (answer["token"], "area-hue.phu-xuan.dap-da", 1) in await queued(client)


async def test_concurrent_requests_share_transactions_yet_each_gets_its_own_answer(
    hue: Client, register: Register
) -> None:
    one, two, three = [await register(hue, at=PHU_XUAN) for _ in range(3)]

    def patch(device: dict[str, Any], body: dict[str, Any], secret: str | None = None) -> Any:
        return hue.patch(
            f"/api/v1/devices/{device['device_id']}",
            json=body,
            headers={SECRET: secret or device["secret"]},
        )

    new_token = fcm_token()
    answers = await asyncio.gather(
        patch(one, {"location": {"lon": THUAN_AN[0], "lat": THUAN_AN[1]}}),
        patch(one, {"language": "en"}),  # the same device again: applied after the first
        patch(two, {"language": "en"}, secret="wrong"),
        patch(three, {"token": new_token, "area_codes": ["hue.vy-da"]}),
    )
    assert [answer.status for answer in answers] == [200, 200, 401, 200]
    moved, english, refreshed = [await answers[i].json() for i in (0, 1, 3)]
    assert moved["location_area"] == "hue.thuan-an"
    assert (english["language"], english["location_area"]) == ("en", "hue.thuan-an")
    assert refreshed["topics"] == ["area-hue", "area-hue.phu-xuan", "area-hue.vy-da"]
    stored = await (
        await hue.get(f"/api/v1/devices/{two['device_id']}", headers={SECRET: two["secret"]})
    ).json()
    assert stored["language"] == "vi"
    assert new_token in {token for token, _, _ in await queued(hue)}

    # Two registrations of one token at once: the later one replaces the earlier.
    token = fcm_token()
    first, second = await asyncio.gather(
        register(hue, token=token, at=PHU_XUAN), register(hue, token=token, at=THUAN_AN)
    )
    statuses = [
        (await hue.get(f"/api/v1/devices/{a['device_id']}", headers={SECRET: a["secret"]})).status
        for a in (first, second)
    ]
    assert sorted(statuses) == [200, 401]
    assert len(registry(hue).devices) == 4


async def test_a_token_taken_over_in_the_same_batch_as_its_old_devices_move(
    hue: Client, register: Register
) -> None:
    taker = await register(hue, at=PHU_XUAN)
    holder = await register(hue, at=PHU_XUAN)
    assert hue.app is not None
    await hue.app[keys.DB].execute("DELETE FROM geofences_topic_queue")
    took, moved = await asyncio.gather(
        hue.patch(
            f"/api/v1/devices/{taker['device_id']}",
            json={"token": holder["token"]},
            headers={SECRET: taker["secret"]},
        ),
        hue.patch(
            f"/api/v1/devices/{holder['device_id']}",
            json={"location": {"lon": THUAN_AN[0], "lat": THUAN_AN[1]}},
            headers={SECRET: holder["secret"]},
        ),
    )
    assert took.status == 200
    assert moved.status in (200, 401)  # 401 when both landed in one batch: it was replaced
    gone = await hue.get(
        f"/api/v1/devices/{holder['device_id']}", headers={SECRET: holder["secret"]}
    )
    assert gone.status == 401
    assert len(registry(hue).devices) == 1
    # The token keeps Phú Xuân (the taker's ward) and never joins Thuận An.
    changes = {(topic, s) for t, topic, s in await queued(hue) if t == holder["token"]}
    assert ("area-hue.thuan-an", 1) not in changes
    catalog = registry(hue).catalog
    thuan_an = catalog.geometry[catalog.by_code["hue.thuan-an"].id]
    assert registry(hue).plan(thuan_an).device_count == 0
