"""The after-action report's ports (exercises.report.ports) over feeds, alerting, the outbox,
the hotline and dispatch, each read through its own store from one database."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from alerting.store.alerts import AlertTimes, alert_times
from canhbao.clock import parse_utc, utc_text
from canhbao.db import Database
from dispatch.store import report as dispatch_report
from dispatch.store.requests import reached_at, requests_between
from exercises.report.models import (
    CallRecord,
    Crossing,
    EscalationRecord,
    LevelPoint,
    RescueRecord,
    RiverStation,
    WarningRecord,
    Window,
)
from exercises.report.ports import ReportSources
from feeds import store as feeds_store
from feeds.models import Parameter
from hotline.store.report import inbound_calls
from notify.delivery_log import SentPush, push_sends

# A topic in an FCM condition: 'hue-phu-xuan' in topics, or its language variant 'x~en'.
_TOPIC = re.compile(r"'([^'~]+)(?:~[^']*)?' in topics")


class StoreRivers:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def span(self) -> tuple[datetime, datetime] | None:
        return await feeds_store.reading_span(self._db)

    async def stations(self) -> Sequence[RiverStation]:
        return [
            RiverStation(
                s.id,
                s.name,
                s.river,
                (s.thresholds.bao_dong1, s.thresholds.bao_dong2, s.thresholds.bao_dong3)
                if s.thresholds
                else (None, None, None),
            )
            for s in await feeds_store.load_stations(self._db)
            if Parameter.water_level in s.parameters
        ]

    async def crossings(self, window: Window) -> Sequence[Crossing]:
        rows = await feeds_store.crossings_between(self._db, window.start, window.end)
        return [
            Crossing(
                row["station_id"],
                row["from_level"],
                row["to_level"],
                row["value"],
                parse_utc(row["observed_at"]),
                # As alerting.auto keys the threshold events it drafts from.
                f"{row['station_id']}:{row['kind']}:{row['from_level']}>{row['to_level']}:"
                + utc_text(parse_utc(row["observed_at"])),
            )
            for row in rows
        ]

    async def levels(self, station_id: str, window: Window, step_s: int) -> Sequence[LevelPoint]:
        buckets = await feeds_store.downsampled(
            self._db, station_id, Parameter.water_level, window.start, window.end, step_s
        )
        return [LevelPoint(b.start, b.value) for b in buckets]


def devices_reached(
    plan: Mapping[str, Any] | None, sends: Sequence[SentPush]
) -> list[tuple[datetime, int]]:
    """When an issued alert's targeted devices were reached: a device by its own token when
    that message was sent; a ward reached by topic when the last condition naming its topic
    (in every language) was sent."""
    reached: list[tuple[datetime, int]] = [
        (s.sent_at, 1) for s in sends if s.target_kind == "token" and s.sent_at is not None
    ]
    if not plan:
        return reached
    done: dict[str, datetime | None] = {}
    for send in sends:
        if send.target_kind != "condition":
            continue
        for topic in set(_TOPIC.findall(send.target)):
            if topic in done and done[topic] is None:
                continue
            if send.sent_at is None:
                done[topic] = None
            else:
                done[topic] = max(send.sent_at, done.get(topic) or send.sent_at)
    for area in plan.get("areas", []):
        topic, count = area.get("topic"), int(area.get("by_topic") or 0)
        at = done.get(topic) if topic else None
        if count and at is not None:
            reached.append((at, count))
    return reached


class StoreWarnings:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def warnings(self, window: Window) -> Sequence[WarningRecord]:
        return [
            await self._record(times)
            for times in await alert_times(self._db, window.start, window.end)
        ]

    async def _record(self, times: AlertTimes) -> WarningRecord:
        stored = times.stored
        info = stored.alert.info()
        plan = stored.plan or {}
        totals = plan.get("totals", {}) if isinstance(plan, dict) else {}
        sends = await push_sends(self._db, stored.identifier) if times.issued_at else []
        return WarningRecord(
            identifier=stored.identifier,
            headline=(info.headline or info.event) if info else "",
            status=stored.alert.status,
            msg_type=stored.alert.msg_type,
            origin=stored.origin,
            state=stored.state,
            created_at=stored.created_at,
            approved_at=times.approved_at,
            issued_at=times.issued_at,
            drafted=times.event_keys,
            targeted_devices=int(totals.get("devices") or 0),
            reached=tuple(devices_reached(plan, sends)),
        )


class StoreCalls:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def calls(self, window: Window) -> Sequence[CallRecord]:
        def time(text: str | None) -> datetime | None:
            return parse_utc(text) if text else None

        return [
            CallRecord(
                received_at=parse_utc(row["received_at"]),
                answered_at=time(row["answered_at"]),
                ended_at=time(row["ended_at"]),
                enqueued_at=time(row["enqueued_at"]),
                queue_wait_s=row["queue_wait_s"],
                outcome=row["outcome"],
                callback_at=time(row["callback_at"]),
                callback_reached_at=time(row["reached_at"]),
            )
            for row in await inbound_calls(self._db, window.start, window.end)
        ]


class StoreRescues:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def requests(self, window: Window) -> Sequence[RescueRecord]:
        found = [
            r
            for r in await requests_between(self._db, window.start, window.end)
            if r.state.value != "duplicate"
        ]
        reached = await reached_at(self._db, [r.id for r in found])

        def time(request_id: int, column: str) -> datetime | None:
            text = reached.get(request_id, {}).get(column)
            return parse_utc(text) if text else None

        return [
            RescueRecord(
                id=r.id,
                # As triage gave it when it came in (waiting adds points later).
                priority=(r.priority_override or r.computed_priority(r.created_at)).value,
                state=r.state.value,
                created_at=r.created_at,
                accepted_at=time(r.id, "accepted_at"),
                on_scene_at=time(r.id, "on_scene_at"),
                resolved_at=time(r.id, "resolved_at"),
            )
            for r in found
        ]

    async def escalations(self, window: Window) -> Sequence[EscalationRecord]:
        rows = await dispatch_report.escalations_between(self._db, window.start, window.end)
        return [
            EscalationRecord(
                row["request_id"],
                parse_utc(row["escalated_at"]),
                parse_utc(row["cleared_at"]) if row["cleared_at"] else None,
            )
            for row in rows
        ]


def report_sources(db: Database) -> ReportSources:
    """Every port of the report, over one database (the service's or an exercise's)."""
    return ReportSources(StoreRivers(db), StoreWarnings(db), StoreCalls(db), StoreRescues(db))
