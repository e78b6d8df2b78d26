"""Threshold events from feeds → pre-filled drafts for the wards configured for each station.

- A river entering BĐ II or III, mưa rất to, intense rain, or wind of a storm (cấp 8 and up)
  drafts a warning; while a warning on the same hazard (station and kind) is in force, a
  change becomes an Update draft of it, never a second warning beside it.
- A return below the drafting band while a warning is in force drafts an all-clear Update.
- A draft not yet submitted is rewritten instead of stacking a second one.
- Each event is handled once (its key is stored): a replayed or repeated event changes nothing.
- Per rule (river, rain, wind): draft only (default) or issue at once for named severities.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Literal

import aiosqlite
from aiohttp import web

from alerting import store
from alerting.delivery import ward_area
from alerting.errors import AlertingError, AlertNotFound
from alerting.models import PARAM_BAO_DONG, PARAM_STATIONS, Alert, Parameter
from alerting.templates import (
    ALL_CLEAR_RIVER,
    HAZARD,
    TEMPLATES,
    TREND,
    Template,
    compose,
    fill_text,
    local_time,
    number,
    wind_class,
)
from alerting.workflow import Workflow, with_editor
from canhbao.clock import utc_text
from canhbao.config import AlertingConfig, AutoRuleConfig, StationConfig
from feeds.levels import cap_gio
from feeds.thresholds import EventKind, ThresholdEvent

log = logging.getLogger(__name__)

ACTOR = "system:auto"
BANDS = {1: "I", 2: "II", 3: "III", 4: "III"}  # band 4 is above the historic flood: still III
RIVER_DRAFT_BAND = 2
RAIN_DRAFT_LEVEL = 3  # mưa rất to
WIND_DRAFT_LEVEL = 2  # bão: cấp 8 and up
Rule = Literal["river", "rain", "wind"]


class AutoDrafter:
    def __init__(
        self,
        workflow: Workflow,
        config: AlertingConfig,
        stations: dict[str, StationConfig],
        outline_max_points: int,
    ) -> None:
        self._workflow = workflow
        self._config = config
        self._stations = stations
        self._wards = {s.station_id: s for s in config.stations}
        self._max_points = outline_max_points

    async def on_event(self, event: ThresholdEvent) -> str | None:
        """Handle one threshold event; returns the identifier drafted or changed, if any."""
        wards = self._wards.get(event.station_id)
        station = self._stations.get(event.station_id)
        if wards is None or station is None:
            return None
        rule, hazard, active_level = _classify(event)
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
            pending = [a for a in live if a.state == "draft" and a.origin == "auto"]
            rising = event.to_level >= active_level
            if not rising and not issued and not pending:
                return None
            fanout = self._workflow.fanout
            directory = getattr(fanout, "directory", None)
            if directory is None:
                log.warning("no targeting: auto-draft skipped", extra={"station": station.id})
                return None
            try:
                area = ward_area(directory, wards.ward_codes, wards.area_desc, self._max_points)
            except KeyError as err:
                log.warning("auto-draft wards unknown", extra={"codes": str(err)})
                return None
            template = self._template(event, rising)
            alert = Alert(
                identifier="",
                sender="",
                sent=self._workflow.clock.now(),
                status=self._workflow.settings.status,
                msg_type="Alert",
                infos=compose(template, self._values(event, station, area.description, rising),
                              (area,), self._parameters(event)),
            )  # fmt: skip
            if pending:
                target = pending[-1]
                changed = replace(
                    alert, msg_type=target.alert.msg_type, references=target.alert.references
                )
                stored = await self._rewrite(conn, target.identifier, changed)
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
            extra={"identifier": stored.identifier, "station": station.id, "hazard": hazard},
        )
        return stored.identifier

    async def _rewrite(
        self, conn: aiosqlite.Connection, identifier: str, alert: Alert
    ) -> store.StoredAlert:
        before = await store.get_alert(conn, identifier)
        if before is None:
            raise AlertNotFound(identifier)
        completed = self._workflow.complete(
            replace(alert, identifier=identifier, sent=before.alert.sent),
            self._workflow.clock.now(),
        )
        await store.update_alert(
            conn,
            identifier,
            self._workflow.clock.now(),
            document=completed,
            editors=with_editor(before, ACTOR),
        )
        return await self._workflow.record_transition(conn, ACTOR, "alert.edit", before)

    def _rule(self, rule: Rule) -> AutoRuleConfig:
        return {"river": self._config.river, "rain": self._config.rain, "wind": self._config.wind}[
            rule
        ]

    def _template(self, event: ThresholdEvent, rising: bool) -> Template:
        if not rising:
            return TEMPLATES["all_clear"]
        if event.kind == EventKind.river_band:
            return TEMPLATES[f"river_flood_{BANDS[event.to_level].lower()}"]
        if event.kind == EventKind.intense_rain:
            return TEMPLATES["intense_rain"]
        if event.kind == EventKind.rain:
            return TEMPLATES["heavy_rain"]
        return TEMPLATES["storm"]

    def _values(
        self, event: ThresholdEvent, station: StationConfig, area: str, rising: bool
    ) -> dict[str, dict[str, str]]:
        values: dict[str, dict[str, str]] = {}
        band = BANDS.get(event.to_level if rising else max(event.from_level, 1), "I")
        thresholds = {"I": station.bao_dong1, "II": station.bao_dong2, "III": station.bao_dong3}
        limit = thresholds.get(band)
        for language in ("vi-VN", "en-US"):
            own = {
                "station": station.name,
                "river": station.river,
                "level": number(event.value, language),
                "amount": number(event.value, language),
                "band": band,
                "threshold": number(limit, language) if limit is not None else "",
                "trend": TREND[language]["up" if event.direction == "up" else "down"],
                "time": local_time(event.observed_at, language),
                "area": area,
                "contact": self._config.contact,
                "cap_gio": str(cap_gio(event.value)),
                "speed": number(event.value, language),
                "wind_class": wind_class(cap_gio(event.value), language),
                "hazard": HAZARD[language]["river" if event.kind == EventKind.river_band else
                                           "rain" if event.kind in (EventKind.rain,
                                                                    EventKind.intense_rain)
                                           else "wind"],
            }  # fmt: skip
            if event.kind == EventKind.river_band:
                own["details"] = fill_text(ALL_CLEAR_RIVER[language], own)
            else:
                own["details"] = own["hazard"] + "."
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


def _responses(alert: Alert) -> tuple[str, ...]:
    return tuple(r for info in alert.infos for r in info.response_types)


# The running auto-drafter (alerting's context sets it; canhbao.app subscribes it to threshold
# events in the durable event log).
AUTO_DRAFTER = web.AppKey("alerting_auto_drafter", AutoDrafter)
