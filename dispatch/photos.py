"""Photos the citizen app sends with a rescue request: checked with Pillow, capped in bytes and
pixels, stored content-addressed (canhbao.imagefiles). Pure CPU work in `check_photo`; callers
run it off the event loop.

JPEG and PNG only, recognised by their own bytes (not the Content-Type). The pixel count is read
from the header (Pillow's lazy open) and refused past the cap before anything is decoded; the
whole picture is then decoded once, so a truncated or corrupt file is refused. The bytes are
kept as sent (a photo's GPS and time are evidence for the dispatcher).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image, UnidentifiedImageError

from dispatch.errors import InvalidInput

Mime = Literal["image/jpeg", "image/png"]
PHOTO_MAX_BYTES = 4 * 1024 * 1024
PHOTO_MAX_PIXELS = 24_000_000
PHOTOS_PER_REQUEST = 5
THUMBNAIL_WIDTH = 320
_MAGIC: tuple[tuple[bytes, Mime, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "PNG"),
)


@dataclass(frozen=True)
class Photo:
    body: bytes
    mime: Mime
    sha256: str
    width: int
    height: int
    thumbnail: bytes


def check_photo(body: bytes, *, max_bytes: int = PHOTO_MAX_BYTES) -> Photo:
    """The photo, or InvalidInput (field "photo") saying why it is refused."""
    if not body:
        raise InvalidInput("photo: empty", "photo")
    if len(body) > max_bytes:
        raise InvalidInput(f"photo: {len(body)} bytes is over the {max_bytes}-byte cap", "photo")
    kind = next(((mime, fmt) for magic, mime, fmt in _MAGIC if body.startswith(magic)), None)
    if kind is None:
        raise InvalidInput("photo: not a JPEG or PNG picture", "photo")
    mime, fmt = kind
    try:
        picture = Image.open(io.BytesIO(body), formats=[fmt])
        width, height = picture.size
        if width < 1 or height < 1:
            raise InvalidInput(f"photo: {width} × {height} pixels", "photo")
        if width * height > PHOTO_MAX_PIXELS:
            raise InvalidInput(
                f"photo: {width} × {height} pixels is over the {PHOTO_MAX_PIXELS}-pixel cap",
                "photo",
            )
        picture.load()
        thumbnail = _thumbnail(picture)
    except Image.DecompressionBombError:
        raise InvalidInput("photo: too many pixels", "photo") from None
    except (UnidentifiedImageError, SyntaxError, EOFError, ValueError, OSError) as err:
        raise InvalidInput(f"photo: cannot be decoded ({err})", "photo") from None
    return Photo(body, mime, hashlib.sha256(body).hexdigest(), width, height, thumbnail)


def _thumbnail(picture: Image.Image) -> bytes:
    rgb = picture.convert("RGB")
    if rgb.width > THUMBNAIL_WIDTH:
        height = max(1, round(rgb.height * THUMBNAIL_WIDTH / rgb.width))
        rgb = rgb.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=80)
    return out.getvalue()
