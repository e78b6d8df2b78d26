"""The outbound ports: push, SMS and voice, each a small Protocol speaking our own types."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from notify.models import PushMessage, SmsMessage, TopicChange, TopicChangeResult, VoiceCall


class PushSender(Protocol):
    async def send(self, message: PushMessage) -> str:
        """Hand one message to the provider; returns its message id (e.g. projects/p/messages/1)."""
        ...

    async def change_topic(self, change: TopicChange) -> TopicChangeResult:
        """Subscribe or unsubscribe up to 1,000 tokens to a topic."""
        ...


class SmsSender(Protocol):
    async def send_sms(self, sms: SmsMessage) -> str:
        """Send one SMS; returns the provider's id (a Twilio SM… sid)."""
        ...

    async def find_sms(self, sms: SmsMessage, since: datetime) -> str | None:
        """The id of this SMS if the provider already has it (reconciling after a crash)."""
        ...


class VoiceCaller(Protocol):
    async def place_call(self, call: VoiceCall) -> str:
        """Start one outbound call; returns the provider's id (a Twilio CA… sid)."""
        ...

    async def find_call(self, call: VoiceCall, since: datetime) -> str | None:
        """The id of this call if the provider already started it (reconciling after a crash)."""
        ...
