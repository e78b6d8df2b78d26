"""Threshold events from feeds → pre-filled drafts for the wards configured for each station.

The station's facts (name, river, báo động levels) are quoted from the event, which carries
them from feeds' stored stations (their one owner); the wards a station drafts for are
alerting's own configuration ([[alerting.stations]]), so a station staff add through the API
drafts as soon as alerting lists wards for it.

- A river entering BĐ II or III, mưa rất to, intense rain, or wind of a storm (cấp 8 and up)
  drafts a warning; while a warning on the same hazard (station and kind) is in force, a
  change becomes an Update draft of it, never a second warning beside it.
- A river going down but still at or above BĐ II says so ("đang xuống, vẫn trên báo động cấp
  hai"), never "vượt" as if it were rising.
- The hazard has passed once the reading is below the level that started the chain (and below
  the drafting level): an issued warning gets an all-clear Update ("Hết cảnh báo"); a draft
  nobody issued is withdrawn (state `withdrawn`, with its reason), never turned into an
  all-clear of a warning the public never saw.
- A draft not yet issued is rewritten instead of stacking a second one (a submitted or
  approved one goes back to draft: what changed must be approved again).
- Each event is handled once (its key is stored): a replayed or repeated event changes nothing.
- Per rule (river, rain, wind): draft only (default) or issue at once for named severities.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Literal

import aiosqlite

from alerting import store
from alerting.delivery import ward_area
from alerting.errors import AlertingError, AlertNotFound, InvalidArea
from alerting.models import PARAM_BAO_DONG, PARAM_STATIONS, Alert, Area, Info, Parameter
from alerting.ports import Directory
from alerting.templates import (
    ALL_CLEAR_DETAILS,
    HAZARD,
    TEMPLATES,
    TREND,
    Template,
    compose,
    compose_texts,
    fill_text,
    local_time,
    number,
    wind_class,
)
from alerting.wording import RiverFacts, RiverSituation, river_texts
from alerting.workflow import Workflow, with_editor
from canhbao.clock import utc_text
from canhbao.config import AlertingConfig, AutoRuleConfig
from feeds.levels import cap_gio
from feeds.thresholds import EventKind, ThresholdEvent

log = logging.getLogger(__name__)

ACTOR = "system:auto"
BANDS = {1: "I", 2: "II", 3: "III", 4: "III"}  # band 4 is above the historic flood: still III
RIVER_DRAFT_BAND = 2
RAIN_DRAFT_LEVEL = 3  # mưa rất to
WIND_DRAFT_LEVEL = 2  # bão: cấp 8 and up
Rule = Literal["river", "rain", "wind"]
_EVENT_KEY = re.compile(r":(?P<kind>[a-z_]+):(?P<from>\d+)>(?P<to>\d+):")


@dataclass(frozen=True)
class Start:
    """What started a hazard's chain: the event kind and the level it reached."""

    kind: str
    level: int


class AutoDrafter:
    def __init__(
        self,
        workflow: Workflow,
        directory: Directory,
        config: AlertingConfig,
        outline_max_points: int,
    ) -> None:
        self._workflow = workflow
        self._directory = directory
        self._config = config
        self._wards = {s.station_id: s for s in config.stations}
        self._max_points = outline_max_points

    async def on_event(self, event: ThresholdEvent) -> str | None:
        """Handle one threshold event; returns the identifier drafted or changed, if any."""
        wards = self._wards.get(event.station_id)
        if wards is None:
            return None
        rule, hazard, draft_level = _classify(event)
        if rule is None:
            return None
        db = self._workflow.db
        key = f"{event.station_id}:{event.kind.value}:{event.from_level}>{event.to_level}:" + (
            utc_text(event.observed_at)
        )
        async with db.transaction() as conn:
            if not await store.claim_event(conn, key, self._workflow.clock.now()):
                return None
            live = await store.live_for_hazard(conn, hazard)
            # An issued all-clear ends the hazard: the next rise is a new warning.
            issued = [
                a for a in live if a.state == "issued" and "AllClear" not in _responses(a.alert)
            ]
            pending = [a for a in live if a.state in store.UNISSUED and a.origin == "auto"]
            if not issued and not pending:
                if event.to_level < draft_level or event.direction != "up":
                    return None
                start = Start(event.kind.value, event.to_level)
            else:
                chain = (issued or pending)[0].chain
                start = _start(await store.chain_start(conn, chain), event, draft_level)
            if event.to_level >= draft_level:
                situation: RiverSituation = "rising" if event.direction == "up" else "falling"
            elif event.kind.value == start.kind and event.to_level < start.level:
                situation = "passed"
            else:
                # Another kind of the same hazard (gusts beside sustained wind) easing while
                # the one that started the chain still stands: nothing to say yet.
                return None
            if situation == "passed":
                for draft in pending:
                    await self._withdraw(conn, draft, event)
                if not issued:
                    log.info("auto-draft withdrawn: hazard passed", extra={"hazard": hazard})
                    return pending[-1].identifier if pending else None
            area = self._area(wards.ward_codes, wards.area_desc)
            if area is None:
                return None
            template, infos = self._texts(event, situation, area)
            alert = Alert(
                identifier="",
                sender="",
                sent=self._workflow.clock.now(),
                status=self._workflow.settings.status,
                msg_type="Alert",
                infos=infos,
            )
            if pending and situation != "passed":
                target = pending[-1]
                changed = replace(
                    alert, msg_type=target.alert.msg_type, references=target.alert.references
                )
                stored = await self._rewrite(conn, target, changed)
            elif issued:
                previous = issued[-1]
                references = (*previous.alert.references, previous.alert.reference)
                stored = await self._workflow.create(
                    replace(alert, msg_type="Update", references=references),
                    ACTOR, origin="auto", hazard=hazard, chain=previous.chain, conn=conn,
                )  # fmt: skip
            else:
                stored = await self._workflow.create(
                    alert, ACTOR, origin="auto", hazard=hazard, conn=conn
                )
            await store.note_event_draft(conn, key, stored.identifier)
            policy = self._rule(rule)
            if policy.policy == "issue" and template.severity in policy.issue_severities:
                try:
                    await self._workflow.issue_now(stored, ACTOR, conn)
                except AlertingError:
                    log.exception("auto-issue refused", extra={"identifier": stored.identifier})
        log.info(
            "auto-draft",
            extra={
                "identifier": stored.identifier,
                "station": event.station_id,
                "hazard": hazard,
                "situation": situation,
            },
        )
        return stored.identifier

    def _area(self, codes: tuple[str, ...], description: str) -> Area | None:
        try:
            return ward_area(self._directory, codes, description, self._max_points)
        except InvalidArea as err:
            # Configured wards the catalogue lacks (not imported yet, merged away).
            log.warning("auto-draft skipped: its wards", extra={"problems": list(err.problems)})
            return None

    async def _withdraw(
        self, conn: aiosqlite.Connection, draft: store.StoredAlert, event: ThresholdEvent
    ) -> None:
        """A draft never issued whose hazard passed: out of the workflow, with the reason."""
        reason = (
            f"{_kind_name(event)} at {event.station_name or event.station_id} fell to"
            f" {number(event.value, 'en-US')} ({local_time(event.observed_at, 'en-US')}),"
            " below the level that started it, before the warning was issued"
        )
        await store.update_alert(
            conn, draft.identifier, self._workflow.clock.now(), state="withdrawn",
            withdrawn_reason=reason,
        )  # fmt: skip
        await self._workflow.record_transition(conn, ACTOR, "alert.withdraw", draft)
        log.info(
            "auto-draft withdrawn",
            extra={"identifier": draft.identifier, "reason": reason},
        )

    async def _rewrite(
        self, conn: aiosqlite.Connection, target: store.StoredAlert, alert: Alert
    ) -> store.StoredAlert:
        before = await store.get_alert(conn, target.identifier)
        if before is None:
            raise AlertNotFound(target.identifier)
        completed = self._workflow.complete(
            replace(alert, identifier=before.identifier, sent=before.alert.sent),
            self._workflow.clock.now(),
        )
        # Submitted or approved content that changes goes back to draft: the people who
        # submitted and approved it saw something else.
        await store.update_alert(
            conn,
            before.identifier,
            self._workflow.clock.now(),
            document=completed,
            editors=with_editor(before, ACTOR),
            state="draft",
            submitted_by=None,
            approved_by=None,
            comment="" if before.state == "draft" else "rewritten from a new reading",
        )
        return await self._workflow.record_transition(conn, ACTOR, "alert.edit", before)

    def _rule(self, rule: Rule) -> AutoRuleConfig:
        return {"river": self._config.river, "rain": self._config.rain, "wind": self._config.wind}[
            rule
        ]

    def _texts(
        self, event: ThresholdEvent, situation: RiverSituation, area: Area
    ) -> tuple[Template, tuple[Info, ...]]:
        parameters = self._parameters(event)
        station = event.station_name or event.station_id
        if event.kind == EventKind.river_band:
            thresholds = event.thresholds
            facts = RiverFacts(
                station=station,
                river=event.river,
                level=event.value,
                band=event.to_level,
                thresholds=thresholds.levels()[:3] if thresholds is not None else (),
                observed_at=event.observed_at,
                area=area.description,
                contact=self._config.contact,
            )
            band = min(max(event.to_level, 1), 3)
            template = TEMPLATES[
                "all_clear" if situation == "passed" else f"river_flood_{'i' * band}"
            ]
            texts = river_texts(situation, facts)
            return template, compose_texts(template, texts, (area,), parameters)
        template = self._template(event, situation)
        values = self._values(event, station, area.description)
        return template, compose(template, values, (area,), parameters)

    def _template(self, event: ThresholdEvent, situation: RiverSituation) -> Template:
        if situation == "passed":
            return TEMPLATES["all_clear"]
        if event.kind == EventKind.intense_rain:
            return TEMPLATES["intense_rain"]
        if event.kind == EventKind.rain:
            return TEMPLATES["heavy_rain"]
        return TEMPLATES["storm"]

    def _values(self, event: ThresholdEvent, station: str, area: str) -> dict[str, dict[str, str]]:
        values: dict[str, dict[str, str]] = {}
        hazard = "rain" if event.kind in (EventKind.rain, EventKind.intense_rain) else "wind"
        for language in ("vi-VN", "en-US"):
            own = {
                "station": station,
                "amount": number(event.value, language),
                "trend": TREND[language]["up" if event.direction == "up" else "down"],
                "time": local_time(event.observed_at, language),
                "area": area,
                "contact": self._config.contact,
                "cap_gio": str(cap_gio(event.value)),
                "speed": number(event.value, language),
                "wind_class": wind_class(cap_gio(event.value), language),
                "hazard": HAZARD[language][hazard],
            }
            own["details"] = fill_text(ALL_CLEAR_DETAILS[language][hazard], own)
            values[language] = own
        return values

    def _parameters(self, event: ThresholdEvent) -> tuple[Parameter, ...]:
        parameters = [Parameter(PARAM_STATIONS, event.station_id)]
        if event.kind == EventKind.river_band and event.to_level >= 1:
            parameters.append(Parameter(PARAM_BAO_DONG, BANDS[event.to_level]))
        return tuple(parameters)


def _classify(event: ThresholdEvent) -> tuple[Rule | None, str, int]:
    """The rule an event falls under, the hazard it concerns, and the level drafts start at."""
    if event.kind == EventKind.river_band:
        return "river", f"river:{event.station_id}", RIVER_DRAFT_BAND
    if event.kind in (EventKind.rain, EventKind.intense_rain):
        level = RAIN_DRAFT_LEVEL if event.kind == EventKind.rain else 1
        return "rain", f"{event.kind.value}:{event.station_id}", level
    if event.kind in (EventKind.wind, EventKind.gust):
        return "wind", f"wind:{event.station_id}", WIND_DRAFT_LEVEL
    return None, "", 0


def _start(key: str | None, event: ThresholdEvent, draft_level: int) -> Start:
    """What started the chain, from the stored key of its first event; a chain whose start is
    not known (drafted before keys were kept with it) started at the drafting level."""
    found = _EVENT_KEY.search(key or "")
    if found is None:
        return Start(event.kind.value, draft_level)
    return Start(found["kind"], max(int(found["to"]), draft_level))


def _kind_name(event: ThresholdEvent) -> str:
    return {
        EventKind.river_band: "The river level",
        EventKind.rain: "24-hour rain",
        EventKind.intense_rain: "3-hour rain",
        EventKind.wind: "Sustained wind",
        EventKind.gust: "Gusts",
    }[event.kind]


def _responses(alert: Alert) -> tuple[str, ...]:
    return tuple(r for info in alert.infos for r in info.response_types)
