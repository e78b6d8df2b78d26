"""Fan-out at issue time through the real firebase-admin and twilio libraries, against doubles."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import shapely

from alerting.keys import ALERTING
from alerting.models import GEOCODE_WARD
from canhbao import keys
from canhbao.clock import ManualClock
from geofences.keys import GEOFENCES
from notify import keys as notify_keys
from tests.alerting.conftest import SQUARE, Client
from tests.alerting.test_workflow import issue
from tests.conftest import StaffFactory
from tests.geofences.conftest import Register, eventually

INSIDE_SQUARE = (107.467, 16.533)  # Phú Ốc, in Hương Trà ward, which the square only partly covers
VULNERABLE = "+84905000111"


def body(expires: str = "2025-11-16T09:00:00+00:00") -> dict[str, Any]:
    def info(language: str, headline: str, instruction: str) -> dict[str, Any]:
        return {
            "language": language,
            "category": ["Met"],
            "event": "Lũ",
            "responseType": ["Evacuate"],
            "urgency": "Immediate",
            "severity": "Severe",
            "certainty": "Observed",
            "expires": expires,
            "headline": headline,
            "description": "Mực nước sông Bồ tại Phú Ốc 4,62 m.",
            "instruction": instruction,
            "area": [
                {
                    "areaDesc": "Kim Trà và quanh trạm Phú Ốc",
                    "polygon": [[list(p) for p in SQUARE]],
                    "geocode": [{"valueName": GEOCODE_WARD, "value": "hue.kim-tra"}],
                }
            ],
        }

    return {
        "info": [
            info("vi-VN", "Cảnh báo lũ khẩn cấp trên sông Bồ", "Di chuyển ngay đến nơi cao."),
            info("en-US", "Urgent flood warning on the Bồ river", "Move to high ground now."),
        ]
    }


async def test_issue_fans_out_by_condition_token_sms_and_voice(
    world: dict[str, Any], staff: StaffFactory, register: Register, clock: ManualClock
) -> None:
    client: Client = world["client"]
    fcm, twilio = world["fcm"], world["twilio"]
    assert client.app is not None
    registry = client.app[GEOFENCES]
    kim_tra = registry.catalog.geometry[registry.catalog.by_code["hue.kim-tra"].id]
    inside_kim_tra = shapely.get_coordinates(kim_tra.representative_point())[0].tolist()
    by_topic = await register(client, at=tuple(inside_kim_tra))
    by_token = await register(client, at=INSIDE_SQUARE, language="en")
    gone = await register(client, at=INSIDE_SQUARE)
    fcm.unregistered.add(gone["token"])
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver", "admin"])
    response = await minh.post(
        "/api/v1/contacts",
        json={
            "name": "Bà Nguyễn Thị Hoa",
            "phone": VULNERABLE,
            "vulnerable": True,
            "location": {"lon": INSIDE_SQUARE[0], "lat": INSIDE_SQUARE[1]},
        },
    )
    assert response.status in (200, 201), await response.text()

    created = await lan.post("/api/v1/alerts", json=body())
    assert created.status == 201, await created.text()
    identifier = (await created.json())["identifier"]
    preview = await (await lan.get(f"/api/v1/alerts/{identifier}/plan")).json()
    assert preview["frozen"] is False
    assert preview["totals"]["by_token"] == 2
    # FCM answers the first send with 429 and Retry-After: that row waits, the rest go on.
    # (The worker also pauses the push channel for Retry-After in real time: keep it short.)
    fcm.fail_next(429, retry_after=1)
    issued = await issue(lan, minh, identifier)
    # Kim Trà's topic in each device language, then the tokens one by one.
    assert issued["plan"]["messages"] == {"condition": 2, "token": 2, "sms": 1}

    outbox = client.app[notify_keys.OUTBOX]

    async def settled(expected_sent: int) -> bool:
        counts = await outbox.counts(identifier)
        sent = sum(c.get("sent", 0) for c in counts.values())
        # And none in flight: a refusal may be recorded in a later flush than the sends.
        sending = sum(c.get("sending", 0) for c in counts.values())
        return sent == expected_sent and not sending

    await eventually(lambda: settled(4))  # one push deferred, one refused
    counts = await outbox.counts(identifier)
    assert counts["push"] == {"sent": 2, "queued": 1, "failed": 1}
    clock.advance(timedelta(seconds=10))  # past Retry-After and the first backoff
    await eventually(lambda: settled(5))

    sends = {m.get("token") or m.get("condition"): m for m in fcm.messages}
    condition = sends["'area-hue.kim-tra' in topics"]
    assert condition["notification"]["title"] == "Cảnh báo lũ khẩn cấp trên sông Bồ"
    english = sends["'area-hue.kim-tra~en' in topics"]  # devices set to English subscribe here
    assert english["notification"]["title"] == "Urgent flood warning on the Bồ river"
    token = sends[by_token["token"]]
    assert token["notification"]["title"] == "Urgent flood warning on the Bồ river"  # language
    assert token["android"]["priority"] == "high"
    assert token["android"]["ttl"] == "21600s"  # until expiry: 6 h
    assert token["android"]["collapse_key"] == identifier
    assert token["data"]["identifier"] == identifier
    assert token["data"]["msgType"] == "Alert"
    assert token["data"]["wards"] == "hue.kim-tra"
    assert by_topic["token"] not in sends  # reached through its ward's topic, not one by one

    await eventually(lambda: _dropped(client, gone["token"]))
    assert [m["to"] for m in twilio.messages] == [VULNERABLE]
    assert (
        twilio.messages[0]["body"]
        == "Cảnh báo lũ khẩn cấp trên sông Bồ. Di chuyển ngay đến nơi cao."
    )
    assert [c["to"] for c in twilio.calls] == [VULNERABLE]
    assert 'language="vi-VN"' in twilio.params[twilio.calls[0]["sid"]]["Twiml"]

    report = await (await lan.get(f"/api/v1/alerts/{identifier}/delivery")).json()
    assert report["targeted"]["by_token"] == 2
    assert report["channels"]["sms"] == {"sent": 1}
    assert report["channels"]["push"] == {"sent": 3, "failed": 1}
    assert report["routes"] == {"condition": {"sent": 2}, "token": {"sent": 1, "failed": 1}}
    assert report["failures"] == {"push": {"UNREGISTERED": 1}}
    assert report["removed"] == 1

    # Issuing the same plan again (a retry, a second click) sends nothing twice.
    workflow = client.app[ALERTING]
    stored = await workflow.get(identifier)
    assert workflow.fanout is not None
    prepared = await workflow.fanout.prepare(stored.alert, stored.chain)
    assert await outbox.enqueue(prepared.items) == 0


async def _dropped(client: Client, token: str) -> bool:
    assert client.app is not None
    row = await client.app[keys.DB].fetch_one(
        "SELECT COUNT(*) AS n FROM geofences_devices WHERE token = ?", (token,)
    )
    return row is not None and row["n"] == 0
