"""The hotline's own types and pure rules: call statuses, rescue requests, callbacks, rosters."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Literal

from canhbao.clock import to_local


class CallStatus(StrEnum):
    """Twilio's call statuses, in the order a call moves through them."""

    queued = "queued"
    initiated = "initiated"
    ringing = "ringing"
    in_progress = "in-progress"
    completed = "completed"
    busy = "busy"
    failed = "failed"
    no_answer = "no-answer"
    canceled = "canceled"


FINAL_STATUSES = frozenset(
    {
        CallStatus.completed,
        CallStatus.busy,
        CallStatus.failed,
        CallStatus.no_answer,
        CallStatus.canceled,
    }
)
_RANK = {
    CallStatus.queued: 0,
    CallStatus.initiated: 1,
    CallStatus.ringing: 2,
    CallStatus.in_progress: 3,
}

CallKind = Literal["inbound", "callback", "operator"]
# Why a call ended the way it did, from the hotline's side (NULL while nothing satisfying has
# happened, which is what makes an ended call "abandoned"):
# handled (an operator took it), informed (flood information heard), callback (a callback task
# covers it), voicemail (left a message, and a task covers it).
Outcome = Literal["handled", "informed", "callback", "voicemail"]


def status_rank(status: CallStatus) -> int:
    """Order of progress: a callback may only move a call forward (finals rank highest)."""
    return 4 if status in FINAL_STATUSES else _RANK[status]


def next_status(
    current: CallStatus | None,
    current_sequence: int | None,
    incoming: CallStatus,
    incoming_sequence: int | None,
) -> bool:
    """Whether a status callback should replace the stored status.

    Twilio sends callbacks out of order and more than once. A final status is never replaced
    (a late "ringing" must not reopen a completed call); otherwise the higher SequenceNumber
    wins, and without sequence numbers the further status does.
    """
    if current is None:
        return True
    if current in FINAL_STATUSES:
        return False
    if incoming in FINAL_STATUSES:
        return True
    if current_sequence is not None and incoming_sequence is not None:
        return incoming_sequence > current_sequence
    return status_rank(incoming) > status_rank(current)


# --- rescue requests ---------------------------------------------------------------------


class Vulnerability(StrEnum):
    injured = "injured"
    elderly = "elderly"
    child = "child"
    disabled = "disabled"


# Keypad digits of the vulnerabilities question (texts.VULNERABILITIES reads them out).
VULNERABILITY_KEYS: dict[str, Vulnerability] = {
    "1": Vulnerability.injured,
    "2": Vulnerability.elderly,
    "3": Vulnerability.child,
    "4": Vulnerability.disabled,
}


def parse_vulnerabilities(digits: str) -> tuple[Vulnerability, ...]:
    """Keys pressed → vulnerabilities, each once, in keypad order; other keys are ignored."""
    found = {VULNERABILITY_KEYS[d] for d in digits if d in VULNERABILITY_KEYS}
    return tuple(v for v in VULNERABILITY_KEYS.values() if v in found)


PEOPLE_MAX = 999
# At most three ASCII digits, then the keypad's # or *: longer input is no count we believe
# (and int() of 10,000 digits would fail).
_PEOPLE_KEYS = re.compile(r"([0-9]{1,3})[#*]*")


def parse_people(digits: str) -> int | None:
    """The number of people typed on the keypad (1 to 999), or None if it is not one."""
    match = _PEOPLE_KEYS.fullmatch(digits.strip())
    if match is None:
        return None
    count = int(match.group(1))
    return count if 1 <= count <= PEOPLE_MAX else None


RequestSource = Literal["call", "sms"]


@dataclass(frozen=True)
class NewRescueRequest:
    source: RequestSource
    caller: str
    source_sid: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    location_source: str | None = None
    address: str = ""
    recording_url: str | None = None
    people: int | None = None
    vulnerabilities: tuple[Vulnerability, ...] = ()


@dataclass(frozen=True)
class RescueAddition:
    """What a caller tells us after their request was created; None leaves a field as it is."""

    recording_url: str | None = None
    people: int | None = None
    vulnerabilities: tuple[Vulnerability, ...] | None = None
    more_address: str | None = None


@dataclass(frozen=True)
class RescueRequestCreated:
    """Published on the in-process bus once the hotline's step that created a request through
    dispatch (hotline.ports.RescueDesk) is committed; dispatch's own durable event
    (dispatch.request_created) is written with the request itself."""

    request_id: int
    number: str
    source: RequestSource
    caller: str
    lat: float | None
    lon: float | None
    address: str

    @classmethod
    def of(cls, request_id: int, number: str, draft: NewRescueRequest) -> RescueRequestCreated:
        return cls(
            request_id, number, draft.source, draft.caller, draft.lat, draft.lon, draft.address
        )


@dataclass(frozen=True)
class KnownLocation:
    """Where a registered phone (app device or phone-only contact) was last known to be."""

    lat: float
    lon: float
    accuracy_m: float | None
    located_at: datetime
    # Words a caller recognises ("số 5 Lê Lợi, phường Phú Hội"); empty: read the time instead.
    description: str
    source: Literal["device", "contact"]


def location_is_fresh(location: KnownLocation, now: datetime, max_age: timedelta) -> bool:
    """A registered contact's address (no timestamp of movement) counts as fresh; a phone's
    reported position only within `max_age`."""
    if location.source == "contact":
        return True
    return now - location.located_at <= max_age


# --- SMS --------------------------------------------------------------------------------

# The keyword opens the message: SOS, or CỨU with its own marks in any case, or CUU typed
# without marks; never another vowel's marks (Cửu Long, cừu: a place, a sheep).
_SOS_RE = re.compile(
    r"^\s*(?:sos|cứu|cuu)(?=$|[\s:,.!\-])[\s:,.!\-]*(.*)$", re.IGNORECASE | re.DOTALL
)
# "3 người", "3 nguoi", "3ng": the first count of people in a message (ASCII digits only).
_SMS_PEOPLE_RE = re.compile(r"(?<![0-9])([0-9]{1,3})\s*(?:người|nguoi|ng)(?!\w)", re.IGNORECASE)
# What a caller may tell us about where they are, as stored on a request (the rest is cut).
ADDRESS_MAX_CHARS = 500


def parse_sos(body: str) -> str | None:
    """The free text after an SOS keyword, or None when the message is not an SOS."""
    match = _SOS_RE.match(unicodedata.normalize("NFC", body))
    if match is None:
        return None
    return match.group(1).strip()


# "TINH TRANG 1001", "Tình trạng: 1001", "tinh trang" (every request of the number): with or
# without diacritics, any case, stray spaces.
_STATUS_RE = re.compile(r"^\s*tinh\s*trang(?:\s*[:#.,\-]?\s*([0-9]{1,12}))?\s*[.!?]?\s*$")


def without_marks(text: str) -> str:
    """Lower case, Vietnamese marks removed (đ → d): "Tình Trạng" → "tinh trang"."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return bare.replace("đ", "d")


def parse_status_query(body: str) -> tuple[bool, str | None]:
    """(is it a TINH TRANG query, the request number it names or None)."""
    match = _STATUS_RE.match(without_marks(body))
    if match is None:
        return False, None
    return True, match.group(1)


def parse_sms_people(text: str) -> int | None:
    """The number of people a message names ("3 người", "3 nguoi"), 1 to 999, or None."""
    match = _SMS_PEOPLE_RE.search(unicodedata.normalize("NFC", text))
    if match is None:
        return None
    count = int(match.group(1))
    return count if 1 <= count <= PEOPLE_MAX else None


def cap_address(text: str) -> str:
    """Free words about a place, trimmed and cut to ADDRESS_MAX_CHARS characters."""
    return unicodedata.normalize("NFC", text).strip()[:ADDRESS_MAX_CHARS]


# --- callbacks --------------------------------------------------------------------------

CallbackReason = Literal["abandoned", "voicemail", "requested", "no_operator", "rescue"]
CallbackStatus = Literal["open", "calling", "reached", "exhausted", "closed"]
OPEN_CALLBACK_STATUSES: tuple[CallbackStatus, ...] = ("open", "calling")
AttemptOutcome = Literal[
    "placing", "ringing", "reached", "machine", "no-answer", "busy", "failed", "not-placed"
]


def attempt_outcome(status: CallStatus, answered_by: str | None) -> AttemptOutcome:
    """What one ended callback call achieved; a machine is not a person reached."""
    if status is CallStatus.completed:
        if answered_by and answered_by.startswith(("machine", "fax")):
            return "machine"
        return "reached"
    if status is CallStatus.busy:
        return "busy"
    if status in (CallStatus.no_answer, CallStatus.canceled):
        return "no-answer"
    return "failed"


def is_machine(answered_by: str | None) -> bool:
    return bool(answered_by) and str(answered_by).startswith(("machine", "fax"))


def next_attempt_delay(delays_min: Sequence[float], attempts_made: int) -> timedelta | None:
    """Wait before attempt number attempts_made + 1, or None once every attempt is used."""
    if attempts_made >= len(delays_min):
        return None
    return timedelta(minutes=delays_min[attempts_made])


# --- operators --------------------------------------------------------------------------


@dataclass(frozen=True)
class Operator:
    id: int
    name: str
    phone: str
    shift_start: time
    shift_end: time
    active: bool


def on_shift(operator: Operator, now: datetime) -> bool:
    """Whether local time (Asia/Ho_Chi_Minh) is inside the operator's shift; a shift whose end
    is before its start runs overnight (22:00 to 06:00), equal times mean round the clock."""
    if not operator.active:
        return False
    local = to_local(now).time().replace(tzinfo=None)
    start, end = operator.shift_start, operator.shift_end
    if start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


def parse_shift_time(text: str) -> time:
    """HH:MM, local time."""
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", text.strip())
    if match is None:
        raise ValueError(f"not a time of day (HH:MM): {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def expected_wait_minutes(
    position: int, average_queue_s: float, average_handle_s: float, operators: int
) -> float:
    """Minutes a caller at `position` may wait: Twilio's running average when it has one,
    else the handle time spread over the operators on duty."""
    if average_queue_s > 0:
        return average_queue_s / 60
    return position * average_handle_s / max(1, operators) / 60
