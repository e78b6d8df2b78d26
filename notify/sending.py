"""The outbox sender's rules: lanes and how far ahead they claim, the codes outcomes carry,
time limits, and how a row's message is adjusted before it goes (notify.outbox_worker runs them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

from canhbao.clock import Clock
from notify.models import Channel, Message, PushMessage
from notify.outbox import ClaimedRow, Outcome

Lane = Literal["push", "sms", "voice"]
# Channels that share a provider quota share a lane; topic changes go first because they are
# few and would otherwise wait behind a million-message alert.
LANES: dict[Lane, tuple[Channel, ...]] = {
    "push": ("topic", "push"),
    "sms": ("sms",),
    "voice": ("voice",),
}
LANE_OF: dict[Channel, Lane] = {
    channel: lane for lane, channels in LANES.items() for channel in channels
}
# Rows claimed ahead of sending, in seconds of each channel's pace: enough to keep the
# provider busy, few enough that slow channels do not hold rows in `sending` for long.
LOOKAHEAD_S = 2.0
# FCM codes that mean the registration token itself is bad, so the registry should drop it.
TOKEN_REJECTION_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH", "INVALID_ARGUMENT"})
# Deferrals or dead rows within this window keep the component `degraded`.
TROUBLE_WINDOW = timedelta(minutes=1)
RECOVERY_RETRY_S = 30.0
FAILURE_PAUSE_MAX_S = 30.0
UNREADABLE = "UNREADABLE_PAYLOAD"
UNEXPECTED = "UNEXPECTED_ERROR"
INTERRUPTED = "INTERRUPTED"
EXPIRED = "EXPIRED"  # past the row's not_after (its warning expired): never sent


@dataclass(frozen=True)
class RecoveryReport:
    """What start-up recovery did with rows a previous process left `sending`."""

    requeued: int = 0
    reconciled: int = 0  # the journal or the provider had it: marked sent, not sent again
    unresolved: int = 0  # the provider could not be asked: left `sending`, retried later
    journaled: int = 0  # of the reconciled, those the sent journal named


def lasting(message: Message, row: ClaimedRow, clock: Clock) -> Message:
    """A push whose row has a not_after lives at FCM no longer than that (queueing and retries
    may have eaten into the time to live it was built with)."""
    if row.not_after is None or not isinstance(message, PushMessage):
        return message
    left = max(0, int((row.not_after - clock.now()).total_seconds()))
    if message.ttl_s is not None and message.ttl_s <= left:
        return message
    return replace(message, ttl_s=left)


def metric_outcome(outcome: Outcome) -> str:
    if outcome.status == "queued":
        # A crash is not the provider pushing back: counted apart, and not a reason to degrade.
        return "requeued" if outcome.error_code == INTERRUPTED else "deferred"
    return outcome.status
