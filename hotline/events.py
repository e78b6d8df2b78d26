"""What the hotline tells the app's in-process bus about calls (for the staff live stream)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class CallMoved:
    """An inbound call entered the voice menu, waits in the queue (at `position`, for
    `waited_s`), or left (`status`: how it ended: completed, bridged, hangup, voicemail, ...).
    Published after the step that records it commits; nothing durable depends on it."""

    call_sid: str
    stage: Literal["menu", "queued", "left"]
    caller: str = ""
    position: int | None = None
    waited_s: float | None = None
    status: str | None = None
