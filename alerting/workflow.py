"""The warning workflow: draft → submitted → approved → issued → expired (or superseded).

A submitted or approved alert can be rejected back to draft with a comment. Issued messages
never change: an Update or Cancel is a new draft whose `references` name the whole chain before
it, and it goes through the same approval; issuing it supersedes what it references. The
two-person rule (always for Actual, and for the statuses configured): a person approves, not a
machine token; nobody who wrote, changed or submitted an alert approves it; nor anyone whom one
of them created or granted an approving role within APPROVER_COOLING (an admin cannot make a
second account to approve their own draft). Every transition is audited in its own transaction. An
area that reaches no one (no polygon and no ward, an unknown ward, no ground) cannot be
submitted, and is checked again at issue, since the ward catalogue may have changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiosqlite

from alerting import store
from alerting.audience import exercise_note
from alerting.cap import alert_xml
from alerting.delivery import Prepared
from alerting.errors import (
    AlertNotFound,
    InvalidAlert,
    InvalidArea,
    SelfApprovalRefused,
    StaleVersion,
    TemplateIncomplete,
    TransitionRefused,
)
from alerting.models import (
    LANGUAGE_VI,
    Alert,
    cap_time,
    check_alert,
    covers_point,
    format_identifier,
    in_force,
    problems,
    with_times,
)
from alerting.ports import Json, Sponsors
from alerting.settings import Settings
from alerting.store import Origin, StoredAlert
from alerting.templates import unfilled
from canhbao.audit import record_audit
from canhbao.clock import Clock, utc_text
from canhbao.db import Database

log = logging.getLogger(__name__)

ENTITY = "alert"
SYSTEM_EXPIRY = "system:expiry"
USER = "user:"  # how the audit log names a staff user (canhbao.auth's Principal.actor)
# An account created or made approver by a draft's author this recently cannot approve it.
APPROVER_COOLING = timedelta(hours=24)


class FanOut(Protocol):
    """Delivery, as the workflow sees it: prepare outside the lock, commit inside it.

    `check_area`, `preview` and `prepare` raise UnknownWards naming ward codes the catalogue
    does not know, and InvalidArea when the area is no polygon targeting can use.
    """

    def check_area(self, alert: Alert) -> None:
        """Raise as preview would for an area targeting cannot use, without planning."""
        ...

    def preview(self, alert: Alert) -> Json:
        """The targeting plan's summary, as staff see it before approving."""
        ...

    async def prepare(self, alert: Alert, chain: str) -> Prepared:
        """Resolve recipients and build the messages (no writes)."""
        ...

    async def commit(self, conn: aiosqlite.Connection, prepared: Prepared) -> Json:
        """Enqueue the prepared messages in the issue transaction; returns the frozen plan."""
        ...

    async def withdraw(self, conn: aiosqlite.Connection, identifier: str, by: str) -> int:
        """Stop sending a superseded alert's messages, in the superseding transaction."""
        ...


class Workflow:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        fanout: FanOut | None = None,
        sponsors: Sponsors | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.fanout = fanout
        self._sponsors = sponsors
        # The issued alerts, parsed, with the public version and limit they were read at: every
        # hotline call and public page asks, and parsing each alert's JSON per call was the
        # hotline's largest cost during a flood night (README, "Processes").
        self._issued: tuple[tuple[str | None, int], int, list[StoredAlert]] | None = None

    # -- drafts ------------------------------------------------------------------------------

    def complete(self, alert: Alert, now: datetime) -> Alert:
        """Our defaults where the author left a field empty: sender, senderName, contact, web,
        effective and expires (default_expiry from now)."""
        infos = tuple(
            replace(
                info,
                sender_name=info.sender_name or self.settings.sender_name,
                contact=info.contact or self.settings.contact,
                web=info.web or self.settings.web,
                expires=info.expires or now + self.settings.default_expiry,
            )
            for info in alert.infos
        )
        # An exercise's service makes nothing else: never Actual, whatever was asked.
        drill = self.settings.exercise
        return replace(
            alert,
            sender=self.settings.sender,
            status="Exercise" if drill else alert.status or self.settings.status,
            note=exercise_note(drill) if drill else alert.note,
            infos=infos,
        )

    async def create(
        self,
        alert: Alert,
        actor: str,
        *,
        origin: Origin = "staff",
        hazard: str | None = None,
        chain: str | None = None,
        conn: aiosqlite.Connection | None = None,
    ) -> StoredAlert:
        """Store a new draft; the identifier, sender and sent are ours to set."""
        if conn is None:
            async with self.db.transaction() as own:
                return await self.create(
                    alert, actor, origin=origin, hazard=hazard, chain=chain, conn=own
                )
        now = self.clock.now()
        if alert.status not in ("Actual", "Exercise", "Test", ""):
            raise InvalidAlert([f"status: {alert.status!r}: one of Actual, Exercise, Test"])
        stem = format_identifier(self.settings.identifier_prefix, now, 0).rsplit(".", 1)[0]
        identifier = f"{stem}.{await store.next_sequence(conn, stem)}"
        draft = self.complete(replace(alert, identifier=identifier, sent=now), now)
        await store.insert_alert(
            conn,
            draft,
            chain=chain or identifier,
            hazard=hazard,
            origin=origin,
            author=actor,
            now=now,
        )
        stored = await self._get(conn, identifier)
        await self._audit(conn, actor, "alert.create", None, stored)
        log.info("alert drafted", extra={"identifier": identifier, "origin": origin})
        return stored

    async def edit(self, identifier: str, alert: Alert, actor: str, version: int) -> StoredAlert:
        """Replace a draft's content (only in draft; `version` guards lost updates)."""
        async with self.db.transaction() as conn:
            stored = await self._get(conn, identifier)
            self._expect(stored, "draft", "edit")
            _check_version(stored, version)
            changed = self.complete(
                replace(
                    alert,
                    identifier=identifier,
                    sent=stored.alert.sent,
                    msg_type=stored.alert.msg_type,
                    references=stored.alert.references,
                ),
                self.clock.now(),
            )
            await store.update_alert(
                conn, identifier, self.clock.now(), document=changed, status=changed.status,
                editors=with_editor(stored, actor),
            )  # fmt: skip
            after = await self._get(conn, identifier)
            await self._audit(conn, actor, "alert.edit", stored, after)
            return after

    async def derive(self, identifier: str, msg_type: str, actor: str, alert: Alert | None = None
                     ) -> StoredAlert:  # fmt: skip
        """An Update or Cancel draft of an issued message, referencing its whole chain."""
        if msg_type not in ("Update", "Cancel"):
            raise InvalidAlert([f"msgType: derive makes an Update or a Cancel, not {msg_type}"])
        async with self.db.transaction() as conn:
            target = await self._get(conn, identifier)
            self._expect(target, "issued", f"make an {msg_type} of")
            pending = await store.pending_in_chain(conn, target.chain)
            if pending:
                raise TransitionRefused(
                    f"{pending[0]} already continues this chain; finish or reject it first"
                )
            base = alert or target.alert
            references = (*target.alert.references, target.alert.reference)
            draft = replace(base, msg_type=msg_type, references=references)
            if alert is None:
                # Fresh times: the update runs from when it is issued, not from the original.
                draft = replace(
                    draft,
                    infos=tuple(replace(i, effective=None, expires=None) for i in draft.infos),
                )
            return await self.create(
                draft,
                actor,
                origin=target.origin if alert is None else "staff",
                hazard=target.hazard,
                chain=target.chain,
                conn=conn,
            )

    # -- transitions -------------------------------------------------------------------------

    # Submit, approve and issue act on the version the person saw (`version`; StaleVersion when
    # the alert changed since). None only for callers that saw none: system steps and tests.

    async def submit(self, identifier: str, actor: str, *, version: int | None = None
                     ) -> StoredAlert:  # fmt: skip
        async with self.db.transaction() as conn:
            stored = await self._get(conn, identifier)
            self._expect(stored, "draft", "submit")
            _check_version(stored, version)
            self._check_ready(stored.alert)
            await store.update_alert(
                conn, identifier, self.clock.now(), state="submitted", submitted_by=actor,
                comment="",
            )  # fmt: skip
            return await self.record_transition(conn, actor, "alert.submit", stored)

    async def approve(self, identifier: str, actor: str, *, version: int | None = None
                      ) -> StoredAlert:  # fmt: skip
        async with self.db.transaction() as conn:
            stored = await self._get(conn, identifier)
            self._expect(stored, "submitted", "approve")
            _check_version(stored, version)
            if stored.alert.status in self.settings.two_person_statuses:
                await self._check_second_person(stored, actor)
            await store.update_alert(
                conn, identifier, self.clock.now(), state="approved", approved_by=actor
            )
            return await self.record_transition(conn, actor, "alert.approve", stored)

    async def _check_second_person(self, stored: StoredAlert, actor: str) -> None:
        """The two-person rule: SelfApprovalRefused unless `actor` is a person independent of
        everyone who wrote, changed or submitted the alert."""
        identifier = stored.identifier
        involved = {stored.author, *stored.editors}
        if stored.submitted_by:
            involved.add(stored.submitted_by)
        if actor in involved:
            raise SelfApprovalRefused(
                f"{identifier}: a second person must approve what {actor} wrote, changed or"
                " submitted"
            )
        if not actor.startswith(USER):
            raise SelfApprovalRefused(
                f"{identifier}: a person approves a warning, not {actor}; log in as yourself"
            )
        if self._sponsors is None:
            return
        people = {who.removeprefix(USER) for who in involved if who.startswith(USER)}
        since = self.clock.now() - APPROVER_COOLING
        sponsored = await self._sponsors.sponsors(actor.removeprefix(USER), since) & people
        if sponsored:
            hours = APPROVER_COOLING.total_seconds() / 3600
            raise SelfApprovalRefused(
                f"{identifier}: {actor} was given their account or approving role by"
                f" {', '.join(sorted(sponsored))} within {hours:g} h, who wrote or changed this"
                " alert; someone else must approve it"
            )

    async def reject(self, identifier: str, actor: str, comment: str) -> StoredAlert:
        if not comment.strip():
            raise InvalidAlert(["comment: say why the alert is sent back"])
        async with self.db.transaction() as conn:
            stored = await self._get(conn, identifier)
            self._expect(stored, ("submitted", "approved"), "reject")
            await store.update_alert(
                conn, identifier, self.clock.now(), state="draft", comment=comment.strip(),
                submitted_by=None, approved_by=None,
            )  # fmt: skip
            return await self.record_transition(conn, actor, "alert.reject", stored)

    async def issue(self, identifier: str, actor: str, *, version: int | None = None
                    ) -> StoredAlert:  # fmt: skip
        """Publish an approved alert: stamp its times, freeze its CAP document and targeting
        plan, enqueue every message, supersede what it references — one transaction."""
        stored = await self.get(identifier)
        self._expect(stored, "approved", "issue")
        _check_version(stored, version)
        now = self.clock.now()
        alert = self._stamped(stored.alert, now)
        check_alert(alert, self.settings.profile)
        prepared = await self._prepare(alert, stored.chain)

        async def publish(conn: aiosqlite.Connection) -> StoredAlert:
            again = await self._get(conn, identifier)
            # Someone may have rejected it (and had it approved again) while the plan was
            # being worked out: what is issued is still what the approver saw.
            self._expect(again, "approved", "issue")
            _check_version(again, stored.version)
            plan = await self.fanout.commit(conn, prepared) if self.fanout and prepared else None
            await self._publish(conn, again, alert, actor, now, plan)
            return await self.record_transition(conn, actor, "alert.issue", again)

        # Whole in the writer's thread (README, "Processes"): the writers' lock is held for the
        # issue's SQL (the first batch, the frozen targets: 800 kB for 100,000 devices) alone,
        # not also for this event loop's turns between its dozen statements, which every hotline
        # write waits for at the moment a warning goes out.
        return await self.db.transact(publish)

    async def issue_now(self, stored: StoredAlert, actor: str, conn: aiosqlite.Connection) -> None:
        """Issue a draft without the human steps (an auto-issue rule); audited as `actor`."""
        now = self.clock.now()
        alert = self._stamped(stored.alert, now)
        self._check_ready(alert)
        check_alert(alert, self.settings.profile)
        prepared = await self._prepare(alert, stored.chain)
        plan = await self.fanout.commit(conn, prepared) if self.fanout and prepared else None
        await self._publish(conn, stored, alert, actor, now, plan)
        await self.record_transition(conn, actor, "alert.auto_issue", stored)

    async def _prepare(self, alert: Alert, chain: str) -> Prepared | None:
        """The fan-out's messages; InvalidArea when the area can no longer be targeted (the
        ward catalogue may have changed since the alert was submitted)."""
        if self.fanout is None:
            return None
        try:
            return await self.fanout.prepare(alert, chain)
        except InvalidArea as err:
            log.warning(
                "issue refused: the area cannot be targeted",
                extra={
                    "identifier": alert.identifier,
                    "chain": chain,
                    "problems": list(err.problems),
                },
            )
            raise

    def _area_problems(self, alert: Alert) -> list[str]:
        """Why targeting cannot use the alert's area; empty when it can. An area with neither
        a polygon nor a ward is the profile's to name (models.problems), not repeated here."""
        placed = any(
            area.polygons or area.ward_codes for info in alert.infos for area in info.areas
        )
        if self.fanout is None or not placed:
            return []
        try:
            self.fanout.check_area(alert)
        except InvalidArea as err:
            return list(err.problems)
        return []

    def _stamped(self, alert: Alert, now: datetime) -> Alert:
        # Keep the author's time in force, but never past the profile's maximum.
        lasting = [
            (i.expires - (i.effective or alert.sent)) for i in alert.infos if i.expires is not None
        ]
        span = min(max(lasting, default=self.settings.default_expiry), self.settings.max_expiry)
        if span <= timedelta(0):
            span = self.settings.default_expiry
        return with_times(alert, sent=now, expires=now + span)

    async def _publish(
        self,
        conn: aiosqlite.Connection,
        stored: StoredAlert,
        alert: Alert,
        actor: str,
        now: datetime,
        plan: Mapping[str, Any] | None,
    ) -> None:
        await store.update_alert(
            conn,
            stored.identifier,
            now,
            state="issued",
            issued_by=actor,
            document=alert,
            sent=alert.sent,
            expires=alert.expires,
            xml=alert_xml(alert),
            plan=json.dumps(plan, ensure_ascii=False) if plan is not None else None,
        )
        wards = sorted({code for info in alert.infos for a in info.areas for code in a.ward_codes})
        await store.set_wards(conn, stored.identifier, wards)
        for reference in alert.references:
            if reference.sender != self.settings.sender:
                # Another authority's message (a re-issued import): identifiers are unique only
                # per sender, so one equal to ours names a different message.
                continue
            target = await store.get_alert(conn, reference.identifier)
            # CAP names a message by all three parts; ours are written in whole seconds.
            if (
                target is not None
                and target.state == "issued"
                and cap_time(target.alert.sent) == cap_time(reference.sent)
            ):
                await store.update_alert(
                    conn, target.identifier, now, state="superseded",
                    superseded_by=stored.identifier,
                )  # fmt: skip
                await self.record_transition(conn, actor, "alert.supersede", target)
                if self.fanout is not None:
                    withdrawn = await self.fanout.withdraw(
                        conn, target.identifier, stored.identifier
                    )
                    log.info(
                        "superseded alert's unsent messages withdrawn",
                        extra={
                            "identifier": target.identifier,
                            "superseded_by": stored.identifier,
                            "withdrawn": withdrawn,
                        },
                    )
        log.info(
            "alert issued",
            extra={"identifier": stored.identifier, "msgType": alert.msg_type, "actor": actor},
        )
        totals = (plan or {}).get("totals", {})
        if plan is not None and not totals.get("devices") and not totals.get("by_sms"):
            # Allowed (the CAP feed and the hotline still carry it), never unnoticed.
            log.warning(
                "alert issued with no device or contact in its area",
                extra={"identifier": stored.identifier, "actor": actor},
            )

    async def expire_due(self) -> list[str]:
        """Expire every issued alert whose time is up (the scheduled job; also run at start)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            due = await store.due_for_expiry(conn, now)
            for stored in due:
                await store.update_alert(conn, stored.identifier, now, state="expired")
                await self.record_transition(conn, SYSTEM_EXPIRY, "alert.expire", stored)
        for stored in due:
            log.info("alert expired", extra={"identifier": stored.identifier})
        return [stored.identifier for stored in due]

    # -- reading -----------------------------------------------------------------------------

    async def in_force_at(
        self, lon: float | None = None, lat: float | None = None, *, limit: int = 500
    ) -> list[Alert]:
        """Issued alerts in force now: those covering the point, or all of them without one."""
        now = self.clock.now()
        return [
            stored.alert
            for stored in await self._issued_alerts(limit)
            if in_force(stored.alert, now)
            and (lon is None or lat is None or covers_point(stored.alert, lon, lat))
        ]

    async def _issued_alerts(self, limit: int) -> list[StoredAlert]:
        """store.issued, parsed again only when the public version changed (an alert issued,
        replaced or expired). The version is read first: alerts read after it are at least
        that new, so a change in between only costs one more read."""
        version = await store.public_version(self.db)
        cached = self._issued
        if cached is not None and cached[0] == version and cached[1] == limit:
            return cached[2]
        alerts = await store.issued(self.db, limit)
        self._issued = (version, limit, alerts)
        return alerts

    async def get(self, identifier: str) -> StoredAlert:
        found = await store.get_alert(self.db.reader, identifier)
        if found is None:
            raise AlertNotFound(identifier)
        return found

    async def _get(self, conn: aiosqlite.Connection, identifier: str) -> StoredAlert:
        found = await store.get_alert(conn, identifier)
        if found is None:
            raise AlertNotFound(identifier)
        return found

    def readiness(self, alert: Alert) -> list[str]:
        """What stops this alert from being submitted (empty when it can be)."""
        found = problems(self._stamped(alert, self.clock.now()), self.settings.profile)
        left = _unfilled(alert)
        if left:
            found.append(f"unfilled placeholders: {', '.join(sorted(set(left)))}")
        return found + self._area_problems(alert)

    def _check_ready(self, alert: Alert) -> None:
        left = _unfilled(alert)
        if left:
            raise TemplateIncomplete(
                [f"unfilled placeholder {{{name}}}" for name in dict.fromkeys(left)]
            )
        found = problems(self._stamped(alert, self.clock.now()), self.settings.profile)
        if found:
            raise InvalidAlert(found)
        if alert.info(LANGUAGE_VI) is None:
            raise InvalidAlert(["info: a vi-VN block is required"])
        area = self._area_problems(alert)
        if area:
            raise InvalidArea(area)

    @staticmethod
    def _expect(stored: StoredAlert, states: str | Sequence[str], what: str) -> None:
        allowed = (states,) if isinstance(states, str) else tuple(states)
        if stored.state not in allowed:
            raise TransitionRefused(
                f"cannot {what} {stored.identifier}: it is {stored.state},"
                f" not {' or '.join(allowed)}"
            )

    async def record_transition(
        self, conn: aiosqlite.Connection, actor: str, action: str, before: StoredAlert
    ) -> StoredAlert:
        """Audit a change made in `conn` (before/after) and return the alert as it now stands."""
        after = await self._get(conn, before.identifier)
        await self._audit(conn, actor, action, before, after)
        return after

    async def _audit(
        self,
        conn: aiosqlite.Connection,
        actor: str,
        action: str,
        before: StoredAlert | None,
        after: StoredAlert,
    ) -> None:
        await record_audit(
            conn,
            at=self.clock.now(),
            actor=actor,
            action=action,
            entity=ENTITY,
            entity_id=after.identifier,
            before=before.summary() if before else None,
            after={**after.summary(), "updated_at": utc_text(after.updated_at)},
        )


def with_editor(stored: StoredAlert, actor: str) -> tuple[str, ...]:
    """The alert's editors with `actor` added (once)."""
    return stored.editors if actor in stored.editors else (*stored.editors, actor)


def _check_version(stored: StoredAlert, version: int | None) -> None:
    if version is not None and version != stored.version:
        raise StaleVersion(stored.identifier, version, stored.version)


def _unfilled(alert: Alert) -> list[str]:
    """Template placeholders left in the alert's citizen-facing texts."""
    left: list[str] = []
    for info in alert.infos:
        left.extend(unfilled(info.event, info.headline, info.description, info.instruction))
    return left
