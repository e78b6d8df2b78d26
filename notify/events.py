"""Events the notify domain publishes: on the app's bus, and in the durable event log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from canhbao.eventlog import EventType


@dataclass(frozen=True)
class PushTokenRejected:
    """FCM refused a registration token for good (UNREGISTERED, SENDER_ID_MISMATCH, ...).

    The device registry drops the token: sending to it again can never succeed. Stored in the
    durable event log (PUSH_TOKEN_REJECTED) in the transaction that records the send's outcome;
    the same event on the bus afterwards only says that the log has something new.
    """

    token: str
    code: str


def _encode(event: PushTokenRejected) -> dict[str, Any]:
    return {"token": event.token, "code": event.code}


def _decode(payload: Mapping[str, Any]) -> PushTokenRejected:
    return PushTokenRejected(payload["token"], payload["code"])


PUSH_TOKEN_REJECTED: EventType[PushTokenRejected] = EventType(
    "notify.push_token_rejected", _encode, _decode
)
