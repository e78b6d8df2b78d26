"""An exercise's driver: plays a scenario against the service on the run's scaled clock — the
recorded readings at their hours, the simulated callers through the voice menu, SMS SOS, and
the simulated rescue teams answering offers by SMS keywords after their delay (some never).

It knows the service only through exercises.ports.Service; canhbao.adapters.exercise_mode
builds the service, its isolated database and config, and serves it while this plays.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, TypeVar

from exercises.errors import ExerciseError
from exercises.models import MAX_SPEED, ReplayPoint, Scenario, Team
from exercises.population import Person
from exercises.ports import CallState, ExerciseClock, Service, TeamMessage
from exercises.traffic import Contact

log = logging.getLogger(__name__)
T = TypeVar("T")

State = Literal["starting", "running", "paused", "stopped", "ended", "failed"]
# How often simulated teams read their SMS, in flood time.
TEAM_POLL = timedelta(seconds=15)
# A caller who gets what they called for hangs up after this long (information, a rescue
# recorded); one who hangs up in the queue does so after a random share of their patience.
LISTEN = timedelta(seconds=40)
ON_SCENE_WORK = timedelta(minutes=25)  # from on scene to done
MAX_TURNS = 12  # menu turns before a simulated caller gives up
_OFFER = re.compile(r"NHAN\s+([0-9]{1,12})")
_MAP = re.compile(r"q=(-?[0-9]+\.[0-9]+),(-?[0-9]+\.[0-9]+)")
_MENU = {"rescue": "1", "information": "2", "operator": "3", "hang_up": "3"}
_VULNERABLE_KEYS = {"injured": "1", "elderly": "2", "child": "3", "disabled": "4"}


@dataclass
class Progress:
    """What the run has done so far (the API's and the CLI's view of it)."""

    state: State = "starting"
    readings: int = 0
    enrolled: int = 0
    calls: int = 0
    calls_failed: int = 0
    sms: int = 0
    hung_up_in_queue: int = 0
    offers_seen: int = 0
    team_answers: dict[str, int] = field(default_factory=dict)
    error: str = ""

    def counted(self, key: str) -> None:
        self.team_answers[key] = self.team_answers.get(key, 0) + 1


class ExerciseRunner:
    """One run of a scenario; `run()` plays it to its end or until `stop()`."""

    def __init__(
        self,
        scenario: Scenario,
        people: Sequence[Person],
        contacts: Sequence[Contact],
        service: Service,
        clock: ExerciseClock,
        *,
        ward_names: dict[str, str] | None = None,
    ) -> None:
        self.scenario = scenario
        self.people = people
        self.contacts = contacts
        self.service = service
        self.clock = clock
        self.progress = Progress()
        self._ward_names = ward_names or {}
        self._rng = random.Random(scenario.seed + 2)  # noqa: S311  # a seeded simulation
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._stopped = asyncio.Event()
        self._team_phones: dict[str, Team] = {}
        self._people = {person.phone: person for person in people if person.kind == "device"}

    # -- control -------------------------------------------------------------------------------

    def pause(self) -> None:
        if self.progress.state == "running":
            self.clock.pause()
            self.progress.state = "paused"

    def resume(self) -> None:
        if self.progress.state == "paused":
            self.clock.resume()
            self.progress.state = "running"

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(speed)

    def stop(self) -> None:
        if self.progress.state in ("starting", "running", "paused"):
            self.progress.state = "stopped"
        self._stopped.set()

    @property
    def over(self) -> bool:
        return self.progress.state in ("stopped", "ended", "failed")

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> Progress:
        """Play the scenario; returns when it ends, is stopped, or fails (state says which)."""
        play = asyncio.create_task(self._play())
        stopped = asyncio.create_task(self._stopped.wait())
        try:
            await asyncio.wait({play, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # The flood stops with the run: staff review it (and approve, look back) as it was.
            self.clock.pause()
            for task in (play, stopped, *self._tasks):
                task.cancel()
            await asyncio.gather(play, stopped, *self._tasks, return_exceptions=True)
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if play.done() and not play.cancelled() and play.exception() is not None:
            error = play.exception()
            self.progress.state = "failed"
            self.progress.error = f"{type(error).__name__}: {error}"
            log.error("exercise failed", extra={"error": self.progress.error})
        elif not self.over:
            self.progress.state = "ended"
        return self.progress

    async def _play(self) -> None:
        scenario = self.scenario
        self.progress.enrolled = await self._call(self.service.enrol(self.people))
        phones = await self._call(self.service.add_teams(scenario.teams))
        self._team_phones = {phones[team.id]: team for team in scenario.teams if team.id in phones}
        if self.progress.state == "starting":
            self.progress.state = "running"
            self.clock.resume()  # flood time starts now (the clock is made paused)
        log.info(
            "exercise running",
            extra={"exercise": scenario.name, "speed": self.clock.speed},
        )
        self._spawn(self._teams())
        readings = asyncio.create_task(self._readings())
        self._tasks.add(readings)
        for contact in self.contacts:
            if contact.at < scenario.start:
                continue
            await self.clock.sleep_until(contact.at)
            if contact.at > scenario.end:
                break
            self._spawn(self._contact(contact))
        await self.clock.sleep_until(scenario.end)
        # Calls still going at the end are cut off with it (run() cancels them).

    async def _call(self, work: Coroutine[Any, Any, T]) -> T:
        """One call into the service, run to its end even if the run is stopped meanwhile: a
        cancel landing inside a database transaction would leave the service's one writer
        connection inside it. run() waits for these before it returns."""
        task = asyncio.create_task(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # One simulated person's failure is counted, not the run's end.
            self.progress.calls_failed += 1
            log.warning("simulated contact failed", extra={"error": str(task.exception())})

    async def _readings(self) -> None:
        """Readings up to the start at once (the river's history), then each at its time."""
        points = sorted(
            (p for replay in self.scenario.replays for p in replay.points),
            key=lambda p: p.observed_at,
        )
        batch: list[ReplayPoint] = []
        for point in points:
            if point.observed_at > self.scenario.end:
                break
            if batch and point.observed_at > batch[-1].observed_at:
                await self._ingest(batch)
                batch = []
            if point.observed_at > self.scenario.start:
                await self.clock.sleep_until(point.observed_at)
            batch.append(point)
        if batch:
            await self._ingest(batch)

    async def _ingest(self, batch: Sequence[ReplayPoint]) -> None:
        self.progress.readings += await self._call(self.service.ingest(batch))

    # -- callers -------------------------------------------------------------------------------

    async def _contact(self, contact: Contact) -> None:
        if contact.kind == "sms":
            await self._call(self.service.text(contact.phone, contact.text or "Cứu với"))
            self.progress.sms += 1
            return
        person = self._people.get(contact.phone)
        if person is not None and contact.behaviour == "rescue":
            await self._call(self.service.locate(person))  # the app reports where its owner is
        state = await self._call(self._dial(contact.phone))
        for turn in range(MAX_TURNS):
            if state.status == "completed":
                return
            if state.queued:
                await self._wait_in_queue(contact, state)
                return
            if state.expects == "none":
                break
            digits, speech = self._reply(contact, state, first=turn == 0)
            state = await self._call(self.service.press(state.sid, digits, speech))
        await self._after(LISTEN)
        if (await self._call(self.service.state(state.sid))).status != "completed":
            await self._call(self.service.hang_up(state.sid))

    async def _dial(self, phone: str) -> CallState:
        state = await self.service.call(phone)
        self.progress.calls += 1  # counted with the call, even if the run stops meanwhile
        return state

    def _reply(self, contact: Contact, state: CallState, *, first: bool) -> tuple[str, str]:
        """What the caller presses (or says) to what they just heard."""
        heard = " ".join(state.prompts)
        if first or ("bấm phím 3" in heard and "bấm phím 1" in heard and "cứu hộ" in heard):
            return _MENU[contact.behaviour], ""
        if "Nếu quý vị đang ở đó" in heard:
            return "1", ""
        if "Có bao nhiêu người" in heard:
            return f"{contact.people}#", ""
        if "bị thương" in heard:
            keys = "".join(_VULNERABLE_KEYS[v] for v in contact.vulnerable if v in _VULNERABLE_KEYS)
            return f"{keys}#", ""
        if state.expects in ("speech", "digits_or_speech", "recording"):
            ward = self._ward_names.get(contact.ward, contact.ward)
            return "#", f"Nhà tôi ở {ward}, nước ngập tới mái"
        return "#", ""

    async def _wait_in_queue(self, contact: Contact, state: CallState) -> None:
        patience = timedelta(seconds=self.scenario.calls.patience_s)
        if contact.behaviour == "hang_up":
            patience *= self._rng.uniform(0.1, 0.6)
        # Staff may answer it meanwhile (the call leaves the queue): then it is theirs to end.
        await self._after(patience)
        current = await self._call(self.service.state(state.sid))
        if current.status == "completed":
            return
        if current.queued:
            await self._call(self.service.hang_up(state.sid))
            self.progress.hung_up_in_queue += 1
            return
        await self._after(LISTEN)  # an operator answered: they talk, then the caller hangs up
        if (await self._call(self.service.state(state.sid))).status != "completed":
            await self._call(self.service.hang_up(state.sid))

    async def _after(self, span: timedelta) -> None:
        await self.clock.sleep_until(self.clock.now() + span)

    # -- teams ---------------------------------------------------------------------------------

    async def _teams(self) -> None:
        """Each simulated team reads its SMS and answers offers after its delay (or never),
        declines its share, then reports on scene and done after its travel and work."""
        last = 0
        answered: set[tuple[str, str]] = set()
        while True:
            for message in await self._call(self.service.team_messages(last)):
                last = max(last, message.id)
                team = self._team_phones.get(message.phone)
                match = _OFFER.search(message.body)
                if team is None or match is None:
                    continue
                key = (team.id, match.group(1))
                if key in answered:
                    continue  # a reminder of an offer already being answered
                answered.add(key)
                self.progress.offers_seen += 1
                self._spawn(self._answer(team, message, match.group(1)))
            await self._after(TEAM_POLL)

    async def _answer(self, team: Team, message: TeamMessage, number: str) -> None:
        if team.answers_after_s is None:
            self.progress.counted("ignored")
            return
        await self._after(timedelta(seconds=team.answers_after_s))
        if self._rng.random() < team.declines:
            await self._call(self.service.text(message.phone, f"KHONG {number}"))
            self.progress.counted("declined")
            return
        await self._call(self.service.text(message.phone, f"NHAN {number}"))
        self.progress.counted("accepted")
        await self._after(_travel(team, message.body))
        await self._call(self.service.text(message.phone, f"DEN {number}"))
        self.progress.counted("on_scene")
        await self._after(ON_SCENE_WORK)
        await self._call(self.service.text(message.phone, f"XONG {number}"))
        self.progress.counted("done")


def _travel(team: Team, offer: str) -> timedelta:
    """From the team's base to the map point in the offer at the team's speed (30 min if the
    offer gives no point)."""
    found = _MAP.search(offer)
    if found is None:
        return timedelta(minutes=30)
    lat, lon = float(found.group(1)), float(found.group(2))
    km = _km(team.lat, team.lon, lat, lon)
    return timedelta(hours=km / max(team.travel_kmh, 1.0)) + timedelta(minutes=5)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def check_speed(speed: float) -> float:
    """A speed the run accepts (the scenario's own is checked as it is read)."""
    if not math.isfinite(speed) or speed <= 0 or speed > MAX_SPEED:
        raise ExerciseError(f"speed {speed:g}: must be over 0 and at most {MAX_SPEED:g}")
    return speed
