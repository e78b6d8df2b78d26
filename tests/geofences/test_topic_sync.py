"""Devices' wards kept in step with FCM topics: through the outbox, against the FCM double."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from canhbao import keys
from canhbao.clock import ManualClock
from geofences import jobs
from geofences.models import Registration
from geofences.ports import TOPIC_PRIORITY
from notify import keys as notify_keys
from notify.models import TopicChange
from notify.outbox import decode_message
from tests.conftest import AppClient
from tests.doubles.fcm import RunningFcm, serve_fcm_double
from tests.geofences.conftest import (
    PHU_XUAN,
    THUAN_AN,
    Client,
    Register,
    eventually,
    fcm_token,
    load_hue,
    manual_jobs,
    registry,
)

SECRET = "X-Device-Secret"


@pytest.fixture
async def fcm(aiohttp_server: Callable[..., Any], tmp_path: Path) -> RunningFcm:
    return await serve_fcm_double(aiohttp_server, tmp_path)


@pytest.fixture
async def app(
    app_client: AppClient, fcm: RunningFcm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Client:
    """The app sending through firebase-admin's wire format to the FCM double."""
    monkeypatch.setenv("CANHBAO_FIREBASE_CREDENTIALS", str(fcm.credentials_path))
    config = manual_jobs(
        tmp_path,
        {
            "push": {
                "provider": "firebase",
                "firebase": {"project_id": fcm.double.project_id, "endpoint": fcm.endpoint},
            },
            "outbox": {"poll_interval_s": 0.02},
        },
    )
    client = await app_client(config=config)
    await load_hue(client)
    return client


async def outbox_rows(client: Client) -> list[Any]:
    assert client.app is not None
    return await client.app[keys.DB].fetch_all(
        "SELECT attempts, status, error_code FROM outbox WHERE channel = 'topic' ORDER BY id"
    )


def subscribed(fcm: RunningFcm) -> dict[str, set[str]]:
    return {topic: set(tokens) for topic, tokens in fcm.double.topics.items() if tokens}


async def test_wards_and_subscriptions_reach_fcm_topics_and_follow_a_move(
    app: Client, fcm: RunningFcm, register: Register
) -> None:
    home = await register(app, at=PHU_XUAN)
    family = await register(app, at=THUAN_AN, areas=["hue.phu-xuan"])
    assert app.app is not None
    assert await jobs.flush_topics(app.app) == 3
    a, b = home["token"], family["token"]
    expected = {
        "area-hue": {a, b},
        "area-hue.phu-xuan": {a, b},
        "area-hue.thuan-an": {b},
    }

    async def in_step() -> bool:
        return subscribed(fcm) == expected

    await eventually(in_step)

    # Home moves to Thuận An: it leaves Phú Xuân's topic and joins Thuận An's.
    moved = await app.patch(
        f"/api/v1/devices/{home['device_id']}",
        json={"location": {"lon": THUAN_AN[0], "lat": THUAN_AN[1]}},
        headers={SECRET: home["secret"]},
    )
    assert moved.status == 200
    await jobs.flush_topics(app.app)
    expected = {"area-hue": {a, b}, "area-hue.phu-xuan": {b}, "area-hue.thuan-an": {a, b}}
    await eventually(in_step)

    gone = await app.delete(
        f"/api/v1/devices/{family['device_id']}", headers={SECRET: family["secret"]}
    )
    assert gone.status == 204
    await jobs.flush_topics(app.app)
    expected = {"area-hue": {a}, "area-hue.thuan-an": {a}}
    await eventually(in_step)


async def test_a_failed_topic_request_is_retried_by_the_outbox(
    app: Client, fcm: RunningFcm, register: Register, clock: ManualClock
) -> None:
    device = await register(app, at=PHU_XUAN)
    fcm.double.fail_next(503, count=1)
    assert app.app is not None
    await jobs.flush_topics(app.app)
    outbox = app.app[notify_keys.OUTBOX]

    async def deferred() -> bool:
        rows = await outbox_rows(app)
        return any(row["status"] == "queued" and row["attempts"] == 1 for row in rows)

    await eventually(deferred)
    (waiting,) = [row for row in await outbox_rows(app) if row["status"] == "queued"]
    assert waiting["error_code"] == "UNAVAILABLE"
    clock.advance(timedelta(minutes=5))  # past the retry's backoff

    async def retried() -> bool:
        counts = await outbox.counts("geofences:topics")
        return counts.get("topic") == {"sent": 2}

    await eventually(retried)
    assert sorted(row["attempts"] for row in await outbox_rows(app)) == [1, 2]
    assert subscribed(fcm) == {
        "area-hue": {device["token"]},
        "area-hue.phu-xuan": {device["token"]},
    }


async def test_a_token_fcm_has_forgotten_is_dropped_from_the_registry(
    app: Client, fcm: RunningFcm, register: Register
) -> None:
    kept = await register(app, at=PHU_XUAN)
    lost = await register(app, at=PHU_XUAN)
    fcm.double.unregistered.add(lost["token"])
    assert app.app is not None
    await jobs.flush_topics(app.app)

    async def dropped() -> bool:
        device = await (
            await app.get(f"/api/v1/devices/{lost['device_id']}", headers={SECRET: lost["secret"]})
        ).json()
        return device["has_token"] is False

    await eventually(dropped)
    assert subscribed(fcm)["area-hue.phu-xuan"] == {kept["token"]}
    assert len(registry(app).devices) == 1


async def test_topic_changes_are_batched_1000_tokens_a_message(
    app_client: AppClient, tmp_path: Path
) -> None:
    client = await app_client(config=manual_jobs(tmp_path))
    await load_hue(client)
    devices = registry(client)
    tokens = [fcm_token() for _ in range(2_300)]
    for token in tokens:
        await devices.register(
            Registration(token=token, platform="android", language="vi", area_codes=("hue.vy-da",))
        )
    assert client.app is not None
    # Two topics (Vỹ Dạ and the city), 2,300 tokens each: 3 messages each.
    assert await jobs.flush_topics(client.app) == 6
    assert await jobs.flush_topics(client.app) == 0
    rows = await client.app[keys.DB].fetch_all(
        "SELECT payload, priority, reference FROM outbox WHERE channel = 'topic' ORDER BY id"
    )
    changes = [decode_message("topic", row["payload"]) for row in rows]
    assert all(isinstance(change, TopicChange) for change in changes)
    sizes: dict[str, list[int]] = {}
    for change in changes:
        assert isinstance(change, TopicChange)
        assert change.subscribe
        sizes.setdefault(change.topic, []).append(len(change.tokens))
    assert sizes == {"area-hue": [1000, 1000, 300], "area-hue.vy-da": [1000, 1000, 300]}
    covered = {t for c in changes if isinstance(c, TopicChange) for t in c.tokens}
    assert covered == set(tokens)
    # Topic upkeep yields to warnings in the outbox.
    assert {row["priority"] for row in rows} == {TOPIC_PRIORITY}
    assert {row["reference"] for row in rows} == {"geofences:topics"}
