"""The phone simulator: registered devices and what the Local push provider delivered to each."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.models import language_of, reaches
from simulator.ports import Device, DeviceBook, PushLog, RecordedPush

# Recorded pushes read per asked-for notification: topic pushes for other wards are skipped.
OVERFETCH = 5


@dataclass(frozen=True)
class Received:
    push: RecordedPush
    language: str


class PhoneSimulator:
    def __init__(self, devices: DeviceBook, pushes: PushLog) -> None:
        self._devices = devices
        self._pushes = pushes

    async def devices(self, limit: int) -> list[tuple[Device, frozenset[str]]]:
        found = await self._devices.devices(limit)
        return [
            (device, await self._pushes.topics_of(device.token) if device.token else frozenset())
            for device in found
        ]

    async def device(self, device_id: str) -> Device | None:
        return await self._devices.device(device_id)

    async def notifications(self, device: Device, limit: int) -> list[Received]:
        """What the device would show, newest first: pushes to its token, and topic pushes
        whose topic (or condition) its subscriptions match."""
        if device.token is None:
            return []
        topics = await self._pushes.topics_of(device.token)
        recorded = await self._pushes.pushes(device.token, limit * OVERFETCH)
        return [
            Received(push, language_of(push, device.language))
            for push in recorded
            if reaches(push, device.token, topics)
        ][:limit]
