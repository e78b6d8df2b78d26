"""The warning workflow through the real app: two people, audit, Update/Cancel chains, expiry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lxml import etree

from alerting.cap import parse_cap
from canhbao import keys
from canhbao.audit import list_audit
from canhbao.clock import ManualClock
from canhbao.config import Config
from tests.alerting.conftest import Client, assert_valid
from tests.conftest import AppClient, StaffFactory, StaffLogin
from tests.geofences.conftest import load_hue

WARDS = ["hue.huong-tra", "hue.kim-tra"]


def river_values(**overrides: str) -> dict[str, dict[str, str]]:
    vi = {
        "time": "10:00 ngày 16/11/2025",
        "river": "Bồ",
        "station": "Phú Ốc",
        "level": "4,62",
        "band": "III",
        "threshold": "4,5",
        "trend": "đang lên",
        "area": "Hương Trà, Kim Trà",
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


async def step(
    user: StaffLogin, identifier: str, action: str, status: int = 200, **body: Any
) -> dict[str, Any]:
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
    assert vi["headline"] == "Cảnh báo lũ: sông Bồ tại Phú Ốc vượt báo động III"
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
    found = await client.app[keys.ALERTING].get(identifier)
    assert found.state == "expired"
    entries = await list_audit(client.app[keys.DB], entity="alert", entity_id=identifier, limit=1)
    assert (entries[0].action, entries[0].actor) == ("alert.expire", "system:expiry")
    feed = await (await client.get("/cap/alerts.atom")).read()
    assert identifier.encode() not in feed
    # The CAP document stays published: references to it must keep resolving.
    assert (await client.get(f"/cap/alerts/{identifier}.xml")).status == 200
