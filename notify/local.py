"""The Local providers: validate like the real ones, then record each message in the database."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from canhbao.clock import Clock, utc_text
from canhbao.db import Database, Migration
from notify.models import (
    Channel,
    PushMessage,
    SmsMessage,
    TopicChange,
    TopicChangeResult,
    VoiceCall,
    check_call,
    check_push,
    check_sms,
    check_topic_change,
)

log = logging.getLogger(__name__)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        domain="notify",
        version=2,
        name="local providers' message log and topics",
        sql="""
        CREATE TABLE notify_local_messages (
            id INTEGER PRIMARY KEY,
            channel TEXT NOT NULL CHECK (channel IN ('push', 'topic', 'sms', 'voice')),
            target TEXT NOT NULL,
            body TEXT NOT NULL,
            provider_id TEXT UNIQUE,
            created_at TEXT NOT NULL
        );
        CREATE INDEX notify_local_messages_by_channel ON notify_local_messages (channel, id);
        CREATE INDEX notify_local_messages_by_target
            ON notify_local_messages (channel, target, created_at);
        CREATE TABLE notify_local_topics (
            topic TEXT NOT NULL,
            token TEXT NOT NULL,
            PRIMARY KEY (topic, token)
        ) WITHOUT ROWID;
        """,
    ),
)

_INSERT = (
    "INSERT INTO notify_local_messages (channel, target, body, provider_id, created_at)"
    " VALUES (?, ?, ?, ?, ?)"
)


class LocalPush:
    """PushSender for `make run` and tests: FCM's rules, and a row per message instead of Google."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def send(self, message: PushMessage) -> str:
        check_push(message)
        async with self._db.transaction() as conn:
            async with conn.execute(
                _INSERT,
                ("push", message.target, _encode(message), None, utc_text(self._clock.now())),
            ) as cursor:
                row_id = cursor.lastrowid
            # FCM's message name; the row id makes it unique, so it is set once the row exists.
            provider_id = f"projects/local/messages/{row_id}"
            await conn.execute(
                "UPDATE notify_local_messages SET provider_id = ? WHERE id = ?",
                (provider_id, row_id),
            )
        log.debug("local push recorded", extra={"provider_id": provider_id})
        return provider_id

    async def change_topic(self, change: TopicChange) -> TopicChangeResult:
        check_topic_change(change)
        topic = change.topic.removeprefix("/topics/")
        async with self._db.transaction() as conn:
            await conn.execute(
                _INSERT, ("topic", topic, _encode(change), None, utc_text(self._clock.now()))
            )
            if change.subscribe:
                await conn.executemany(
                    "INSERT OR IGNORE INTO notify_local_topics (topic, token) VALUES (?, ?)",
                    [(topic, token) for token in change.tokens],
                )
            else:
                await conn.executemany(
                    "DELETE FROM notify_local_topics WHERE topic = ? AND token = ?",
                    [(topic, token) for token in change.tokens],
                )
        return TopicChangeResult()


class LocalTelephony:
    """SmsSender and VoiceCaller that record instead of calling Twilio, with Twilio-style sids."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def send_sms(self, sms: SmsMessage) -> str:
        check_sms(sms)
        return await self._record("sms", sms.to, sms, "SM" + uuid.uuid4().hex)

    async def find_sms(self, sms: SmsMessage, since: datetime) -> str | None:
        return await self._find(
            """
            SELECT provider_id FROM notify_local_messages
            WHERE channel = 'sms' AND target = ? AND created_at >= ?
              AND json_extract(body, '$.sender') = ? AND json_extract(body, '$.body') = ?
            ORDER BY id DESC LIMIT 1
            """,
            sms.to,
            since,
            sms.sender,
            sms.body,
        )

    async def place_call(self, call: VoiceCall) -> str:
        check_call(call)
        return await self._record("voice", call.to, call, "CA" + uuid.uuid4().hex)

    async def find_call(self, call: VoiceCall, since: datetime) -> str | None:
        return await self._find(
            """
            SELECT provider_id FROM notify_local_messages
            WHERE channel = 'voice' AND target = ? AND created_at >= ?
              AND json_extract(body, '$.caller_id') = ?
            ORDER BY id DESC LIMIT 1
            """,
            call.to,
            since,
            call.caller_id,
        )

    async def _record(
        self, channel: Channel, target: str, message: SmsMessage | VoiceCall, provider_id: str
    ) -> str:
        await self._db.execute(
            _INSERT,
            (channel, target, _encode(message), provider_id, utc_text(self._clock.now())),
        )
        log.debug(
            "local telephony recorded", extra={"channel": channel, "provider_id": provider_id}
        )
        return provider_id

    async def _find(self, sql: str, target: str, since: datetime, *match: str) -> str | None:
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        # utc_text is one fixed-width form, so comparing the text compares the times.
        row = await self._db.fetch_one(sql, (target, utc_text(since), *match))
        return None if row is None else str(row["provider_id"])


async def list_local_messages(
    db: Database, *, channel: str | None, limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """Recorded messages, newest first: `limit` of them, older than `before_id` if given."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    conditions: list[str] = []
    params: list[object] = []
    if channel is not None:
        conditions.append("channel = ?")
        params.append(channel)
    if before_id is not None:
        conditions.append("id < ?")
        params.append(before_id)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    # `where` joins literal conditions only; the values are bound parameters.
    sql = f"""
        SELECT id, channel, target, body, provider_id, created_at FROM notify_local_messages
        {where} ORDER BY id DESC LIMIT ?
    """  # noqa: S608
    rows = await db.fetch_all(sql, (*params, limit))
    return [
        {
            "id": row["id"],
            "channel": row["channel"],
            "target": row["target"],
            "body": json.loads(row["body"]),
            "provider_id": row["provider_id"],
            "created_at": row["created_at"],
        }
        for row in rows
    ]


async def local_topics_of(db: Database, token: str) -> frozenset[str]:
    """The topics the Local push provider has this token subscribed to."""
    rows = await db.fetch_all("SELECT topic FROM notify_local_topics WHERE token = ?", (token,))
    return frozenset(str(row["topic"]) for row in rows)


async def local_pushes_for(db: Database, token: str, limit: int) -> list[dict[str, Any]]:
    """Recorded pushes a device may have received, newest first: those to its token, and
    every push to a topic or a condition (the caller checks the device's topics)."""
    rows = await db.fetch_all(
        """
        SELECT id, body, created_at FROM notify_local_messages
        WHERE channel = 'push' AND (target = ? OR json_extract(body, '$.target_kind') != 'token')
        ORDER BY id DESC LIMIT ?
        """,
        (token, limit),
    )
    return [
        {"id": row["id"], "message": json.loads(row["body"]), "created_at": row["created_at"]}
        for row in rows
    ]


def _encode(message: PushMessage | TopicChange | SmsMessage | VoiceCall) -> str:
    fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
    return json.dumps(fields, ensure_ascii=False, default=_plain)


def _plain(value: object) -> object:
    # PushMessage.data may be any Mapping (a MappingProxyType, say); JSON wants a dict.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot record a {type(value).__name__}")
