"""Reading a server-sent-events stream in tests: frames parsed as a browser's EventSource would."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from pydantic import TypeAdapter

from canhbao.stream_catalogue import StreamEventData

STREAM = "/api/v1/events/stream"
EVENT_DATA: TypeAdapter[Any] = TypeAdapter(StreamEventData)


@dataclass(frozen=True)
class Frame:
    id: int | None
    event: str
    data: dict[str, Any]


class SseReader:
    """Frames from an open text/event-stream answer; comments are counted, not returned."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments: list[str] = []

    async def next(self, wait_s: float = 10.0) -> Frame:
        """The next event; TimeoutError if none comes in `wait_s`, EOFError at the end."""
        async with asyncio.timeout(wait_s):
            fields: dict[str, str] = {}
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise EOFError("the stream ended")
                line = raw.decode().rstrip("\n")
                if not line:
                    if "data" in fields:
                        data = json.loads(fields["data"])
                        # Every event's data is what the OpenAPI document says it is.
                        EVENT_DATA.validate_python(data)
                        assert data["type"] == fields["event"]
                        return Frame(
                            int(fields["id"]) if "id" in fields else None, fields["event"], data
                        )
                    fields = {}
                    continue
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")

    async def until(self, event: str, wait_s: float = 10.0) -> Frame:
        """The next frame of type `event`, skipping others."""
        return (await self.through(event, wait_s))[-1]

    async def through(self, event: str, wait_s: float = 10.0) -> list[Frame]:
        """Every frame up to and including the next of type `event`."""
        frames: list[Frame] = []
        async with asyncio.timeout(wait_s):
            while True:
                frames.append(await self.next(wait_s))
                if frames[-1].event == event:
                    return frames
