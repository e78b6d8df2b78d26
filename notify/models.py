"""Outbound messages in our own types, and the checks every provider (Local too) applies."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from notify.errors import InvalidMessage

Channel = Literal["push", "topic", "sms", "voice"]
PushTargetKind = Literal["token", "topic", "condition"]

FCM_PAYLOAD_LIMIT = 4096  # bytes of notification + data, FCM HTTP v1
FCM_CONDITION_TOPICS = 5
FCM_TOPIC_BATCH = 1000  # tokens per subscribe/unsubscribe request
SMS_MAX_CHARS = 1600  # Twilio's limit for one Messages.json body

_TOKEN_RE = re.compile(r"^[A-Za-z0-9_:\-.]{20,4096}$")
_TOPIC_RE = re.compile(r"^[a-zA-Z0-9\-_.~%]{1,900}$")
_CONDITION_TOPIC_RE = re.compile(r"'([^']*)'\s+in\s+topics")
_CONDITION_GRAMMAR_RE = re.compile(
    r"^(?:\s|\(|\)|&&|\|\||!|'[a-zA-Z0-9\-_.~%]{1,900}'\s+in\s+topics)+$"
)
_E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class PushMessage:
    """One FCM message to a single registration token, a topic, or a condition of ≤ 5 topics."""

    target_kind: PushTargetKind
    target: str
    title: str
    body: str
    data: Mapping[str, str] = field(default_factory=dict)
    # Android collapse_key / apns-collapse-id: a later message of the same chain replaces it.
    collapse_key: str | None = None
    # Notification tag: a resend with the same tag replaces the shown notification instead of
    # adding a second one (this is how a send repeated after a crash stays one message).
    tag: str | None = None
    ttl_s: int | None = None
    high_priority: bool = True

    def payload_size(self) -> int:
        """Bytes FCM counts against its 4096-byte limit (notification and data)."""
        encoded: dict[str, Any] = {"notification": {"title": self.title, "body": self.body}}
        if self.data:
            encoded["data"] = dict(self.data)
        return len(json.dumps(encoded, ensure_ascii=False, separators=(",", ":")).encode())


@dataclass(frozen=True)
class TopicChange:
    """Subscribe (or unsubscribe) up to 1,000 registration tokens to one FCM topic."""

    topic: str
    tokens: tuple[str, ...]
    subscribe: bool = True


@dataclass(frozen=True)
class TopicChangeResult:
    """Per-token outcome of a TopicChange: tokens that failed, with FCM's reason."""

    failures: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SmsMessage:
    to: str
    body: str
    sender: str  # our number, E.164
    status_callback: str | None = None


@dataclass(frozen=True)
class VoiceCall:
    """An outbound call: TwiML to run when answered, or a URL to fetch it from."""

    to: str
    caller_id: str
    twiml: str | None = None
    url: str | None = None
    status_callback: str | None = None
    machine_detection: bool = False
    timeout_s: int = 30


def check_push(message: PushMessage) -> None:
    """Refuse what FCM would refuse: bad token/topic/condition syntax, payload over 4096 bytes."""
    if message.target_kind == "token":
        if not _TOKEN_RE.match(message.target):
            raise InvalidMessage("malformed FCM registration token", code="INVALID_TOKEN")
    elif message.target_kind == "topic":
        check_topic(message.target)
    else:
        check_condition(message.target)
    for key, value in message.data.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidMessage("FCM data keys and values must be strings", code="INVALID_DATA")
        if key in ("from", "message_type") or key.startswith(("google", "gcm")):
            raise InvalidMessage(f"reserved FCM data key: {key}", code="INVALID_DATA")
    size = message.payload_size()
    if size > FCM_PAYLOAD_LIMIT:
        raise InvalidMessage(
            f"FCM payload is {size} bytes, over the {FCM_PAYLOAD_LIMIT}-byte limit",
            code="PAYLOAD_TOO_LARGE",
        )
    if message.ttl_s is not None and not 0 <= message.ttl_s <= 28 * 24 * 3600:
        raise InvalidMessage("FCM TTL must be between 0 s and 28 days", code="INVALID_TTL")


def check_topic(topic: str) -> None:
    name = topic.removeprefix("/topics/")
    if not _TOPIC_RE.match(name):
        raise InvalidMessage(f"malformed FCM topic name: {topic!r}", code="INVALID_TOPIC")


def check_condition(condition: str) -> None:
    topics = _CONDITION_TOPIC_RE.findall(condition)
    if not topics or not _CONDITION_GRAMMAR_RE.match(condition):
        raise InvalidMessage(f"malformed FCM condition: {condition!r}", code="INVALID_CONDITION")
    if len(topics) > FCM_CONDITION_TOPICS:
        raise InvalidMessage(
            f"an FCM condition combines at most {FCM_CONDITION_TOPICS} topics, got {len(topics)}",
            code="INVALID_CONDITION",
        )
    if condition.count("(") != condition.count(")"):
        raise InvalidMessage("unbalanced parentheses in FCM condition", code="INVALID_CONDITION")


def check_topic_change(change: TopicChange) -> None:
    check_topic(change.topic)
    if not change.tokens:
        raise InvalidMessage("a topic change needs at least one token", code="INVALID_TOKEN")
    if len(change.tokens) > FCM_TOPIC_BATCH:
        raise InvalidMessage(
            f"at most {FCM_TOPIC_BATCH} tokens per topic change, got {len(change.tokens)}",
            code="TOO_MANY_TOKENS",
        )
    for token in change.tokens:
        if not _TOKEN_RE.match(token):
            raise InvalidMessage("malformed FCM registration token", code="INVALID_TOKEN")


def check_phone(number: str, what: str = "phone number") -> None:
    if not _E164_RE.match(number):
        raise InvalidMessage(f"{what} is not in E.164 form: {number!r}", code="INVALID_NUMBER")


def check_sms(sms: SmsMessage) -> None:
    check_phone(sms.to, "recipient")
    check_phone(sms.sender, "sender")
    if not sms.body.strip():
        raise InvalidMessage("empty SMS body", code="EMPTY_BODY")
    if len(sms.body) > SMS_MAX_CHARS:
        raise InvalidMessage(
            f"SMS body is {len(sms.body)} characters, over {SMS_MAX_CHARS}", code="BODY_TOO_LONG"
        )


def check_call(call: VoiceCall) -> None:
    check_phone(call.to, "callee")
    check_phone(call.caller_id, "caller id")
    if (call.twiml is None) == (call.url is None):
        raise InvalidMessage("a call needs exactly one of twiml or url", code="INVALID_CALL")
    if not 5 <= call.timeout_s <= 600:
        raise InvalidMessage("call ring timeout must be 5 to 600 s", code="INVALID_CALL")


def sms_segments(body: str) -> int:
    """How many SMS segments a body costs: GSM-7 (160/153) or UCS-2 (70/67) for Vietnamese."""
    ucs2 = any(ord(ch) > 127 for ch in body)  # conservative: GSM-7's extras are rare here
    single, multi = (70, 67) if ucs2 else (160, 153)
    length = len(body.encode("utf-16-le")) // 2 if ucs2 else len(body)
    return 1 if length <= single else -(-length // multi)


# -- what the outbox takes (notify.outbox stores it) -------------------------------------------

Message = PushMessage | TopicChange | SmsMessage | VoiceCall

MESSAGE_TYPES: dict[Channel, type[Message]] = {
    "push": PushMessage,
    "topic": TopicChange,
    "sms": SmsMessage,
    "voice": VoiceCall,
}


@dataclass(frozen=True)
class OutboxItem:
    """One message to enqueue. A higher priority is sent first; `reference` groups rows (e.g.
    an alert identifier) for counts(); the idempotency key makes enqueueing it twice a no-op."""

    channel: Channel
    message: Message
    idempotency_key: str
    reference: str = ""
    priority: int = 0
    # Past this moment the message is not sent (failed EXPIRED), and a push's FCM time to live
    # is what is left of it: a warning's messages end with the warning.
    not_after: datetime | None = None

    def __post_init__(self) -> None:
        expected = MESSAGE_TYPES.get(self.channel)
        if expected is None or not isinstance(self.message, expected):
            raise ValueError(
                f"channel {self.channel!r} carries {expected.__name__ if expected else 'nothing'},"
                f" not {type(self.message).__name__}"
            )
        if not self.idempotency_key:
            raise ValueError("an outbox item needs an idempotency key")


@dataclass(frozen=True)
class Encoded:
    """Outbox items encoded for insertion (Outbox.encode)."""

    rows: list[tuple[str, str, str, str, int, str, str, str, str | None]]
