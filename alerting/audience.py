"""The test audience: the enrolled devices and phones that alone receive a `Test` alert.

A Test message must never reach the public: delivery sends it to these members only (never to
a ward's topic, never to a device or contact found by targeting), with "[THỬ NGHIỆM]" /
"[TEST]" before its texts, and the public feed and APIs leave it out. An `Exercise` message
is, in CAP's words, "actionable only by designated exercise participants": the same holds
for it, marked "[DIỄN TẬP]" / "[EXERCISE]". Admins enrol and remove members; each change is
audited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from alerting import store
from alerting.errors import AudienceMemberNotFound, AudienceRefused
from alerting.models import LANGUAGE_VI, Alert
from alerting.store import TestMember
from canhbao.audit import record_audit
from canhbao.clock import Clock
from canhbao.db import Database

ENTITY = "alert_test_audience"
# Statuses whose messages reach the enrolled audience only, and how their texts are marked.
MARKERS = {
    "Test": {"vi": "[THỬ NGHIỆM]", "en": "[TEST]"},
    "Exercise": {"vi": "[DIỄN TẬP]", "en": "[EXERCISE]"},
}
AUDIENCE_ONLY = frozenset(MARKERS)
# States of a message the public may read: issued once (in force, expired, or replaced).
PUBLIC_STATES = frozenset({"issued", "expired", "superseded"})
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164
_TOKEN = re.compile(r"^[A-Za-z0-9_:\-.]{20,4096}$")  # what FCM registration tokens are made of


def exercise_note(name: str) -> str:
    """The CAP <note> of every message made in exercise mode (alerting's `exercise` setting)."""
    return f"Diễn tập / Exercise: {name}"


def is_public(stored: store.StoredAlert) -> bool:
    """Whether the public may read this message (the feed, the public API and pages): issued
    once, and not for the test audience alone."""
    return stored.state in PUBLIC_STATES and stored.alert.status not in AUDIENCE_ONLY


def audience_plan(members: Sequence[TestMember]) -> dict[str, Any]:
    """The plan of a Test or Exercise alert, as staff preview it and issue freezes it."""
    devices = sum(1 for m in members if m.kind == "device")
    phones = len(members) - devices
    return {
        "test_audience": True,
        "totals": {"devices": devices, "by_topic": 0, "by_token": devices, "by_sms": phones},
        "conditions": [],
        "areas": [],
        "messages": {"condition": 0, "token": devices, "sms": phones},
    }


def marked(alert: Alert) -> Alert:
    """A Test (or Exercise) alert's texts with its marker first, in each block's language."""
    if alert.status not in MARKERS:
        return alert

    def mark(text: str, marker: str) -> str:
        return text if text.startswith(marker) else f"{marker} {text}".strip()

    infos = []
    for info in alert.infos:
        marker = MARKERS[alert.status]["vi" if info.language == LANGUAGE_VI else "en"]
        infos.append(
            replace(
                info,
                headline=mark(info.headline, marker),
                description=mark(info.description, marker),
            )
        )
    return replace(alert, infos=tuple(infos))


class TestAudience:
    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def members(self) -> list[TestMember]:
        return await store.test_audience(self._db)

    async def enrol(
        self, kind: str, address: str, actor: str, *, language: str = "vi", label: str = ""
    ) -> TestMember:
        address = address.strip()
        if kind == "phone" and not _PHONE.match(address):
            raise AudienceRefused(["address: a phone number in E.164 form (+84...)"])
        if kind == "device" and not _TOKEN.match(address):
            raise AudienceRefused(["address: the device's FCM registration token"])
        if kind not in ("device", "phone"):
            raise AudienceRefused(["kind: device or phone"])
        if language not in ("vi", "en"):
            raise AudienceRefused(["language: vi or en"])
        if len(label) > 200:
            raise AudienceRefused(["label: at most 200 characters"])
        now = self._clock.now()
        async with self._db.transaction() as conn:
            member = await store.add_test_member(conn, kind, address, language, label, actor, now)
            if member is None:
                raise AudienceRefused([f"{kind} {address} is enrolled already"])
            await record_audit(
                conn, at=now, actor=actor, action="alert_test_audience.enrol", entity=ENTITY,
                entity_id=str(member.id), before=None, after=member.as_json(),
            )  # fmt: skip
        return member

    async def remove(self, member_id: int, actor: str) -> TestMember:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            member = await store.get_test_member(conn, member_id)
            if member is None:
                raise AudienceMemberNotFound(str(member_id))
            await store.remove_test_member(conn, member_id)
            await record_audit(
                conn, at=now, actor=actor, action="alert_test_audience.remove", entity=ENTITY,
                entity_id=str(member_id), before=member.as_json(), after=None,
            )  # fmt: skip
        return member
