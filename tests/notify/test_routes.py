"""The staff views of outbound traffic: /api/v1/dev/outbox and /api/v1/outbox/counts."""

from __future__ import annotations

import asyncio

import pytest

from notify import keys as notify_keys
from notify.models import OutboxItem, SmsMessage
from tests.conftest import AppClient, BearerFactory, StaffFactory

HOTLINE = "+8419001075"


def sms_item(n: int, reference: str = "alert-7") -> OutboxItem:
    message = SmsMessage(to=f"+8490555{n:04d}", body=f"Cảnh báo lũ số {n}", sender=HOTLINE)
    return OutboxItem("sms", message, idempotency_key=f"sms-{n}", reference=reference)


async def _drain(client: object, reference: str, count: int) -> None:
    app = client.app  # type: ignore[attr-defined]  # a TestClient
    for _ in range(500):
        counts = await app[notify_keys.OUTBOX].counts(reference)
        if counts.get("sms", {}).get("sent", 0) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"outbox did not drain: {counts}")


async def test_staff_read_what_the_local_providers_recorded(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    await client.app[notify_keys.OUTBOX].enqueue([sms_item(n) for n in range(3)])
    await _drain(client, "alert-7", 3)
    operator = await staff(client, "hoa", roles=["operator"])

    first = await (await operator.get("/api/v1/dev/outbox?limit=2")).json()
    assert [m["channel"] for m in first["messages"]] == ["sms", "sms"]
    assert first["messages"][0]["body"]["body"].startswith("Cảnh báo lũ số")
    assert first["next_before_id"] == first["messages"][-1]["id"]
    rest = await (
        await operator.get(f"/api/v1/dev/outbox?before_id={first['next_before_id']}")
    ).json()
    assert len(rest["messages"]) == 1
    assert rest["next_before_id"] is None

    counts = await (await operator.get("/api/v1/outbox/counts?reference=alert-7")).json()
    assert counts["counts"] == {"sms": {"sent": 3}}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("channel=fax", "channel: Input should be 'push', 'topic', 'sms' or 'voice'"),
        ("limit=0", "limit: Input should be greater than or equal to 1"),
        ("limit=many", "limit: must be a whole number"),
        ("before_id=-1", "before_id: Input should be greater than or equal to 1"),
    ],
)
async def test_bad_queries_are_422_naming_the_parameter(
    app_client: AppClient, staff: StaffFactory, query: str, message: str
) -> None:
    client = await app_client()
    operator = await staff(client, "hoa", roles=["operator"])
    response = await operator.get(f"/api/v1/dev/outbox?{query}")
    assert response.status == 422
    error = (await response.json())["error"]
    assert message in error["message"]
    assert error["field"] == query.partition("=")[0]


async def test_citizens_and_machines_cannot_read_it(
    app_client: AppClient, bearer: BearerFactory
) -> None:
    client = await app_client()
    assert (await client.get("/api/v1/dev/outbox")).status == 401
    gauge = await bearer(client, roles=["gauge"])
    assert (await client.get("/api/v1/dev/outbox", headers=gauge)).status == 403
