"""A still's bytes, checked and measured: pure CPU work (callers run it off the event loop).

JPEG and PNG only. The pixel count is read from the file's own header and refused past the cap
before Pillow allocates anything (Pillow's decompression-bomb guard stays behind it); a
truncated file is refused (Pillow's LOAD_TRUNCATED_IMAGES stays off). Metadata (EXIF, XMP,
IPTC, comments, PNG text) is cut from the bytes without re-encoding, so the stored picture is
the camera's own; its SHA-256 is the content address.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from cameras.errors import ImageRejected

Mime = Literal["image/jpeg", "image/png"]
JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The grey copy the checks run on: wide enough for blur to show, small enough to be cheap.
ANALYSIS_WIDTH = 640

# JPEG start-of-frame markers (they carry the size); C4, C8 and CC are not frames.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# Markers without a length: TEM and RST0-7.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# Segments cut: APP1 (EXIF, XMP), APP13 (IPTC), COM. APP0 (JFIF), APP2 (ICC colour profile) and
# APP14 (Adobe colour transform) stay: without them colours change.
_JPEG_DROPPED = frozenset({0xE1, 0xED, 0xFE})
_PNG_DROPPED = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"})


@dataclass(frozen=True)
class Limits:
    max_pixels: int
    thumbnail_width: int


@dataclass(frozen=True)
class Analysed:
    """A still we keep: its stripped bytes and what was measured on them."""

    body: bytes
    mime: Mime
    sha256: str
    width: int
    height: int
    phash: str  # 64-bit difference hash, 16 hex digits
    mean: float  # brightness 0-255
    stddev: float
    sharpness: float  # variance of the Laplacian on the grey copy
    thumbnail: bytes  # JPEG


def sniff(body: bytes) -> Mime:
    """The type the bytes are (not what the server said they are)."""
    if body.startswith(JPEG_MAGIC):
        return "image/jpeg"
    if body.startswith(PNG_MAGIC):
        return "image/png"
    head = body[:64].lstrip().lower()
    what = "an HTML page" if head.startswith((b"<!doctype html", b"<html")) else "not JPEG or PNG"
    raise ImageRejected("not_image", f"{what} ({len(body)} bytes)")


def dimensions(body: bytes, mime: Mime) -> tuple[int, int]:
    """(width, height) from the header alone."""
    if mime == "image/png":
        if len(body) < 24 or body[12:16] != b"IHDR":
            raise ImageRejected("corrupt", "PNG without an IHDR header")
        width, height = struct.unpack(">II", body[16:24])
        return int(width), int(height)
    for marker, start, end in _jpeg_segments(body):
        if marker in _SOF:
            if end - start < 7:
                raise ImageRejected("corrupt", "JPEG frame header cut short")
            height, width = struct.unpack(">HH", body[start + 1 : start + 5])
            return int(width), int(height)
    raise ImageRejected("corrupt", "JPEG without a frame header")


def _jpeg_segments(body: bytes) -> list[tuple[int, int, int]]:
    """(marker, payload start, payload end) of each segment before the scan data (SOS included;
    its payload end is the end of its header)."""
    segments: list[tuple[int, int, int]] = []
    at = 2
    size = len(body)
    while True:
        if at < size and body[at] != 0xFF:
            raise ImageRejected("corrupt", f"JPEG marker expected at byte {at}")
        while at < size and body[at] == 0xFF:  # fill bytes
            at += 1
        if at >= size:
            raise ImageRejected("truncated", "JPEG ends before its picture data")
        marker = body[at]
        at += 1
        if marker in _STANDALONE:
            continue
        if marker == 0xD9:
            raise ImageRejected("corrupt", "JPEG ends before its picture data")
        if at + 2 > size:
            raise ImageRejected("truncated", "JPEG segment header cut short")
        (length,) = struct.unpack(">H", body[at : at + 2])
        if length < 2 or at + length > size:
            raise ImageRejected("truncated", "JPEG segment runs past the end of the file")
        segments.append((marker, at + 2, at + length))
        at += length
        if marker == 0xDA:
            return segments


def strip_metadata(body: bytes, mime: Mime) -> bytes:
    """The same picture without EXIF, XMP, IPTC, comments or PNG text (no re-encoding)."""
    if mime == "image/jpeg":
        segments = _jpeg_segments(body)
        parts = [body[:2]]
        for marker, start, end in segments:
            if marker not in _JPEG_DROPPED:
                parts.append(body[start - 4 : end])
        parts.append(body[segments[-1][2] :])
        return b"".join(parts)
    parts = [body[:8]]
    at = 8
    while at + 12 <= len(body):
        (length,) = struct.unpack(">I", body[at : at + 4])
        kind = body[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(body):
            raise ImageRejected("truncated", "PNG chunk runs past the end of the file")
        if kind not in _PNG_DROPPED:
            parts.append(body[at:end])
        at = end
        if kind == b"IEND":
            return b"".join(parts)
    raise ImageRejected("truncated", "PNG ends before IEND")


def analyse(body: bytes, limits: Limits) -> Analysed:
    """Check, strip and measure one still; ImageRejected says why it is not kept."""
    mime = sniff(body)
    width, height = dimensions(body, mime)
    if width < 1 or height < 1:
        raise ImageRejected("corrupt", f"image of {width} × {height} pixels")
    if width * height > limits.max_pixels:
        raise ImageRejected(
            "too_many_pixels",
            f"{width} × {height} pixels is over the {limits.max_pixels}-pixel cap",
        )
    stripped = strip_metadata(body, mime)
    try:
        picture = _decode(stripped, mime)
    except Image.DecompressionBombError as err:
        raise ImageRejected("too_many_pixels", str(err)) from None
    except (UnidentifiedImageError, SyntaxError, EOFError, ValueError) as err:
        raise ImageRejected("corrupt", f"cannot decode: {err}") from None
    except OSError as err:
        reason = "truncated" if "truncated" in str(err) else "corrupt"
        raise ImageRejected(reason, f"cannot decode: {err}") from None
    grey = _grey(picture)
    values = np.asarray(grey, dtype=np.float32)
    return Analysed(
        body=stripped,
        mime=mime,
        sha256=hashlib.sha256(stripped).hexdigest(),
        width=width,
        height=height,
        phash=difference_hash(grey),
        mean=float(values.mean()),
        stddev=float(values.std()),
        sharpness=laplacian_variance(values),
        thumbnail=_thumbnail(picture, limits.thumbnail_width, width),
    )


def _decode(body: bytes, mime: Mime) -> Image.Image:
    picture: Image.Image = Image.open(
        io.BytesIO(body), formats=["JPEG" if mime == "image/jpeg" else "PNG"]
    )
    if mime == "image/jpeg":
        # Let libjpeg scale by 1/2, 1/4 or 1/8 while decoding, down to no less than the
        # analysis width: every byte is still decoded (a truncated file still fails), at a
        # fraction of the cost.
        target = ANALYSIS_WIDTH
        picture.draft("RGB", (target, max(1, round(picture.height * target / picture.width))))
    picture.load()
    if picture.mode not in ("RGB", "L"):
        picture = picture.convert("RGB")
    return picture


def _grey(picture: Image.Image) -> Image.Image:
    grey = picture.convert("L")
    if grey.width > ANALYSIS_WIDTH:
        height = max(1, round(grey.height * ANALYSIS_WIDTH / grey.width))
        grey = grey.resize((ANALYSIS_WIDTH, height), Image.Resampling.BILINEAR)
    return grey


def difference_hash(grey: Image.Image) -> str:
    """dHash: is each of 8 × 8 cells brighter than its right neighbour. JPEG noise and
    re-encoding barely move it; a changed scene moves many bits."""
    small = np.asarray(grey.resize((9, 8), Image.Resampling.BOX), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    value = 0
    for bit in bits.tolist():
        value = (value << 1) | int(bit)
    return f"{value:016x}"


def laplacian_variance(values: np.ndarray[tuple[int, ...], np.dtype[np.float32]]) -> float:
    """Variance of the 4-neighbour Laplacian: low when nothing in the picture has an edge."""
    if values.shape[0] < 3 or values.shape[1] < 3:
        return 0.0
    laplacian = (
        values[:-2, 1:-1]
        + values[2:, 1:-1]
        + values[1:-1, :-2]
        + values[1:-1, 2:]
        - 4 * values[1:-1, 1:-1]
    )
    return float(laplacian.var())


def _thumbnail(picture: Image.Image, width: int, original_width: int) -> bytes:
    rgb = picture.convert("RGB")
    target = min(width, original_width)
    if rgb.width != target:
        height = max(1, round(rgb.height * target / rgb.width))
        rgb = rgb.resize((target, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=80)
    return out.getvalue()
