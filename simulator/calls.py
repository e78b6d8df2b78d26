"""Simulated calls and texts into the hotline, through our own Twilio webhooks as Twilio makes them.

A call is started by requesting /twilio/voice with the form Twilio sends (CallSid, From, To,
CallStatus, Direction, ...) signed with the hotline's auth token; the TwiML answered is run as
Twilio runs it (simulator.twiml) until the call waits for the caller (a <Gather>, a <Record>,
the queue's wait music) or ends. Keys pressed go to the <Gather>'s action; nothing pressed goes
on to the next verb, as Twilio does after the gather's timeout. A <Record> is answered as
"nothing recorded" (the simulator has no microphone): Twilio then skips its action and goes on.
A hang-up is told to the webhooks as Twilio tells it: the queue's action with
QueueResult=hangup if the caller was queued, then the status callback (completed, duration).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from canhbao.clock import Clock
from simulator.errors import CallOver, UnknownCall, WebhookFailed
from simulator.ports import Webhooks
from simulator.twiml import Verb, read

ACCOUNT_SID = "AC" + "0" * 32  # the Local account
# Calls kept in memory (the newest); an older sid is forgotten.
MAX_CALLS = 500
# Documents followed in one turn before the simulator calls it a loop.
MAX_HOPS = 25

Expects = Literal["digits", "speech", "digits_or_speech", "recording", "none"]


@dataclass
class SimulatedCall:
    sid: str
    caller: str
    started_at: datetime
    status: str = "ringing"
    heard: list[str] = field(default_factory=list)
    waiting: Verb | None = None
    rest: list[Verb] = field(default_factory=list)
    queue: Verb | None = None
    queued_at: datetime | None = None
    position: int | None = None
    dialed: list[str] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.status == "completed"


@dataclass(frozen=True)
class Turn:
    """What the caller heard since their last action, and what the call waits for now."""

    call_sid: str
    status: str
    prompts: tuple[str, ...]
    expects: Expects
    queue_position: int | None
    wait_s: float | None
    dialed: tuple[str, ...]


class CallSimulator:
    """The simulated calls of this process (in memory: a simulator, not a call log)."""

    def __init__(self, clock: Clock, base_url: str, hotline: str) -> None:
        self._clock = clock
        self._base = base_url.rstrip("/")
        self._hotline = hotline
        self._calls: OrderedDict[str, SimulatedCall] = OrderedDict()

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def hotline(self) -> str:
        return self._hotline

    # -- the caller's actions -------------------------------------------------------------

    async def start(self, caller: str, webhooks: Webhooks) -> Turn:
        call = SimulatedCall("CA" + uuid.uuid4().hex, caller, self._clock.now())
        self._calls[call.sid] = call
        while len(self._calls) > MAX_CALLS:
            self._calls.popitem(last=False)
        verbs = await self._request(webhooks, call, self._base + "/twilio/voice", {})
        call.status = "in-progress"
        return await self._run(webhooks, call, verbs)

    async def press(self, sid: str, digits: str, speech: str, webhooks: Webhooks) -> Turn:
        """Keys (or words) for what the call waits on; neither: the caller stays silent."""
        call = self._live(sid)
        waiting, rest = call.waiting, call.rest
        call.waiting, call.rest = None, []
        if waiting is None:
            return await self._run(webhooks, call, [])
        if waiting.kind == "gather" and (digits or speech):
            form = {"Digits": digits} if digits else {"SpeechResult": speech, "Confidence": "0.9"}
            action = waiting.action or self._base + "/twilio/voice"
            verbs = await self._request(webhooks, call, action, form)
            return await self._run(webhooks, call, verbs)
        # Silence after a <Gather>, or the end of a <Record> with nothing recorded: Twilio goes
        # on with the verbs after it.
        return await self._run(webhooks, call, rest)

    async def hang_up(self, sid: str, webhooks: Webhooks) -> Turn:
        call = self._live(sid)
        if call.queue is not None and call.queue.action:
            queue = call.queue
            call.queue = None
            fields = {"QueueResult": "hangup", **self._queue_fields(call)}
            await self._request(webhooks, call, queue.action or "", fields)
        await self._end(webhooks, call)
        return self._turn(call, [])

    def get(self, sid: str) -> SimulatedCall:
        call = self._calls.get(sid)
        if call is None:
            raise UnknownCall(f"no simulated call {sid}")
        return call

    # -- running TwiML -----------------------------------------------------------------------

    async def _run(self, webhooks: Webhooks, call: SimulatedCall, verbs: list[Verb]) -> Turn:
        prompts: list[str] = []
        hops = 0
        while True:
            if not verbs:
                if call.queue is not None:
                    # The wait music ran out: Twilio plays the wait URL again, later.
                    return self._turn(call, prompts)
                await self._end(webhooks, call)
                return self._turn(call, prompts)
            verb, verbs = verbs[0], verbs[1:]
            if verb.kind in ("say", "gather"):
                prompts.extend(verb.texts)
                call.heard.extend(verb.texts)
            if verb.kind in ("gather", "record"):
                call.waiting, call.rest = verb, verbs
                return self._turn(call, prompts)
            follow: tuple[str, Mapping[str, str]] | None = None
            if verb.kind == "redirect":
                follow = (verb.action or "", {})
            elif verb.kind == "enqueue":
                call.queue, call.queued_at = verb, self._clock.now()
                call.position = 1 + sum(
                    1
                    for other in self._calls.values()
                    if other.queue is not None and other is not call
                )
                follow = (verb.wait_url or "", self._queue_fields(call))
            elif verb.kind == "leave" and call.queue is not None:
                queue = call.queue
                call.queue, call.position = None, None
                follow = (queue.action or "", {"QueueResult": "leave", **self._queue_fields(call)})
            elif verb.kind == "dial":
                # The far end is outside the simulator: the dialled party does not answer.
                call.dialed.append(verb.target or verb.queue or "")
                if verb.action:
                    follow = (verb.action, {"DialCallStatus": "no-answer"})
            elif verb.kind == "hangup":
                await self._end(webhooks, call)
                return self._turn(call, prompts)
            if follow is not None:
                hops += 1
                if hops > MAX_HOPS:
                    raise WebhookFailed(f"more than {MAX_HOPS} documents in one turn: a loop?")
                verbs = await self._request(webhooks, call, *follow)

    async def _request(
        self, webhooks: Webhooks, call: SimulatedCall, url: str, extra: Mapping[str, str]
    ) -> list[Verb]:
        if not url.startswith(self._base + "/"):
            raise WebhookFailed(f"TwiML sends the call outside this service: {url[:200]}")
        form = {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Called": self._hotline,
            "Caller": call.caller,
            "Direction": "inbound",
            "From": call.caller,
            "To": self._hotline,
            **extra,
        }
        answer = await webhooks.post(url, form)
        if answer.status != 200:
            raise WebhookFailed(f"{url} answered {answer.status}: {answer.body[:200]}")
        return read(answer.body) if answer.body.strip() else []

    async def _end(self, webhooks: Webhooks, call: SimulatedCall) -> None:
        if call.ended:
            return
        call.waiting, call.rest, call.queue, call.position = None, [], None, None
        call.status = "completed"
        duration = int((self._clock.now() - call.started_at).total_seconds())
        answer = await webhooks.post(
            self._base + "/twilio/status",
            {
                "AccountSid": ACCOUNT_SID,
                "ApiVersion": "2010-04-01",
                "CallSid": call.sid,
                "CallStatus": "completed",
                "CallDuration": str(max(duration, 0)),
                "Direction": "inbound",
                "From": call.caller,
                "To": self._hotline,
            },
        )
        if answer.status >= 300:
            raise WebhookFailed(f"/twilio/status answered {answer.status}: {answer.body[:200]}")

    def _queue_fields(self, call: SimulatedCall) -> dict[str, str]:
        waited = 0
        if call.queued_at is not None:
            waited = int((self._clock.now() - call.queued_at).total_seconds())
        queued = sum(1 for other in self._calls.values() if other.queue is not None)
        return {
            "QueueSid": "QU" + "0" * 32,
            "QueuePosition": str(call.position or 1),
            "QueueTime": str(max(waited, 0)),
            "AvgQueueTime": str(max(waited, 0)),
            "CurrentQueueSize": str(max(queued, 1)),
        }

    def _live(self, sid: str) -> SimulatedCall:
        call = self.get(sid)
        if call.ended:
            raise CallOver(f"call {sid} has ended")
        return call

    def _turn(self, call: SimulatedCall, prompts: list[str]) -> Turn:
        waiting = call.waiting
        expects: Expects = "none"
        if waiting is not None and waiting.kind == "record":
            expects = "recording"
        elif waiting is not None:
            kinds = set(waiting.input.split())
            expects = (
                "digits_or_speech"
                if kinds >= {"dtmf", "speech"}
                else "speech"
                if "speech" in kinds
                else "digits"
            )
        wait_s = None
        if call.queue is not None and call.queued_at is not None:
            wait_s = (self._clock.now() - call.queued_at).total_seconds()
        return Turn(
            call.sid,
            "queued" if call.queue is not None else call.status,
            tuple(prompts),
            expects,
            call.position if call.queue is not None else None,
            wait_s,
            tuple(call.dialed),
        )


async def text_hotline(
    webhooks: Webhooks, base_url: str, hotline: str, sender: str, body: str
) -> tuple[str, list[str]]:
    """An SMS into /twilio/sms as Twilio sends it; its sid and the texts answered."""
    sid = "SM" + uuid.uuid4().hex
    answer = await webhooks.post(
        base_url.rstrip("/") + "/twilio/sms",
        {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": sender,
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": hotline,
        },
    )
    if answer.status != 200:
        raise WebhookFailed(f"/twilio/sms answered {answer.status}: {answer.body[:200]}")
    verbs = read(answer.body) if answer.body.strip() else []
    return sid, [text for verb in verbs if verb.kind == "sms" for text in verb.texts]
