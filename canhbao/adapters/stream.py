"""What the live stream follows: the domains' audited changes and durable events, as stream events.

Both tables are written in the transaction of their cause, by whichever process made it (web,
serve's sender), so following them carries every process's events without touching a hot path
or a domain: an audited alert transition, rescue change, offer, operator or callback change, and
a threshold crossing from the event log. The actions and event types named here are the domains'
own; tests/test_stream_sources.py drives each domain through its API and checks what comes out.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from alerting.keys import ALERTING
from cameras.keys import CAMERAS
from canhbao import keys, stream_store
from canhbao.adapters.stream_live import LiveSources, call_moved
from canhbao.db import Reads
from canhbao.stream import StreamEvent, StreamHub, StreamRecorder, StreamSettings
from canhbao.stream_catalogue import (
    AUDIENCES,
    AlertEvent,
    CallbackEvent,
    OfferEvent,
    OperatorEvent,
    RescueEvent,
    StationBandEvent,
    _Event,
)
from canhbao.stream_routes import HUB, RECORDER, SETTINGS
from hotline.events import CallMoved
from notify import keys as notify_keys

log = logging.getLogger(__name__)

# Rows read from a followed table per flush.
READ_LIMIT = 1_000

_ALERT_ACTIONS = {
    "alert.create": "alert.drafted",
    "alert.edit": "alert.edited",
    "alert.submit": "alert.submitted",
    "alert.approve": "alert.approved",
    "alert.reject": "alert.rejected",
    "alert.withdraw": "alert.withdrawn",
    "alert.supersede": "alert.superseded",
    "alert.expire": "alert.expired",
}
_ISSUED = {"Alert": "alert.issued", "Update": "alert.updated", "Cancel": "alert.cancelled"}
_RESCUE_ACTIONS = {
    "rescue_request.create": "rescue.created",
    "rescue_request.update": "rescue.updated",
    "rescue_request.state": "rescue.state",
    "rescue_request.priority": "rescue.priority",
    "rescue_request.escalate": "rescue.escalated",
}


def _alert(row: stream_store.SourceRow) -> AlertEvent:
    after = row.payload
    if row.kind in ("alert.issue", "alert.auto_issue"):
        kind = _ISSUED.get(str(after.get("msgType")), "alert.issued")
    else:
        kind = _ALERT_ACTIONS[row.kind]
    return AlertEvent(
        type=kind,  # type: ignore[arg-type]  # one of the Literal's values, from the tables above
        at=row.at,
        identifier=row.entity_id,
        state=str(after.get("state", "")),
        msg_type=after.get("msgType"),
        status=after.get("status"),
        hazard=after.get("hazard"),
        origin=after.get("origin"),
        actor=row.actor,
        version=after.get("version"),
        comment=after.get("comment"),
        withdrawn_reason=after.get("withdrawn_reason"),
        superseded_by=after.get("superseded_by"),
    )


def _rescue(row: stream_store.SourceRow) -> RescueEvent:
    after = row.payload
    before = row.before or {}
    location = after.get("location") or {}
    ward = after.get("ward") or {}
    claim = after.get("claim") if isinstance(after.get("claim"), str) else None
    kind = _RESCUE_ACTIONS.get(row.kind, "rescue.claim")
    return RescueEvent(
        type=kind,  # type: ignore[arg-type]  # one of the Literal's values
        at=row.at,
        request_id=int(row.entity_id),
        number=after.get("number"),
        source=after.get("source"),
        state=after.get("state"),
        from_state=before.get("state") if row.kind == "rescue_request.state" else None,
        priority=after.get("priority") or after.get("priority_override"),
        ward_code=ward.get("code") if isinstance(ward, Mapping) else None,
        lat=location.get("lat") if isinstance(location, Mapping) else None,
        lon=location.get("lon") if isinstance(location, Mapping) else None,
        people=after.get("people"),
        holder=after.get("holder") if claim else None,
        reason=after.get("reason") or after.get("priority_reason"),
        actor=row.actor,
    )


def _offer(row: stream_store.SourceRow) -> OfferEvent:
    after = row.payload
    team = after.get("team") or {}
    return OfferEvent(
        type="rescue.offer",
        at=row.at,
        action=row.kind.partition(".")[2],
        offer_id=int(row.entity_id),
        request_id=int(after["request_id"]),
        team_id=int(team.get("id", 0)),
        team_name=str(team.get("name", "")),
        status=str(after.get("status", "")),
        actor=row.actor,
    )


def _operator(row: stream_store.SourceRow) -> OperatorEvent:
    after = row.payload
    return OperatorEvent(
        type="operator.changed",
        at=row.at,
        operator_id=int(row.entity_id),
        action=row.kind.partition(".")[2],
        name=after.get("name"),
        active=after.get("active"),
        shift_start=after.get("shift_start"),
        shift_end=after.get("shift_end"),
        actor=row.actor,
    )


_CALLBACKS = {
    "callback.start": "callback.opened",
    "callback.close": "callback.closed",
    "callback.exhausted": "callback.exhausted",
}


def _callback(row: stream_store.SourceRow) -> CallbackEvent:
    after = row.payload
    return CallbackEvent(
        type=_CALLBACKS[row.kind],  # type: ignore[arg-type]  # one of the Literal's values
        at=row.at,
        task_id=int(row.entity_id),
        status=str(after.get("status", "")),
        reason=after.get("reason"),
        actor=row.actor,
    )


AUDIT_TRANSLATIONS: dict[str, Callable[[stream_store.SourceRow], _Event]] = {
    **dict.fromkeys([*_ALERT_ACTIONS, "alert.issue", "alert.auto_issue"], _alert),
    **dict.fromkeys([*_RESCUE_ACTIONS, "rescue_request.claim_*"], _rescue),
    "dispatch_offer.*": _offer,
    "operator.*": _operator,
    "callback.start": _callback,
    "callback.close": _callback,
    "callback.exhausted": _callback,
}


def _translation(kind: str) -> Callable[[stream_store.SourceRow], _Event]:
    found = AUDIT_TRANSLATIONS.get(kind)
    if found is None:
        found = AUDIT_TRANSLATIONS[f"{kind.partition('.')[0]}.*"]
    return found


def _band(row: stream_store.SourceRow) -> StationBandEvent:
    payload = row.payload
    return StationBandEvent(
        type="station.band",
        at=row.at,
        station_id=str(payload["station_id"]),
        station_name=str(payload.get("station_name", "")),
        river=str(payload.get("river", "")),
        kind=str(payload["kind"]),
        from_level=int(payload["from_level"]),
        to_level=int(payload["to_level"]),
        value=float(payload["value"]),
        observed_at=str(payload["observed_at"]),
    )


EVENT_TRANSLATIONS: dict[str, Callable[[stream_store.SourceRow], _Event]] = {
    "feeds.threshold": _band,
}


def _stream_event(model: _Event) -> StreamEvent:
    kind: str = getattr(model, "type")  # noqa: B009  # each model declares its own Literal type
    data: dict[str, Any] = model.model_dump(mode="json", exclude={"type"}, exclude_none=True)
    return StreamEvent(kind, AUDIENCES[kind], data)


@dataclass
class AuditSource:
    """The audit log's rows the stream translates (alert workflow, rescue, offers, hotline);
    `issued` hears of every warning that went out (its delivery is watched)."""

    name: str = "audit_log"
    issued: Callable[[str], None] | None = None

    async def newest(self, db: Reads) -> int:
        return await stream_store.newest_audit(db)

    async def read(self, db: Reads, after: int) -> tuple[int, list[StreamEvent]]:
        position, rows = await stream_store.read_audit(
            db, after, tuple(AUDIT_TRANSLATIONS), READ_LIMIT
        )
        events = _translate(rows, _translation)
        if self.issued is not None:
            for event in events:
                if event.type in _ISSUED.values():
                    self.issued(str(event.data["identifier"]))
        return position, events


@dataclass
class EventLogSource:
    """The durable event log's threshold crossings."""

    name: str = "event_log"

    async def newest(self, db: Reads) -> int:
        return await stream_store.newest_event(db)

    async def read(self, db: Reads, after: int) -> tuple[int, list[StreamEvent]]:
        position, rows = await stream_store.read_events(
            db, after, tuple(EVENT_TRANSLATIONS), READ_LIMIT
        )
        return position, _translate(rows, EVENT_TRANSLATIONS.__getitem__)


def _translate(
    rows: list[stream_store.SourceRow],
    translation: Callable[[str], Callable[[stream_store.SourceRow], _Event]],
) -> list[StreamEvent]:
    found: list[StreamEvent] = []
    for row in rows:
        try:
            found.append(_stream_event(translation(row.kind)(row)))
        except (ValidationError, KeyError, TypeError, ValueError) as err:
            # A row whose shape a domain changed: skipped (the test of each source catches
            # it), never a stream stuck on it.
            log.warning(
                "stream: row not translated",
                extra={"row_id": row.id, "kind": row.kind, "error": str(err)[:200]},
            )
    return found


# How often old stream events are pruned.
PRUNE_MINUTES = 10


async def stream_ctx(app: web.Application) -> AsyncIterator[None]:
    """The live stream: its recorder (this process's events and the followed tables) and its
    hub (the consoles connected to this process)."""
    config = app[keys.CONFIG].stream
    settings = StreamSettings(
        poll_s=config.poll_s,
        keepalive_s=config.keepalive_s,
        client_queue=config.client_queue,
        keep_events=config.keep_events,
        keep_hours=config.keep_hours,
    )
    db, clock = app[keys.DB], app[keys.CLOCK]
    audit = AuditSource()
    recorder = StreamRecorder(db, clock, settings, [audit, EventLogSource()])
    hub = StreamHub(db, clock, settings)
    recorder.written.append(hub.wake)
    workflow, outbox = app[ALERTING], app[notify_keys.OUTBOX]

    async def counts(identifier: str) -> Mapping[str, object]:
        # One grouped count over the outbox's (reference, channel, status) index.
        return {"channels": await outbox.counts(identifier)}

    planned: dict[str, int] = {}

    async def targeted(identifier: str) -> int:
        # The plan is frozen when the warning is issued: read once.
        if identifier not in planned:
            plan = (await workflow.get(identifier)).plan or {}
            messages = plan.get("messages") or {}
            planned[identifier] = (
                sum(int(n) for n in messages.values()) if isinstance(messages, dict) else 0
            )
        return planned[identifier]

    cameras = app[CAMERAS]

    def camera_flags() -> dict[str, frozenset[str]]:
        return {cid: frozenset(p.state.flags) for cid, p in cameras.pollers.items()}

    live = LiveSources(
        recorder,
        clock,
        app[keys.HEALTH],
        counts,
        targeted,
        config.delivery_interval_s,
        camera_flags,
    )
    audit.issued = live.watch
    app[keys.BUS].subscribe(CallMoved, call_moved(recorder, clock))
    app[RECORDER] = recorder
    app[HUB] = hub
    app[SETTINGS] = settings
    await hub.start()
    await recorder.start()
    live.start()
    job = app[keys.SCHEDULER].add_job(hub.prune, "interval", minutes=PRUNE_MINUTES)
    try:
        yield
    finally:
        job.remove()
        await live.stop()
        await hub.stop()
        await recorder.stop()


async def close_streams(app: web.Application) -> None:
    """on_shutdown, before aiohttp waits for open requests: every stream ends now."""
    if HUB in app:
        await app[HUB].stop()
