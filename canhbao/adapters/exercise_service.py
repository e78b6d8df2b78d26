"""exercises.ports.Service over a running exercise app, each through the service's own path:
readings through feeds' ingestion pipeline, devices through geofences' registration, the
audience through alerting's test audience, calls and SMS through the simulator's signed
webhooks, what teams were sent from the Local telephony's record."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from alerting.audience import TestAudience
from canhbao import keys
from canhbao.adapters.simulator import SignedWebhooks
from dispatch.teams import Member, TeamDraft
from dispatch.teams_keys import DISPATCH_TEAMS
from exercises.models import ReplayPoint, Team
from exercises.population import Person
from exercises.ports import CallState, TeamMessage
from feeds.keys import FEEDS
from feeds.models import FetchResult, Observation, Parameter
from feeds.sources import INGEST
from geofences.keys import GEOFENCES
from geofences.models import parse_registration, parse_update
from hotline.signature import webhook_auth_token
from notify.local import list_local_messages
from simulator.calls import CallSimulator, Turn, text_hotline
from simulator.routes import CALLS

ACTOR = "exercise:driver"
PAGE = 500


def device_token(exercise: str, person: Person) -> str:
    """A simulated device's push token: never a real FCM token (Local push delivers it)."""
    return f"exercise:{exercise}:{person.id}"


class LocalExerciseService:
    """The service an exercise drives, in this process; `local_url` is where it listens."""

    def __init__(self, app: web.Application, exercise: str, local_url: str) -> None:
        self._app = app
        self._exercise = exercise
        self._local = local_url.rstrip("/")
        self._devices: dict[str, tuple[str, str]] = {}  # person id → (device id, its secret)

    def _webhooks(self) -> SignedWebhooks:
        config = self._app[keys.CONFIG]
        return SignedWebhooks(
            self._app[keys.HTTP],
            webhook_auth_token(config),
            config.server.public_base_url,
            self._local,
        )

    @property
    def _calls(self) -> CallSimulator:
        return self._app[CALLS]

    async def enrol(self, people: Sequence[Person]) -> int:
        app = self._app
        registry = app[GEOFENCES]
        audience = TestAudience(app[keys.DB], app[keys.CLOCK])
        enrolled = 0
        for person in people:
            if person.kind == "device":
                token = device_token(self._exercise, person)
                registration = parse_registration(
                    {
                        "token": token,
                        "platform": "android",
                        "language": person.language,
                        "phone": person.phone,
                        "location": {"lat": person.lat, "lon": person.lon},
                    },
                    app[keys.CLOCK].now(),
                    registry.settings.max_subscriptions,
                )
                device, secret = await registry.register(registration)
                self._devices[person.id] = (device.public_id, secret)
                await audience.enrol(
                    "device", token, ACTOR, language=person.language, label=person.id
                )
            else:
                await audience.enrol(
                    "phone", person.phone, ACTOR, language=person.language, label=person.id
                )
            enrolled += 1
        return enrolled

    async def add_teams(self, teams: Sequence[Team]) -> dict[str, str]:
        registry = self._app[DISPATCH_TEAMS]
        phones: dict[str, str] = {}
        for n, team in enumerate(teams):
            phone = f"+8498{n:07d}"
            await registry.create(
                TeamDraft(
                    name=team.name,
                    base_lat=team.lat,
                    base_lon=team.lon,
                    capabilities=frozenset(team.capabilities),
                    capacity=team.capacity,
                    members=(Member(f"Trưởng nhóm {team.name}", phone),),
                ),
                actor=ACTOR,
            )
            phones[team.id] = phone
        return phones

    async def ingest(self, points: Sequence[ReplayPoint]) -> int:
        observations = tuple(
            Observation(p.station_id, Parameter(p.parameter), p.observed_at, p.value)
            for p in points
        )
        report = await self._app[FEEDS].pipeline.ingest(
            INGEST, FetchResult(observations=observations), by_station_id=True
        )
        return report.accepted

    async def locate(self, person: Person) -> None:
        known = self._devices.get(person.id)
        if known is None:
            return
        registry = self._app[GEOFENCES]
        change = parse_update(
            {"location": {"lat": person.lat, "lon": person.lon}},
            self._app[keys.CLOCK].now(),
            registry.settings.max_subscriptions,
        )
        await registry.update(known[0], known[1], change)

    async def call(self, caller: str) -> CallState:
        return _state(await self._calls.start(caller, self._webhooks()))

    async def press(self, sid: str, digits: str, speech: str = "") -> CallState:
        return _state(await self._calls.press(sid, digits, speech, self._webhooks()))

    async def hang_up(self, sid: str) -> CallState:
        return _state(await self._calls.hang_up(sid, self._webhooks()))

    async def state(self, sid: str) -> CallState:
        call = self._calls.get(sid)
        return CallState(
            call.sid,
            call.status,
            "none" if call.waiting is None else "digits",
            call.queue is not None and call.status != "completed",
        )

    async def text(self, sender: str, body: str) -> None:
        calls = self._calls
        await text_hotline(self._webhooks(), calls.base_url, calls.hotline, sender, body)

    async def team_messages(self, after_id: int) -> list[TeamMessage]:
        found: list[TeamMessage] = []
        before: int | None = None
        while True:
            rows = await list_local_messages(
                self._app[keys.DB], channel="sms", limit=PAGE, before_id=before
            )
            fresh = [row for row in rows if int(row["id"]) > after_id]
            found.extend(
                TeamMessage(int(row["id"]), str(row["target"]), str(row["body"].get("body", "")))
                for row in fresh
            )
            if len(fresh) < PAGE or not rows:
                break
            before = int(rows[-1]["id"])
        found.sort(key=lambda message: message.id)
        return found


def _state(turn: Turn) -> CallState:
    return CallState(
        turn.call_sid, turn.status, turn.expects, turn.queue_position is not None, turn.prompts
    )
