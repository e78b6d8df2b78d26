"""The pure parts: header sizes, metadata stripping, the MJPEG frame parser, hashes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cameras.errors import FetchFailed, ImageRejected
from cameras.images import Limits, analyse, dimensions, sniff, strip_metadata
from cameras.mjpeg import boundary_of, first_frame
from cameras.models import hash_distance
from tests.cameras.conftest import camera_exif, huge_jpeg, jpeg, png, scene

LIMITS = Limits(max_pixels=16_000_000, thumbnail_width=320)


@settings(max_examples=25, deadline=None)
@given(width=st.integers(1, 900), height=st.integers(1, 900), progressive=st.booleans())
def test_the_header_size_is_pillows_size(width: int, height: int, progressive: bool) -> None:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(out, "JPEG", progressive=progressive)
    assert dimensions(out.getvalue(), "image/jpeg") == (width, height)
    assert dimensions(png(Image.new("L", (width, height))), "image/png") == (width, height)


def test_stripping_keeps_every_pixel_and_drops_the_exif() -> None:
    body = jpeg(scene(), exif=camera_exif())
    stripped = strip_metadata(body, "image/jpeg")
    assert b"CameraMakerSecret" not in stripped
    with Image.open(io.BytesIO(body)) as before, Image.open(io.BytesIO(stripped)) as after:
        assert np.array_equal(np.asarray(before), np.asarray(after))


def test_png_text_chunks_are_dropped() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "CameraMakerSecret")
    out = io.BytesIO()
    scene().save(out, "PNG", pnginfo=info)
    stripped = strip_metadata(out.getvalue(), "image/png")
    assert b"CameraMakerSecret" not in stripped
    with Image.open(io.BytesIO(stripped)) as after:
        after.load()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<!DOCTYPE html><html><body>login</body></html>", "not_image"),
        (b"", "not_image"),
        (b"\xff\xd8\xff", "truncated"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "truncated"),
        (huge_jpeg(), "too_many_pixels"),
        (huge_jpeg(65535, 65535), "too_many_pixels"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, "corrupt"),
    ],
)
def test_bad_bodies_are_refused_with_their_reason(body: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected) as caught:
        analyse(body, LIMITS)
    assert caught.value.reason == reason


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_after_a_jpeg_start_are_refused_or_analysed(tail: bytes) -> None:
    reason = "analysed"
    try:
        analyse(b"\xff\xd8\xff" + tail, LIMITS)
    except ImageRejected as err:
        reason = err.reason
    assert reason in {"analysed", "truncated", "corrupt", "too_many_pixels"}


def test_sniff_believes_the_bytes_not_the_server() -> None:
    assert sniff(png(scene(size=(8, 8)))) == "image/png"
    assert sniff(jpeg(scene(size=(8, 8)))) == "image/jpeg"


def test_a_reencoded_scene_keeps_its_hash_and_another_scene_does_not() -> None:
    first = analyse(jpeg(scene(1), 90), LIMITS)
    again = analyse(jpeg(scene(1), 50), LIMITS)
    other = analyse(jpeg(scene(2), 90), LIMITS)
    assert first.sha256 != again.sha256
    assert hash_distance(first.phash, again.phash) <= 4
    assert hash_distance(first.phash, other.phash) > 10


FRAME = jpeg(scene(size=(64, 48)))


def _stream(frame: bytes, with_length: bool) -> bytes:
    length = f"Content-Length: {len(frame)}\r\n" if with_length else ""
    part = f"--frame\r\nContent-Type: image/jpeg\r\n{length}\r\n".encode() + frame + b"\r\n"
    return part + part.replace(frame, jpeg(scene(9, size=(64, 48))))


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(0, 2 * len(FRAME) + 200), with_length=st.booleans())
def test_the_first_frame_comes_whole_however_the_stream_is_cut(cut: int, with_length: bool) -> None:
    stream = _stream(FRAME, with_length)
    boundary = boundary_of("multipart/x-mixed-replace; boundary=frame")
    found = first_frame(stream[:cut], boundary)
    assert found is None or found == FRAME
    assert first_frame(stream, boundary) == FRAME


@pytest.mark.parametrize(
    "content_type", ["image/jpeg", "multipart/x-mixed-replace", "text/html; boundary=x"]
)
def test_a_stream_needs_its_type_and_boundary(content_type: str) -> None:
    with pytest.raises(FetchFailed):
        boundary_of(content_type)


def test_quoted_and_dashed_boundaries() -> None:
    assert boundary_of('multipart/x-mixed-replace;boundary="--abc"') == b"--abc"
    assert boundary_of("Multipart/X-Mixed-Replace; boundary=abc") == b"--abc"
