"""The warning workflow under the real system clock: sub-second times, Vietnam's day vs UTC's.

Whole-second fake clocks once hid a 500 on every Cancel and Update (an issued alert's `sent`
kept its microseconds while CAP's text has whole seconds), so every time-dependent path of
alerting runs here with real readings of the system clock too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from lxml import etree

from alerting import store
from alerting.cap import parse_cap
from alerting.imports import parse_document
from alerting.json_form import alert_from_dict, alert_to_dict
from alerting.keys import ALERTING, ALERTING_IMPORTS
from alerting.models import CAP_NS, Reference, cap_time
from canhbao import keys
from canhbao.app import create_app
from canhbao.clock import ManualClock
from canhbao.config import Config
from feeds.models import Thresholds
from feeds.thresholds import THRESHOLD_CROSSED, EventKind, ThresholdEvent
from tests.alerting.conftest import alert
from tests.alerting.test_imports import EA_ALERT, EA_ID, EA_SENDER, written_in_vietnamese
from tests.alerting.test_workflow import _references, draft, issue, step
from tests.conftest import StaffFactory, StaffLogin
from tests.geofences.conftest import load_hue

Client = TestClient[web.Request, web.Application]
AiohttpClient = Callable[..., Awaitable[Client]]


class ShiftedSystemClock:
    """The real system clock (microseconds and all), moved on by `advance` to reach expiry
    without waiting: every reading is a fresh `datetime.now`."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


async def _start(aiohttp_client: AiohttpClient, config: Config, clock: Any) -> Client:
    client = await aiohttp_client(create_app(config, clock=clock))
    await load_hue(client)
    return client


async def _people(client: Client, staff: StaffFactory) -> tuple[StaffLogin, StaffLogin]:
    lan = await staff(client, "lan", roles=["issuer"])
    minh = await staff(client, "minh", roles=["approver"])
    return lan, minh


def _whole_seconds(text: str) -> bool:
    return datetime.fromisoformat(text).microsecond == 0


async def test_issue_update_cancel_and_expiry_under_the_real_clock(
    aiohttp_client: AiohttpClient, config: Config, staff: StaffFactory
) -> None:
    clock = ShiftedSystemClock()
    client = await _start(aiohttp_client, config, clock)
    lan, minh = await _people(client, staff)

    first = await issue(lan, minh, (await draft(lan))["identifier"])
    assert first["state"] == "issued"
    stored = first["alert"]
    # Every CAP time of the alert is whole seconds from the moment it is made.
    assert _whole_seconds(stored["sent"])
    assert all(
        _whole_seconds(i["effective"]) and _whole_seconds(i["expires"]) for i in stored["info"]
    )

    # In force at once: its effective time is not a fraction of a second in the future.
    public = await (await client.get("/api/v1/public/alerts?area=hue.huong-tra")).json()
    assert [a["identifier"] for a in public["alerts"]] == [first["identifier"]]
    assert first["identifier"].encode() in await (await client.get("/cap/alerts.atom")).read()

    update = await step(lan, first["identifier"], "update", status=201)
    assert update["alert"]["references"][0]["sent_text"] == cap_time(
        datetime.fromisoformat(stored["sent"])
    )
    update = await issue(lan, minh, update["identifier"])
    xml = await (await client.get(f"/cap/alerts/{update['identifier']}.xml")).read()
    assert _references(xml) == (
        f"pctt.hue.gov.vn,{first['identifier']},{cap_time(datetime.fromisoformat(stored['sent']))}"
    )

    # A warning sent by mistake is cancellable within seconds.
    cancel = await step(lan, update["identifier"], "cancel", status=201)
    cancel = await issue(lan, minh, cancel["identifier"])
    assert cancel["state"] == "issued"
    xml = await (await client.get(f"/cap/alerts/{cancel['identifier']}.xml")).read()
    assert parse_cap(xml).msg_type == "Cancel"
    workflow = client.app[ALERTING] if client.app else None
    assert workflow is not None
    assert (await workflow.get(update["identifier"])).state == "superseded"

    # Expiry: another warning, its time runs out on the real clock moved on by 6 h and a second.
    other = await issue(lan, minh, (await draft(lan))["identifier"])
    assert await workflow.expire_due() == []
    clock.advance(timedelta(hours=6, seconds=1))
    expired = await workflow.expire_due()
    assert other["identifier"] in expired
    assert (await workflow.get(other["identifier"])).state == "expired"


async def test_auto_drafted_update_and_all_clear_of_an_issued_warning_under_the_real_clock(
    aiohttp_client: AiohttpClient, config: Config
) -> None:
    clock = ShiftedSystemClock()
    client = await _start(aiohttp_client, config, clock)
    assert client.app is not None
    workflow = client.app[ALERTING]
    events, db = client.app[keys.EVENTS], client.app[keys.DB]

    async def publish(crossed: ThresholdEvent) -> None:
        # As the pipeline does: stored in the durable log, then the drafter has caught up.
        async with db.transaction() as conn:
            await events.append(conn, THRESHOLD_CROSSED, [crossed])
        events.committed()
        await events.settled()

    levels = Thresholds(1.5, 3.0, 4.5, 5.31)

    def event(from_level: int, to_level: int, value: float) -> ThresholdEvent:
        return ThresholdEvent(
            "71518", EventKind.river_band, from_level, to_level, value, clock.now(),
            station_name="Phú Ốc", river="Bồ", thresholds=levels,
        )  # fmt: skip

    async def issue_drafts() -> list[store.StoredAlert]:
        drafts = await store.list_alerts(client.app[keys.DB], ["draft"], hazard="river:71518")
        for found in drafts:
            await workflow.submit(found.identifier, "user:lan")
            await workflow.approve(found.identifier, "user:minh")
            await workflow.issue(found.identifier, "user:minh")
        return drafts

    await publish(event(1, 2, 3.1))
    (warning,) = await issue_drafts()
    clock.advance(timedelta(minutes=30, microseconds=123_457))
    await publish(event(2, 3, 4.6))
    (update,) = await issue_drafts()
    assert update.alert.msg_type == "Update"
    clock.advance(timedelta(hours=2, microseconds=654_321))
    await publish(event(3, 1, 2.9))
    await publish(event(1, 0, 1.3))
    drafts = await issue_drafts()
    assert [d.alert.msg_type for d in drafts] == ["Update"]
    (all_clear,) = drafts
    assert "AllClear" in all_clear.alert.infos[0].response_types
    assert [r.identifier for r in all_clear.alert.references] == [
        warning.identifier,
        update.identifier,
    ]
    assert (await workflow.get(update.identifier)).state == "superseded"


@pytest.mark.parametrize(
    ("utc", "local_day", "local_text"),
    [
        # 23:59:59.999999 in Huế is still the 16th there (16:59 UTC the same day).
        (datetime(2025, 11, 16, 16, 59, 59, 999_999, tzinfo=UTC), "20251116235959",
         "2025-11-16T23:59:59+07:00"),
        # Half a second past midnight in Huế: the 17th there, still the 16th in UTC.
        (datetime(2025, 11, 16, 17, 0, 0, 500_000, tzinfo=UTC), "20251117000000",
         "2025-11-17T00:00:00+07:00"),
    ],
    ids=["local-day-end", "local-day-start"],
)  # fmt: skip
async def test_a_warning_made_at_vietnams_midnight_is_named_and_cancelled_in_local_time(
    aiohttp_client: AiohttpClient,
    config: Config,
    staff: StaffFactory,
    utc: datetime,
    local_day: str,
    local_text: str,
) -> None:
    clock = ManualClock(utc)
    client = await _start(aiohttp_client, config, clock)
    lan, minh = await _people(client, staff)
    first = await issue(lan, minh, (await draft(lan))["identifier"])
    assert first["identifier"].split(".")[-2] == local_day
    xml = await (await client.get(f"/cap/alerts/{first['identifier']}.xml")).read()
    assert parse_cap(xml).sent == datetime.fromisoformat(local_text)
    assert f"<sent>{local_text}</sent>".encode() in xml
    clock.advance(timedelta(microseconds=1))
    cancel = await step(lan, first["identifier"], "cancel", status=201)
    cancel = await issue(lan, minh, cancel["identifier"])
    xml = await (await client.get(f"/cap/alerts/{cancel['identifier']}.xml")).read()
    assert _references(xml) == f"pctt.hue.gov.vn,{first['identifier']},{local_text}"


def test_an_alert_holds_whole_seconds_whatever_it_is_made_from() -> None:
    """The model truncates every CAP time when an alert is made, so a stored alert read back
    (even one stored with microseconds by an older version) round-trips."""
    moment = datetime(2025, 11, 16, 3, 0, 0, 987_654, tzinfo=UTC)
    made = alert(sent=moment, references=(Reference("pctt.hue.gov.vn", "x.1", moment),))
    assert made.sent.microsecond == 0
    assert made.references[0].sent.microsecond == 0
    again = alert_from_dict(alert_to_dict(made))
    assert again == made
    assert again.references[0].text == "pctt.hue.gov.vn,x.1,2025-11-16T10:00:00+07:00"
    # A document stored with microseconds (before this fix) still reads back.
    legacy = alert_to_dict(made)
    legacy["sent"] = moment.isoformat()
    legacy["references"][0]["sent"] = moment.isoformat()
    assert alert_from_dict(legacy).references[0].sent == moment.replace(microsecond=0)


async def test_a_cap_import_reissued_updated_and_expired_under_the_real_clock(
    aiohttp_client: AiohttpClient, config: Config, staff: StaffFactory
) -> None:
    """Another authority's alert sent a moment ago: re-issued by us, then its Update re-issued
    as an Update of ours, then both expire — every step on the real clock."""
    clock = ShiftedSystemClock()
    client = await _start(aiohttp_client, config, clock)
    assert client.app is not None
    importer = client.app[ALERTING_IMPORTS]
    lan, minh = await _people(client, staff)
    now = clock.now()
    sent = now.replace(microsecond=0).isoformat()  # as the upstream writes it: UTC, "+00:00"
    original = _upstream("Alert", EA_ID, sent, "", now + timedelta(hours=6))
    await importer.apply([parse_document(original, "https://up.example/a.xml", 10**6)])
    [item] = (await (await minh.get("/api/v1/imports")).json())["imports"]
    draft = await (await lan.post(f"/api/v1/imports/{item['id']}/reissue")).json()
    ours = draft["identifier"]
    edited = await lan.put(
        f"/api/v1/alerts/{ours}?version={draft['version']}",
        json=written_in_vietnamese(draft["alert"]),
    )
    assert edited.status == 200, await edited.text()
    issued = await issue(lan, minh, ours)
    assert issued["state"] == "issued"

    clock.advance(timedelta(minutes=7, microseconds=345_678))
    later = clock.now().replace(microsecond=0).isoformat()
    update = _upstream("Update", EA_ID + "U", later, f"{EA_SENDER},{EA_ID},{sent}",
                       clock.now() + timedelta(hours=6))  # fmt: skip
    await importer.apply([parse_document(update, "https://up.example/u.xml", 10**6)])
    listed = (await (await minh.get("/api/v1/imports")).json())["imports"]
    [pending] = [i for i in listed if i["identifier"] == EA_ID + "U"]
    response = await lan.post(f"/api/v1/imports/{pending['id']}/reissue")
    assert response.status == 201, await response.text()
    follow = await response.json()
    assert [r["sent_text"] for r in follow["alert"]["references"]] == [
        sent,
        cap_time(datetime.fromisoformat(issued["alert"]["sent"])),
        later,
    ]
    edited = await lan.put(
        f"/api/v1/alerts/{follow['identifier']}?version={follow['version']}",
        json=written_in_vietnamese(follow["alert"]),
    )
    assert edited.status == 200, await edited.text()
    assert (await issue(lan, minh, follow["identifier"]))["state"] == "issued"
    assert (await client.app[ALERTING].get(ours)).state == "superseded"

    clock.advance(timedelta(hours=6, seconds=1))
    assert len(await importer.expire_due()) == 1  # the original was marked updated
    assert follow["identifier"] in await client.app[ALERTING].expire_due()


def _upstream(msg_type: str, identifier: str, sent: str, references: str, expires: datetime
              ) -> bytes:  # fmt: skip
    """The real EA alert as its sender would send it now."""
    root = etree.fromstring(EA_ALERT)
    for name, text in (("identifier", identifier), ("sent", sent), ("msgType", msg_type)):
        found = root.find(f"{{{CAP_NS}}}{name}")
        assert found is not None
        found.text = text
    refs = root.find(f"{{{CAP_NS}}}references")
    assert refs is not None
    if references:
        refs.text = references
    else:
        root.remove(refs)
    for found in root.iter(f"{{{CAP_NS}}}expires"):
        found.text = expires.replace(microsecond=0).isoformat()
    return bytes(etree.tostring(root))
