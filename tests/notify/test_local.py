"""The Local providers: the real providers' validation, and a record of each message in SQLite."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from canhbao.clock import ManualClock, utc_text
from canhbao.db import Database
from notify import local, outbox
from notify.errors import InvalidMessage
from notify.local import LocalPush, LocalTelephony, list_local_messages
from notify.models import (
    FCM_PAYLOAD_LIMIT,
    PushMessage,
    SmsMessage,
    TopicChange,
    TopicChangeResult,
    VoiceCall,
)

TOKEN = "fcm-token:" + "A1b2C3d4" * 19
OTHER_TOKEN = "fcm-token:" + "Z9y8X7w6" * 19
CITIZEN = "+84905123456"
HOTLINE = "+8419001075"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "canhbao.sqlite3")
    await database.open()
    await database.migrate((*outbox.MIGRATIONS, *local.MIGRATIONS))
    yield database
    await database.close()


@pytest.fixture
def push(db: Database, clock: ManualClock) -> LocalPush:
    return LocalPush(db, clock)


@pytest.fixture
def telephony(db: Database, clock: ManualClock) -> LocalTelephony:
    return LocalTelephony(db, clock)


async def recorded(db: Database) -> list[dict[str, object]]:
    rows = await db.fetch_all("SELECT * FROM notify_local_messages ORDER BY id")
    return [dict(row) for row in rows]


def warning(**overrides: object) -> PushMessage:
    fields: dict[str, object] = {
        "target_kind": "token",
        "target": TOKEN,
        "title": "Cảnh báo lũ — cấp độ rủi ro 3",
        "body": "Sông Hương tại Kim Long vượt BĐ III. Di chuyển lên chỗ cao.",
        "data": {"alert": "2.49.0.1.704.0.2025.11.16.1", "area": "phuong-kim-long"},
    }
    fields.update(overrides)
    return PushMessage(**fields)  # type: ignore[arg-type]  # test-only overrides


def topics_condition(count: int) -> str:
    return " || ".join(f"'ward-{n}' in topics" for n in range(count))


# --- push ------------------------------------------------------------------------------------


async def test_push_is_recorded_with_an_fcm_style_name(
    push: LocalPush, db: Database, clock: ManualClock
) -> None:
    message = warning(collapse_key="kim-long", ttl_s=3600)

    name = await push.send(message)

    [row] = await recorded(db)
    assert name == f"projects/local/messages/{row['id']}"
    assert row["provider_id"] == name
    assert (row["channel"], row["target"]) == ("push", TOKEN)
    assert row["created_at"] == utc_text(clock.now())
    body = json.loads(str(row["body"]))
    assert body["title"] == "Cảnh báo lũ — cấp độ rủi ro 3"
    assert body["data"] == dict(message.data)
    assert (body["collapse_key"], body["ttl_s"], body["high_priority"]) == ("kim-long", 3600, True)


async def test_each_push_gets_its_own_name(push: LocalPush) -> None:
    names = {await push.send(warning()) for _ in range(3)}

    assert len(names) == 3


async def test_a_payload_of_exactly_4096_bytes_is_accepted_one_more_is_not(
    push: LocalPush, db: Database
) -> None:
    empty = warning(body="")
    fits = warning(body="a" * (FCM_PAYLOAD_LIMIT - empty.payload_size()))
    assert fits.payload_size() == FCM_PAYLOAD_LIMIT

    await push.send(fits)
    with pytest.raises(InvalidMessage) as caught:
        await push.send(warning(body=fits.body + "ố"))

    assert caught.value.code == "PAYLOAD_TOO_LARGE"
    assert len(await recorded(db)) == 1


async def test_a_condition_of_five_topics_is_accepted_six_are_not(
    push: LocalPush, db: Database
) -> None:
    await push.send(warning(target_kind="condition", target=topics_condition(5)))

    with pytest.raises(InvalidMessage, match="at most 5 topics"):
        await push.send(warning(target_kind="condition", target=topics_condition(6)))

    assert [row["target"] for row in await recorded(db)] == [topics_condition(5)]


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (warning(target="short"), "INVALID_TOKEN"),
        (warning(target_kind="topic", target="ward kim long"), "INVALID_TOPIC"),
        (warning(data={"from": "x"}), "INVALID_DATA"),
        (warning(ttl_s=-1), "INVALID_TTL"),
    ],
)
async def test_invalid_push_is_refused_and_not_recorded(
    push: LocalPush, db: Database, message: PushMessage, code: str
) -> None:
    with pytest.raises(InvalidMessage) as caught:
        await push.send(message)

    assert caught.value.code == code
    assert await recorded(db) == []


async def test_topic_changes_are_recorded_and_kept_as_a_topic_table(
    push: LocalPush, db: Database
) -> None:
    subscribe = TopicChange(topic="/topics/phuong-kim-long", tokens=(TOKEN, OTHER_TOKEN))

    assert await push.change_topic(subscribe) == TopicChangeResult()
    assert await push.change_topic(subscribe) == TopicChangeResult()  # repeating is harmless
    await push.change_topic(TopicChange("phuong-kim-long", (TOKEN,), subscribe=False))

    rows = await db.fetch_all("SELECT topic, token FROM notify_local_topics")
    assert [tuple(row) for row in rows] == [("phuong-kim-long", OTHER_TOKEN)]
    changes = await recorded(db)
    assert [(c["channel"], c["target"], c["provider_id"]) for c in changes] == [
        ("topic", "phuong-kim-long", None)
    ] * 3
    assert json.loads(str(changes[2]["body"]))["subscribe"] is False


@pytest.mark.parametrize(
    "change",
    [
        TopicChange("phuong kim long", (TOKEN,)),
        TopicChange("phuong-kim-long", ()),
        TopicChange("phuong-kim-long", tuple(f"{TOKEN}{n:04d}" for n in range(1001))),
        TopicChange("phuong-kim-long", (TOKEN, "bad")),
    ],
)
async def test_invalid_topic_change_is_refused_and_not_recorded(
    push: LocalPush, db: Database, change: TopicChange
) -> None:
    with pytest.raises(InvalidMessage):
        await push.change_topic(change)

    assert await recorded(db) == []
    assert await db.fetch_all("SELECT * FROM notify_local_topics") == []


# --- telephony -------------------------------------------------------------------------------


async def test_sms_is_recorded_with_a_twilio_style_sid_and_found_again(
    telephony: LocalTelephony, db: Database, clock: ManualClock
) -> None:
    since = clock.now()
    sms = SmsMessage(to=CITIZEN, body="Đã nhận yêu cầu cứu hộ của bạn.", sender=HOTLINE)

    sid = await telephony.send_sms(sms)

    assert re.fullmatch(r"SM[0-9a-f]{32}", sid)
    [row] = await recorded(db)
    assert (row["channel"], row["target"], row["provider_id"]) == ("sms", CITIZEN, sid)
    assert json.loads(str(row["body"])) == {
        "to": CITIZEN,
        "body": "Đã nhận yêu cầu cứu hộ của bạn.",
        "sender": HOTLINE,
        "status_callback": None,
    }
    assert await telephony.find_sms(sms, since) == sid


@pytest.mark.parametrize(
    "other",
    [
        SmsMessage(to=CITIZEN, body="Một tin khác.", sender=HOTLINE),
        SmsMessage(to="+84905999888", body="Đã nhận yêu cầu cứu hộ của bạn.", sender=HOTLINE),
        SmsMessage(to=CITIZEN, body="Đã nhận yêu cầu cứu hộ của bạn.", sender="+842343822000"),
    ],
)
async def test_find_sms_needs_the_same_recipient_sender_and_text(
    telephony: LocalTelephony, clock: ManualClock, other: SmsMessage
) -> None:
    since = clock.now()
    await telephony.send_sms(other)

    wanted = SmsMessage(to=CITIZEN, body="Đã nhận yêu cầu cứu hộ của bạn.", sender=HOTLINE)
    assert await telephony.find_sms(wanted, since) is None


async def test_find_sms_ignores_what_was_sent_before_since(
    telephony: LocalTelephony, clock: ManualClock
) -> None:
    sms = SmsMessage(to=CITIZEN, body="Nước đang lên.", sender=HOTLINE)
    await telephony.send_sms(sms)
    clock.advance(timedelta(seconds=1))

    assert await telephony.find_sms(sms, clock.now()) is None
    assert await telephony.find_sms(sms, clock.now() - timedelta(seconds=1)) is not None


async def test_call_is_recorded_and_found_by_callee_and_caller_id(
    telephony: LocalTelephony, db: Database, clock: ManualClock
) -> None:
    since = clock.now()
    call = VoiceCall(
        to=CITIZEN,
        caller_id=HOTLINE,
        url="http://127.0.0.1:8080/twilio/callback/1",
        machine_detection=True,
    )

    sid = await telephony.place_call(call)

    assert re.fullmatch(r"CA[0-9a-f]{32}", sid)
    [row] = await recorded(db)
    assert json.loads(str(row["body"]))["machine_detection"] is True
    assert await telephony.find_call(call, since) == sid
    assert (
        await telephony.find_call(VoiceCall(to=CITIZEN, caller_id="+842343822000"), since) is None
    )
    assert await telephony.find_call(call, since + timedelta(seconds=1)) is None


@pytest.mark.parametrize(
    "sms",
    [
        SmsMessage(to="0905123456", body="Chào", sender=HOTLINE),
        SmsMessage(to=CITIZEN, body="Chào", sender="1900 1075"),
        SmsMessage(to=CITIZEN, body=" \n", sender=HOTLINE),
        SmsMessage(to=CITIZEN, body="ư" * 1601, sender=HOTLINE),
    ],
)
async def test_invalid_sms_is_refused_and_not_recorded(
    telephony: LocalTelephony, db: Database, sms: SmsMessage
) -> None:
    with pytest.raises(InvalidMessage):
        await telephony.send_sms(sms)

    assert await recorded(db) == []


@pytest.mark.parametrize(
    "call",
    [
        VoiceCall(to="84905123456", caller_id=HOTLINE, twiml="<Response/>"),
        VoiceCall(to=CITIZEN, caller_id=HOTLINE),
        VoiceCall(to=CITIZEN, caller_id=HOTLINE, twiml="<Response/>", timeout_s=601),
    ],
)
async def test_invalid_call_is_refused_and_not_recorded(
    telephony: LocalTelephony, db: Database, call: VoiceCall
) -> None:
    with pytest.raises(InvalidMessage):
        await telephony.place_call(call)

    assert await recorded(db) == []


async def test_find_needs_an_aware_time(telephony: LocalTelephony) -> None:
    sms = SmsMessage(to=CITIZEN, body="Chào", sender=HOTLINE)

    with pytest.raises(ValueError, match="timezone-aware"):
        await telephony.find_sms(sms, datetime(2025, 11, 16, 3))  # noqa: DTZ001  # the point


# --- the dev outbox listing ------------------------------------------------------------------


async def test_list_local_messages_pages_newest_first_by_channel(
    push: LocalPush, telephony: LocalTelephony, db: Database, clock: ManualClock
) -> None:
    for n in range(3):
        await push.send(warning(body=f"Tin {n}"))
        await telephony.send_sms(SmsMessage(to=CITIZEN, body=f"Tin {n}", sender=HOTLINE))
        clock.advance(timedelta(minutes=1))

    everything = await list_local_messages(db, channel=None, limit=10, before_id=None)
    first = await list_local_messages(db, channel="sms", limit=2, before_id=None)
    rest = await list_local_messages(db, channel="sms", limit=2, before_id=first[-1]["id"])

    assert [m["id"] for m in everything] == [6, 5, 4, 3, 2, 1]
    assert [m["body"]["body"] for m in first + rest] == ["Tin 2", "Tin 1", "Tin 0"]
    assert {m["channel"] for m in first + rest} == {"sms"}
    assert first[0]["created_at"] == utc_text(clock.now() - timedelta(minutes=1))
    assert set(first[0]) == {"id", "channel", "target", "body", "provider_id", "created_at"}
    assert await list_local_messages(db, channel="voice", limit=5, before_id=None) == []
    with pytest.raises(ValueError, match="limit"):
        await list_local_messages(db, channel=None, limit=0, before_id=None)


async def test_the_migration_stands_alone_without_the_outbox(tmp_path: Path) -> None:
    database = Database(tmp_path / "alone.sqlite3")
    await database.open()
    try:
        applied = await database.migrate(local.MIGRATIONS)
        tables = {
            row["name"]
            for row in await database.fetch_all("SELECT name FROM sqlite_master WHERE type='table'")
        }
    finally:
        await database.close()

    assert [(m.domain, m.version) for m in applied] == [("notify", 2)]
    assert {"notify_local_messages", "notify_local_topics"} <= tables
    assert "outbox" not in tables
