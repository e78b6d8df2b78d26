"""A Twilio call simulator: plays Twilio's part against the real app, through signed webhooks.

It signs every request with twilio's own RequestValidator over the public URL, follows the
TwiML it gets back (Say, Pause, Gather with digits or speech, Record, Redirect, Enqueue with its
wait loop and Leave, Dial with Queue or Number, Hangup), keeps Twilio's queues, bridges an
operator's <Dial><Queue> to the first waiting caller, and sends the status callbacks Twilio
would. Outbound calls are the ones the app placed through the real twilio library on the
Twilio double; the simulator answers them (as a person or a machine), or lets them ring out.

Time is the test's ManualClock: a lap of a queue's wait loop is `await call.wait(seconds)`.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections import defaultdict
from datetime import datetime
from email.utils import format_datetime
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from canhbao.clock import ManualClock
from hotline.keys import HOTLINE
from tests.doubles.twilio import ACCOUNT_SID, TwilioDouble

SignatureMode = Literal["good", "missing", "forged", "wrong-url"]
VI_VOICES = ("Google.vi-VN-Standard-", "Google.vi-VN-Wavenet-")


class TwilioSimulator:
    def __init__(
        self,
        client: TestClient[web.Request, web.Application],
        *,
        public_base_url: str,
        auth_token: str,
        hotline_number: str,
        clock: ManualClock,
        double: TwilioDouble | None = None,
    ) -> None:
        self.client = client
        self.base = public_base_url.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.hotline_number = hotline_number
        self.clock = clock
        self.double = double
        self.queues: dict[str, list[SimCall]] = defaultdict(list)
        self.calls: dict[str, SimCall] = {}
        self.requests: list[tuple[str, dict[str, str], int]] = []
        self._seen_outbound = 0

    # --- the wire --------------------------------------------------------------------------

    async def post(
        self, url: str, params: dict[str, str], *, signature: SignatureMode = "good"
    ) -> tuple[int, str]:
        """POST a webhook as Twilio would; returns (status, body) once the app's background
        work from it has finished."""
        assert url.startswith(self.base), f"TwiML sent Twilio outside the public URL: {url}"
        path = url[len(self.base) :]
        headers: dict[str, str] = {}
        if signature == "good":
            headers["X-Twilio-Signature"] = self.validator.compute_signature(url, params)
        elif signature == "forged":
            headers["X-Twilio-Signature"] = RequestValidator("not-the-token").compute_signature(
                url, params
            )
        elif signature == "wrong-url":
            # Signed for the URL the app sees behind the proxy, not the public one.
            seen = str(self.client.make_url(path))
            headers["X-Twilio-Signature"] = self.validator.compute_signature(seen, params)
        response = await self.client.post(path, data=params, headers=headers)
        body = await response.text()
        self.requests.append((path, params, response.status))
        app = self.client.app
        assert app is not None
        await app[HOTLINE].drain()
        return response.status, body

    # --- calls -----------------------------------------------------------------------------

    async def incoming(self, caller: str, *, sid: str | None = None) -> SimCall:
        """A person dials 1900 1075."""
        call = SimCall(self, sid or _sid("CA"), caller, self.hotline_number, "inbound")
        self.calls[call.sid] = call
        call.state = "running"
        await call.run(await call.fetch(f"{self.base}/twilio/voice"))
        return call

    def placed_calls(self) -> list[SimCall]:
        """Calls the app placed through the Twilio double since the last look."""
        assert self.double is not None
        fresh = self.double.calls[self._seen_outbound :]
        self._seen_outbound = len(self.double.calls)
        found = []
        for resource in fresh:
            params = self.double.params[resource["sid"]]
            call = SimCall(
                self,
                resource["sid"],
                resource["from"],
                resource["to"],
                "outbound-api",
                answer_url=params.get("Url"),
                status_callback=params.get("StatusCallback"),
                machine_detection=params.get("MachineDetection") == "Enable",
            )
            self.calls[call.sid] = call
            found.append(call)
        return found

    async def sms(self, sender: str, body: str, *, sid: str | None = None) -> tuple[int, str]:
        params = {
            "MessageSid": sid or _sid("SM"),
            "SmsSid": sid or _sid("SM"),
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": self.hotline_number,
            "Body": body,
            "NumMedia": "0",
        }
        return await self.post(f"{self.base}/twilio/sms", params)


class SimCall:
    """One call leg as Twilio sees it."""

    def __init__(
        self,
        sim: TwilioSimulator,
        sid: str,
        caller: str,
        callee: str,
        direction: str,
        *,
        answer_url: str | None = None,
        status_callback: str | None = None,
        machine_detection: bool = False,
    ) -> None:
        self.sim = sim
        self.sid = sid
        self.caller = caller
        self.callee = callee
        self.direction = direction
        self.answer_url = answer_url
        self.status_callback = status_callback
        self.machine_detection = machine_detection
        self.answered_by: str | None = None
        self.said: list[str] = []
        self.state = "new"
        self.blocking: ET.Element | None = None
        self.in_wait = False
        self.rest: list[ET.Element] = []
        self.wait_rest: list[ET.Element] = []
        self.queue: str | None = None
        self.enqueue_verb: ET.Element | None = None
        self.enqueued_at: datetime | None = None
        self.partner: SimCall | None = None
        self.dial_verb: ET.Element | None = None
        self.dialed_numbers: list[str] = []
        self.sequence = -1
        self.started_at = sim.clock.now()
        self.answered_at: datetime | None = None
        self.recordings = 0
        self.queue_waited = 0

    @property
    def transcript(self) -> str:
        return " ".join(self.said)

    def params(self, **extra: str) -> dict[str, str]:
        status = "in-progress" if self.state != "ended" else "completed"
        base = {
            "CallSid": self.sid,
            "AccountSid": ACCOUNT_SID,
            "From": self.caller,
            "To": self.callee,
            "Direction": self.direction,
            "CallStatus": status,
            "ApiVersion": "2010-04-01",
        }
        if self.answered_by:
            base["AnsweredBy"] = self.answered_by
        return {**base, **extra}

    async def fetch(self, url: str, **extra: str) -> list[ET.Element]:
        status, body = await self.sim.post(url, self.params(**extra))
        assert status == 200, f"{url} answered {status}: {body}"
        root = ET.fromstring(body)  # noqa: S314  # our own app's TwiML, in a test
        assert root.tag == "Response", body
        return list(root)

    def _say(self, verb: ET.Element) -> None:
        assert verb.get("language") == "vi-VN", ET.tostring(verb)
        assert (verb.get("voice") or "").startswith(VI_VOICES), ET.tostring(verb)
        self.said.append((verb.text or "").strip())

    # --- the TwiML interpreter -------------------------------------------------------------

    async def run(self, verbs: list[ET.Element], *, wait: bool = False) -> None:
        verbs = list(verbs)
        while verbs and self.state != "ended":
            verb = verbs.pop(0)
            tag = verb.tag
            if tag == "Say":
                self._say(verb)
            elif tag == "Pause":
                continue
            elif tag == "Gather":
                for child in verb:
                    if child.tag == "Say":
                        self._say(child)
                self.blocking, self.in_wait = verb, wait
                if wait:
                    self.wait_rest = verbs
                else:
                    self.rest = verbs
                return
            elif tag == "Record":
                assert not wait, "Record is not allowed in a wait loop"
                self.blocking, self.in_wait, self.rest = verb, False, verbs
                return
            elif tag == "Redirect":
                verbs = await self.fetch((verb.text or "").strip())
            elif tag == "Enqueue":
                assert not wait
                await self._join(verb)
                return
            elif tag == "Leave":
                assert wait, "Leave only works in a wait loop"
                await self._leave("leave")
                return
            elif tag == "Dial":
                assert not wait
                await self._dial(verb, verbs)
                return
            elif tag == "Hangup":
                await self.end()
                return
            else:
                raise AssertionError(f"the simulator does not know <{tag}>")
        if not wait and self.state not in ("ended", "queued", "bridged"):
            await self.end()

    # --- what the person on the line does ---------------------------------------------------

    async def press(self, digits: str) -> None:
        gather = self._gather()
        assert "dtmf" in (gather.get("input") or "dtmf"), "this Gather takes speech only"
        action = gather.get("action")
        assert action
        self.blocking = None
        await self.run(await self.fetch(action, Digits=digits), wait=self.in_wait)

    async def speak(self, words: str) -> None:
        gather = self._gather()
        assert "speech" in (gather.get("input") or ""), "this Gather takes no speech"
        assert gather.get("language") == "vi-VN"
        action = gather.get("action")
        assert action
        self.blocking = None
        await self.run(
            await self.fetch(action, SpeechResult=words, Confidence="0.87"), wait=self.in_wait
        )

    async def silence(self) -> None:
        """The Gather (or Record) times out with nothing from the caller."""
        assert self.blocking is not None, "nothing is waiting for the caller"
        self.blocking = None
        if self.in_wait:
            await self.run(self.wait_rest, wait=True)
        else:
            await self.run(self.rest)

    async def record(self, seconds: int = 12) -> str:
        verb = self.blocking
        assert verb is not None, "no Record is running"
        assert verb.tag == "Record", "no Record is running"
        self.blocking = None
        self.recordings += 1
        recording_sid = _sid("RE")
        url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
        fields = {
            "RecordingSid": recording_sid,
            "RecordingUrl": url,
            "RecordingDuration": str(seconds),
            "Digits": "#",
        }
        status_url = verb.get("recordingStatusCallback")
        action = verb.get("action")
        assert action
        verbs = await self.fetch(action, **fields)
        if status_url:
            await self.sim.post(
                status_url,
                {
                    "AccountSid": ACCOUNT_SID,
                    "CallSid": self.sid,
                    "RecordingSid": recording_sid,
                    "RecordingUrl": url,
                    "RecordingStatus": "completed",
                    "RecordingDuration": str(seconds),
                    "RecordingChannels": "1",
                    "RecordingSource": "RecordVerb",
                },
            )
        await self.run(verbs)
        return url

    async def hang_up(self) -> None:
        await self.end()

    def _gather(self) -> ET.Element:
        heard = self.transcript[-200:]
        assert self.blocking is not None, f"nothing is waiting (state {self.state}): {heard}"
        assert self.blocking.tag == "Gather", f"no Gather is running: {heard}"
        return self.blocking

    # --- queues and bridges ----------------------------------------------------------------

    async def _join(self, verb: ET.Element) -> None:
        name = (verb.text or "").strip()
        self.queue, self.enqueue_verb = name, verb
        self.enqueued_at = self.sim.clock.now()
        self.state = "queued"
        self.sim.queues[name].append(self)
        await self._lap()

    def _queue_time(self) -> int:
        assert self.enqueued_at is not None
        return int((self.sim.clock.now() - self.enqueued_at).total_seconds())

    async def _lap(self) -> None:
        assert self.queue is not None
        assert self.enqueue_verb is not None
        members = self.sim.queues[self.queue]
        wait_url = self.enqueue_verb.get("waitUrl")
        assert wait_url
        verbs = await self.fetch(
            wait_url,
            QueueSid="QU" + self.queue,
            QueuePosition=str(members.index(self) + 1),
            QueueTime=str(self._queue_time()),
            AvgQueueTime="0",
            CurrentQueueSize=str(len(members)),
        )
        await self.run(verbs, wait=True)

    async def wait(self, seconds: float) -> None:
        """Time passes in the queue; then the wait loop runs its next lap."""
        assert self.state == "queued", f"not in a queue (state {self.state})"
        from datetime import timedelta

        self.sim.clock.advance(timedelta(seconds=seconds))
        self.blocking = None
        await self._lap()

    async def _leave(self, result: str, *, run: bool = True) -> None:
        assert self.queue is not None
        assert self.enqueue_verb is not None
        self.sim.queues[self.queue].remove(self)
        waited = self._queue_time()
        self.queue = None
        self.blocking = None
        self.state = "running"
        action = self.enqueue_verb.get("action")
        if action is None:
            return
        verbs = await self.fetch(action, QueueResult=result, QueueTime=str(waited))
        if run:
            await self.run(verbs)

    async def _dial(self, verb: ET.Element, rest: list[ET.Element]) -> None:
        self.dial_verb, self.rest = verb, rest
        child = verb[0] if len(verb) else None
        if child is not None and child.tag == "Queue":
            name = (child.text or "").strip()
            members = self.sim.queues[name]
            if not members:
                await self._dial_ended("no-answer")
                return
            member = members.pop(0)
            waited = member._queue_time()
            member.queue_waited = waited
            member.queue = None
            member.blocking = None
            url = child.get("url")
            if url:
                for said in await member.fetch(
                    url, DequeingCallSid=self.sid, QueueSid="QU" + name, QueueTime=str(waited)
                ):
                    assert said.tag in ("Say", "Play", "Pause"), "a Queue url may only speak"
                    if said.tag == "Say":
                        member._say(said)
            member.state = self.state = "bridged"
            member.partner, self.partner = self, member
            return
        numbers = [(c.text or "").strip() for c in verb if c.tag == "Number"]
        numbers += [(verb.text or "").strip()] if (verb.text or "").strip() else []
        self.dialed_numbers += numbers
        self.state = "dialing"

    async def _dial_ended(self, status: str) -> None:
        assert self.dial_verb is not None
        action = self.dial_verb.get("action")
        rest, self.rest = self.rest, []
        self.state = "running"
        if action:
            await self.run(await self.fetch(action, DialCallStatus=status))
        else:
            await self.run(rest)

    async def end(self, status: str = "completed") -> None:
        """This leg ends: Twilio tells the queue or the bridge, then sends the status callback."""
        if self.state == "ended":
            return
        if self.state == "queued":
            await self._leave("hangup", run=False)
        partner, self.partner = self.partner, None
        self.state = "ended"
        if partner is not None and partner.state == "bridged":
            partner.partner = None
            if partner.enqueue_verb is not None and partner.dial_verb is None:
                partner.state = "running"
                action = partner.enqueue_verb.get("action")
                assert action
                await partner.run(
                    await partner.fetch(
                        action, QueueResult="bridged", QueueTime=str(partner.queue_waited)
                    )
                )
            else:
                await partner._dial_ended("completed")
        await self.send_status(status)

    # --- status callbacks ------------------------------------------------------------------

    async def send_status(
        self, status: str, *, sequence: int | None = None, duration: int | None = None
    ) -> int:
        """One status callback as Twilio sends it; returns the HTTP status it got."""
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        url = self.status_callback or f"{self.sim.base}/twilio/status"
        now = self.sim.clock.now()
        fields = {
            **self.params(),
            "CallStatus": status,
            "SequenceNumber": str(sequence),
            "Timestamp": format_datetime(now),
            "CallbackSource": "call-progress-events",
        }
        if status in ("completed", "busy", "no-answer", "failed", "canceled"):
            start = self.answered_at or now
            fields["CallDuration"] = str(
                duration if duration is not None else int((now - start).total_seconds())
            )
        code, _ = await self.sim.post(url, fields)
        return code

    async def answer(self, answered_by: str = "human") -> None:
        """An outbound call is picked up (by a person, or by a machine)."""
        assert self.answer_url, "not an outbound call"
        self.answered_by = answered_by if self.machine_detection or answered_by == "human" else None
        await self.send_status("initiated")
        await self.send_status("ringing")
        self.answered_at = self.sim.clock.now()
        self.state = "running"
        await self.send_status("in-progress")
        extra: dict[str, Any] = {}
        await self.run(await self.fetch(self.answer_url, **extra))

    async def ring_out(self, status: str = "no-answer") -> None:
        """An outbound call nobody picks up (or busy, or failed)."""
        await self.send_status("initiated")
        await self.send_status("ringing")
        self.state = "ended"
        await self.send_status(status)


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex
