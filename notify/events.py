"""Events the notify domain publishes on the app's bus."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PushTokenRejected:
    """FCM refused a registration token for good (UNREGISTERED, SENDER_ID_MISMATCH, ...).

    The device registry drops the token: sending to it again can never succeed.
    """

    token: str
    code: str
