"""The citizen app's SOS: a request from a registered device (its secret proves it), with the
phone's location and accuracy, and photos added after it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from canhbao.imagefiles import ImageFiles
from dispatch import store
from dispatch.errors import Conflict, NotFound
from dispatch.models import NewRequest, RescueRequest, request_id_of
from dispatch.photos import PHOTOS_PER_REQUEST, Photo, check_photo
from dispatch.requests import Requests, record_change_in

log = logging.getLogger(__name__)


class AppIntake:
    def __init__(self, requests: Requests, files: ImageFiles, max_photo_bytes: int) -> None:
        self.requests = requests
        self.files = files
        self.max_photo_bytes = max_photo_bytes

    async def create(self, public_id: str, secret: str, draft: NewRequest) -> RescueRequest:
        """NotAuthorised for an unknown device or a wrong secret; the device's registered
        phone (if any) is the request's caller and is texted its number."""
        device = await self.requests.ports.devices.device(public_id, secret)
        draft = dataclasses.replace(
            draft,
            source="app",
            caller=device.phone or "",
            device_id=device.public_id,
            location_source="app" if draft.lat is not None else None,
        )
        return await self.requests.create(draft, actor=f"device:{device.public_id}")

    async def _own(self, public_id: str, secret: str, number: str) -> RescueRequest:
        device = await self.requests.ports.devices.device(public_id, secret)
        row_id = request_id_of(number)
        found = None if row_id is None else await store.get_request(self.requests.db, row_id)
        # Another device's request is as unknown as a number never given.
        if found is None or found.device_id != device.public_id:
            raise NotFound(f"no rescue request {number} from this device")
        return found

    async def status(self, public_id: str, secret: str, number: str) -> RescueRequest:
        return await self._own(public_id, secret, number)

    async def add_photo(
        self, public_id: str, secret: str, number: str, body: bytes
    ) -> tuple[RescueRequest, Photo]:
        """Check the photo off the event loop, write its file, then note it on the request
        (a repeat of the same bytes is noted once)."""
        request = await self._own(public_id, secret, number)
        if len(request.photos) >= PHOTOS_PER_REQUEST:
            raise Conflict(f"rescue request {number} has {PHOTOS_PER_REQUEST} photos already")
        photo = await asyncio.to_thread(check_photo, body, max_bytes=self.max_photo_bytes)
        await asyncio.to_thread(self.files.write, photo.sha256, photo.body, photo.thumbnail)
        requests = self.requests
        now = requests.clock.now()
        actor = f"device:{public_id}"
        async with requests.db.transaction() as conn:
            added = await store.add_photo(
                conn,
                request.id,
                photo.sha256,
                photo.mime,
                (photo.width, photo.height),
                len(photo.body),
                now,
            )
            if added:
                detail = {"sha256": photo.sha256, "width": photo.width, "height": photo.height}
                await record_change_in(
                    conn,
                    request.id,
                    now,
                    actor,
                    "photo",
                    detail=detail,
                    audit=("photo", None, detail),
                )
            changed = await requests.load(conn, request.id)
        log.info("rescue request photo", extra={"request": number, "sha256": photo.sha256})
        return changed, photo

    def photo_bytes(self, sha256: str, *, thumbnail: bool) -> bytes | None:
        return self.files.read(sha256, thumbnail=thumbnail)
