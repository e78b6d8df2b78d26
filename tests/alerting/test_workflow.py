"""The warning workflow through the real app: two people, audit, Update/Cancel chains, expiry."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
from lxml import etree

from alerting.cap import parse_cap
from alerting.json_form import alert_to_dict
from alerting.keys import ALERTING
from alerting.models import GEOCODE_WARD, Area, Geocode
from canhbao import keys
from canhbao.audit import list_audit
from canhbao.clock import ManualClock
from canhbao.config import Config
from notify import keys as notify_keys
from tests.alerting.conftest import SQUARE, Client, alert, assert_valid, info
from tests.conftest import AppClient, StaffFactory, StaffLogin
from tests.geofences.conftest import Register, load_hue

WARDS = ["hue.huong-tra", "hue.kim-tra"]


def river_values(**overrides: str) -> dict[str, dict[str, str]]:
    vi = {
        "time": "10:00 ngày 16/11/2025",
        "river": "Bồ",
        "station": "Phú Ốc",
        "level": "4,62",
        "threshold": "4,5",
        "trend": "đang lên",
    }
    en = {
        **vi,
        "level": "4.62",
        "threshold": "4.5",
        "trend": "rising",
        "time": "10:00 on 16/11/2025",
    }
    vi.update(overrides)
    return {"vi-VN": vi, "en-US": en}


async def draft(user: StaffLogin, values: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await user.post(
        "/api/v1/alerts",
        json={
            "template": "river_flood_iii",
            "ward_codes": WARDS,
            "area_desc": "Hạ lưu sông Bồ",
            "values": values or river_values(),
        },
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


SEEN = ("submit", "approve", "issue")  # steps that act on the version the person saw


async def step(
    user: StaffLogin, identifier: str, action: str, status: int = 200, **body: Any
) -> dict[str, Any]:
    """POST a workflow step as `user`; submit, approve and issue send the version the user
    sees when they open the alert (GET) unless the test gives one."""
    if action in SEEN and "version" not in body:
        seen = await user.get(f"/api/v1/alerts/{identifier}")
        if seen.status == 200:
            body["version"] = (await seen.json())["version"]
    response = await user.post(f"/api/v1/alerts/{identifier}/{action}", json=body or None)
    assert response.status == status, await response.text()
    answer: dict[str, Any] = await response.json()
    return answer


async def issue(author: StaffLogin, approver: StaffLogin, identifier: str) -> dict[str, Any]:
    await step(author, identifier, "submit")
    await step(approver, identifier, "approve")
    return await step(approver, identifier, "issue")


async def people(client: Client, staff: StaffFactory) -> tuple[StaffLogin, StaffLogin]:
    await load_hue(client)
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver"])
    return lan, minh


async def test_full_lifecycle_with_two_people_is_audited_and_published(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    lan, minh = await people(client, staff)
    created = await draft(lan)
    identifier = created["identifier"]
    assert identifier.startswith("2.49.0.1.704.46.20251116100000.")
    assert created["state"] == "draft"
    assert created["problems"] == []
    vi = created["alert"]["info"][0]
    assert vi["language"] == "vi-VN"
    # Written for speech: the level in words, never "báo động III" read out as letters.
    assert vi["headline"] == "Cảnh báo lũ: sông Bồ tại Phú Ốc vượt báo động cấp ba"
    # {area} names the chosen wards.
    assert vi["description"].endswith("Khu vực có thể bị ảnh hưởng: Hương Trà, Kim Trà.")
    assert "là 4,62 mét, vượt báo động cấp ba (4,5 mét)" in vi["description"]
    assert "gọi 1900 1075" in vi["instruction"]
    assert vi["area"][0]["geocode"] == [{"valueName": "ward", "value": c} for c in WARDS]

    # The issuer cannot approve at all; the approver rejects with a comment, back to draft.
    await step(lan, identifier, "submit")
    await step(lan, identifier, "approve", status=403)
    await step(minh, identifier, "reject", status=422, comment=" ")  # no reason given
    rejected = await step(minh, identifier, "reject", comment="Thiếu giờ dự báo đỉnh lũ")
    assert (rejected["state"], rejected["comment"]) == ("draft", "Thiếu giờ dự báo đỉnh lũ")
    await step(minh, identifier, "issue", status=409)  # not approved

    issued = await issue(lan, minh, identifier)
    assert issued["state"] == "issued"
    assert (issued["author"], issued["approved_by"], issued["issued_by"]) == (
        "user:lan",
        "user:minh",
        "user:minh",
    )
    # Issued messages never change.
    response = await lan.put(f"/api/v1/alerts/{identifier}?version={issued['version']}", json={})
    assert response.status in (400, 409)

    document = await client.get(f"/cap/alerts/{identifier}.xml")
    assert document.status == 200
    assert document.content_type == "application/cap+xml"
    body = await document.read()
    assert_valid(body)
    assert parse_cap(body).status == "Actual"
    again = await client.get(
        f"/cap/alerts/{identifier}.xml", headers={"If-None-Match": document.headers["ETag"]}
    )
    assert again.status == 304

    assert client.app is not None
    actions = [
        (entry.action, entry.actor)
        for entry in reversed(
            await list_audit(client.app[keys.DB], entity="alert", entity_id=identifier)
        )
    ]
    assert actions == [
        ("alert.create", "user:lan"),
        ("alert.submit", "user:lan"),
        ("alert.reject", "user:minh"),
        ("alert.submit", "user:lan"),
        ("alert.approve", "user:minh"),
        ("alert.issue", "user:minh"),
    ]


async def test_self_approval_is_refused(app_client: AppClient, staff: StaffFactory) -> None:
    client = await app_client()
    await load_hue(client)
    hoa = await staff(client, "hoa", roles=["issuer", "approver"])
    minh = await staff(client, "minh", roles=["approver"])
    identifier = (await draft(hoa))["identifier"]
    await step(hoa, identifier, "submit")
    refused = await step(hoa, identifier, "approve", status=403)
    assert refused["error"]["code"] == "self_approval"
    await step(minh, identifier, "approve")


async def test_an_unfilled_placeholder_blocks_submission(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    lan, _ = await people(client, staff)
    values = river_values()
    del values["vi-VN"]["level"]
    created = await draft(lan, values)
    assert any("level" in p for p in created["problems"])
    refused = await step(lan, created["identifier"], "submit", status=422)
    assert refused["error"]["problems"] == ["unfilled placeholder {level}"]


async def test_update_and_cancel_chain_references_and_supersede(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    lan, minh = await people(client, staff)
    first = await issue(lan, minh, (await draft(lan))["identifier"])
    first_ref = f"pctt.hue.gov.vn,{first['identifier']},2025-11-16T10:00:00+07:00"

    update = await step(lan, first["identifier"], "update", status=201)
    assert (update["msgType"], update["chain"]) == ("Update", first["identifier"])
    await step(lan, first["identifier"], "update", status=409)  # one continuation at a time
    update = await issue(lan, minh, update["identifier"])
    update_xml = await (await client.get(f"/cap/alerts/{update['identifier']}.xml")).read()
    assert_valid(update_xml)
    assert _references(update_xml) == first_ref
    assert (await _get(lan, first["identifier"]))["state"] == "superseded"

    cancel = await step(lan, update["identifier"], "cancel", status=201)
    cancel = await issue(lan, minh, cancel["identifier"])
    cancel_xml = await (await client.get(f"/cap/alerts/{cancel['identifier']}.xml")).read()
    assert_valid(cancel_xml)
    update_ref = f"pctt.hue.gov.vn,{update['identifier']},2025-11-16T10:00:00+07:00"
    assert _references(cancel_xml) == f"{first_ref} {update_ref}"
    assert parse_cap(cancel_xml).msg_type == "Cancel"
    assert (await _get(lan, update["identifier"]))["state"] == "superseded"

    feed = await client.get("/cap/alerts.atom")
    feed_body = await feed.read()
    assert_valid(feed_body, "atom.xsd")
    # A Cancel is not a warning in force: the feed is empty once the chain is cancelled.
    assert b"<entry>" not in feed_body


async def _get(user: StaffLogin, identifier: str) -> dict[str, Any]:
    response = await user.get(f"/api/v1/alerts/{identifier}")
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


def _references(document: bytes) -> str:
    root = etree.fromstring(document)
    found = root.find("{urn:oasis:names:tc:emergency:cap:1.2}references")
    assert found is not None
    return str(found.text)


async def test_expiry_happens_after_a_restart(
    app_client: AppClient, staff: StaffFactory, config: Config, clock: ManualClock
) -> None:
    client = await app_client()
    lan, minh = await people(client, staff)
    identifier = (await issue(lan, minh, (await draft(lan))["identifier"]))["identifier"]
    feed = await (await client.get("/cap/alerts.atom")).read()
    assert identifier.encode() in feed
    await client.close()

    clock.advance(timedelta(hours=6, seconds=1))  # the default expiry, and a second
    client = await app_client(config=config, clock=clock)
    assert client.app is not None
    found = await client.app[ALERTING].get(identifier)
    assert found.state == "expired"
    entries = await list_audit(client.app[keys.DB], entity="alert", entity_id=identifier, limit=1)
    assert (entries[0].action, entries[0].actor) == ("alert.expire", "system:expiry")
    feed = await (await client.get("/cap/alerts.atom")).read()
    assert identifier.encode() not in feed
    # The CAP document stays published: references to it must keep resolving.
    assert (await client.get(f"/cap/alerts/{identifier}.xml")).status == 200


async def cap_draft(user: StaffLogin, *areas: Area, **changes: Any) -> dict[str, Any]:
    """A draft written as CAP fields (not from a template), with these areas in both blocks."""
    written = alert(
        infos=(info("vi-VN", areas=areas), info("en-US", areas=areas)),
        **changes,
    )
    response = await user.post("/api/v1/alerts", json=alert_to_dict(written))
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


# Four points along one parallel: closed and in range, but no ground to warn.
FLAT = ((16.53, 107.45), (16.53, 107.46), (16.53, 107.47), (16.53, 107.45))


@pytest.mark.parametrize(
    ("area", "code", "problem"),
    [
        (
            Area("Toàn thành phố"),
            "invalid_alert",
            "'Toàn thành phố' has neither a polygon nor a ward code, so the warning would reach"
            " no one there",
        ),
        (
            Area("Hạ lưu sông Bồ", polygons=(SQUARE,), geocodes=(Geocode(GEOCODE_WARD, "hue.x"),)),
            "invalid_area",
            "area: ward codes not in our area catalogue: hue.x",
        ),
        (Area("Bờ sông", polygons=(FLAT,)), "invalid_area", "area: targeting cannot use it"),
    ],
    ids=["no-polygon-no-ward", "unknown-ward", "no-ground"],
)
async def test_an_area_that_reaches_no_one_is_refused_at_submit(
    app_client: AppClient, staff: StaffFactory, area: Area, code: str, problem: str
) -> None:
    client = await app_client()
    lan, _ = await people(client, staff)
    created = await cap_draft(lan, area)
    # Staff see it on the draft before they try.
    assert any(problem in p for p in created["problems"]), created["problems"]
    refused = await step(lan, created["identifier"], "submit", status=422)
    assert refused["error"]["code"] == code
    assert any(problem in p for p in refused["error"]["problems"])
    assert (await _get(lan, created["identifier"]))["state"] == "draft"


async def test_issue_refuses_an_area_the_catalogue_no_longer_has(
    app_client: AppClient, staff: StaffFactory, config: Config, clock: ManualClock
) -> None:
    client = await app_client()
    lan, minh = await people(client, staff)
    identifier = (await draft(lan))["identifier"]
    await step(lan, identifier, "submit")
    await step(minh, identifier, "approve")
    await client.close()
    # The catalogue changes after approval (a restored backup, a ward merged away): geofences
    # has no API that removes an area, so the test removes the row.
    with sqlite3.connect(config.database.path) as db:
        db.execute("DELETE FROM geofences_areas WHERE code = 'hue.kim-tra'")
    client = await app_client(config=config, clock=clock)
    minh = await staff(client, "minh2", roles=["approver"])

    refused = await step(minh, identifier, "issue", status=422)
    assert refused["error"]["code"] == "invalid_area"
    assert "hue.kim-tra" in refused["error"]["message"]
    assert (await _get(minh, identifier))["state"] == "approved"  # nothing half-issued
    assert client.app is not None
    assert await client.app[notify_keys.OUTBOX].counts(identifier) == {}
    assert (await client.get(f"/cap/alerts/{identifier}.xml")).status == 404


@pytest.mark.parametrize(
    ("sender", "msg_type", "sent"),
    [
        ("canhbao.example.org", "Alert", "2025-11-16T10:00:00+07:00"),  # another authority
        ("pctt.hue.gov.vn", "Update", "2025-11-16T09:00:00+07:00"),  # ours, but not that one
    ],
    ids=["foreign-sender", "our-sender-other-sent"],
)
async def test_a_reference_to_another_message_with_our_identifier_supersedes_nothing(
    app_client: AppClient, staff: StaffFactory, sender: str, msg_type: str, sent: str
) -> None:
    client = await app_client()
    lan, minh = await people(client, staff)
    ours = await issue(lan, minh, (await draft(lan))["identifier"])
    area = Area("Hạ lưu sông Bồ", polygons=(SQUARE,), geocodes=(Geocode(GEOCODE_WARD, WARDS[0]),))
    written = await cap_draft(lan, area, msg_type=msg_type)
    body = written["alert"]
    # The same identifier as ours, but a different message: CAP names one by all three parts.
    body["references"] = [{"sender": sender, "identifier": ours["identifier"], "sent": sent}]
    other = await lan.post("/api/v1/alerts", json=body)
    assert other.status == 201, await other.text()
    referencing = (await other.json())["identifier"]

    issued = await issue(lan, minh, referencing)
    assert issued["state"] == "issued"
    assert (await _get(lan, ours["identifier"]))["state"] == "issued"
    published = await (await client.get(f"/cap/alerts/{referencing}.xml")).read()
    assert _references(published) == f"{sender},{ours['identifier']},{sent}"


@pytest.mark.parametrize("devices", [0, 1])
async def test_a_warning_issued_to_no_device_or_contact_is_not_silent(
    app_client: AppClient,
    staff: StaffFactory,
    register: Register,
    caplog: pytest.LogCaptureFixture,
    devices: int,
) -> None:
    client = await app_client()
    lan, minh = await people(client, staff)
    for _ in range(devices):
        await register(client, areas=[WARDS[0]])
    identifier = (await draft(lan))["identifier"]
    plan = await (await minh.get(f"/api/v1/alerts/{identifier}/plan")).json()
    assert plan["totals"]["devices"] == devices  # what the approver sees first
    with caplog.at_level(logging.WARNING, logger="alerting.workflow"):
        await issue(lan, minh, identifier)
    warned = [
        r.__dict__.get("identifier")
        for r in caplog.records
        if r.getMessage() == "alert issued with no device or contact in its area"
    ]
    assert warned == ([identifier] if devices == 0 else [])


async def test_submit_approve_and_issue_act_on_the_version_the_person_saw(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    lan, minh = await people(client, staff)
    created = await draft(lan)
    identifier, seen = created["identifier"], created["version"]
    # The draft changes between the reader's view and their submit (an auto-draft rewritten,
    # a colleague's edit): the submit is refused with the version it now has.
    edited = await lan.put(
        f"/api/v1/alerts/{identifier}?version={seen}",
        json={"template": "river_flood_iii", "ward_codes": WARDS, "values": river_values()},
    )
    assert edited.status == 200, await edited.text()
    now = (await edited.json())["version"]
    assert edited.headers["ETag"] == f'"{now}"'
    stale = await step(lan, identifier, "submit", status=409, version=seen)
    assert stale["error"]["code"] == "stale_version"
    assert stale["error"]["version"] == now
    # No version at all: the server cannot know what was seen.
    missing = await lan.post(f"/api/v1/alerts/{identifier}/submit")
    assert missing.status == 428
    assert (await missing.json())["error"]["code"] == "version_required"
    for bad in ("drei", True, 0, 1.5, [1]):
        refused = await lan.post(f"/api/v1/alerts/{identifier}/submit", json={"version": bad})
        assert refused.status == 400, bad
    # Past 64 bits the JSON itself is refused before anyone reads it (canhbao.api's limits).
    huge = await lan.post(f"/api/v1/alerts/{identifier}/submit", json={"version": 2**70})
    assert huge.status == 422
    misspelt = await lan.post(f"/api/v1/alerts/{identifier}/submit", json={"versoin": now})
    assert (misspelt.status, (await misspelt.json())["error"]["keys"]) == (422, ["versoin"])
    # If-Match carries it as well as the body.
    submitted = await lan.post(
        f"/api/v1/alerts/{identifier}/submit", headers={"If-Match": f'"{now}"'}
    )
    assert submitted.status == 200, await submitted.text()
    submitted_version = (await submitted.json())["version"]

    # Approving what was submitted, but after it was sent back and resubmitted: refused.
    await step(minh, identifier, "reject", comment="Thêm giờ dự báo đỉnh lũ")
    await step(lan, identifier, "submit")
    stale = await step(minh, identifier, "approve", status=409, version=submitted_version)
    assert stale["error"]["code"] == "stale_version"
    approved = await step(minh, identifier, "approve")
    await step(minh, identifier, "issue", status=409, version=approved["version"] - 1)
    assert (await _get(minh, identifier))["state"] == "approved"
    issued = await step(minh, identifier, "issue", version=approved["version"])
    assert issued["state"] == "issued"


@pytest.mark.parametrize(
    ("body", "keys"),
    [
        ({"values": river_values(), "priority": "high"}, ["priority"]),
        ({"values": {**river_values(), "fr-FR": {}}}, ["values.fr-FR"]),
        (
            {"values": {"vi-VN": {**river_values()["vi-VN"], "band": "III", "muc": "4"}}},
            ["values.vi-VN.band", "values.vi-VN.muc"],
        ),
        # {area} is the server's to fill, from the wards.
        ({"values": {"vi-VN": {"area": "Cả tỉnh"}}}, ["values.vi-VN.area"]),
    ],
    ids=["top-level", "language", "placeholders", "area"],
)
async def test_unknown_keys_in_a_template_draft_are_refused_by_name(
    app_client: AppClient, staff: StaffFactory, body: dict[str, Any], keys: list[str]
) -> None:
    client = await app_client()
    lan, _ = await people(client, staff)
    response = await lan.post(
        "/api/v1/alerts", json={"template": "river_flood_iii", "ward_codes": WARDS, **body}
    )
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert (error["code"], error["keys"]) == ("unknown_keys", keys)
    assert all(key in error["message"] for key in keys)


async def test_unknown_keys_in_a_cap_draft_are_refused_by_name(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    lan, _ = await people(client, staff)
    written = alert_to_dict(alert())
    written["urgent"] = True
    written["info"][0]["headLine"] = "Lũ"
    written["info"][1]["area"][0]["geocode"][0]["code"] = "x"
    response = await lan.post("/api/v1/alerts", json=written)
    assert response.status == 422
    assert (await response.json())["error"]["keys"] == [
        "urgent",
        "info[0].headLine",
        "info[1].area[0].geocode[0].code",
    ]


async def test_warnings_in_force_are_parsed_again_only_when_they_change(
    app_client: AppClient, staff: StaffFactory
) -> None:
    """Every hotline call and public page asks what is in force: the parsed alerts are kept
    until an issue, update, cancel or expiry changes them."""
    client = await app_client()
    workflow = client.app[ALERTING]
    lan, minh = await people(client, staff)
    first = await issue(lan, minh, (await draft(lan))["identifier"])
    seen = await workflow.in_force_at()
    assert [a.identifier for a in seen] == [first["identifier"]]
    again = await workflow.in_force_at()
    assert again[0] is seen[0], "parsed again although nothing changed"

    update = await step(lan, first["identifier"], "update", status=201)
    update = await issue(lan, minh, update["identifier"])
    assert [a.identifier for a in await workflow.in_force_at()] == [update["identifier"]]
    cancel = await step(lan, update["identifier"], "cancel", status=201)
    await issue(lan, minh, cancel["identifier"])
    assert await workflow.in_force_at() == []
