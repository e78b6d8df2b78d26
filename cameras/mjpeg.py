"""The first frame of an MJPEG (multipart/x-mixed-replace) stream: a pure, incremental parser.

A part is headers, a blank line and a body; a part's body ends at its Content-Length when it
gives one, else at the next boundary line. We keep only the first complete part.
"""

from __future__ import annotations

import re

from cameras.errors import FetchFailed

_BOUNDARY = re.compile(r"""boundary=("?)([^";]+)\1""", re.IGNORECASE)
_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)
# A part's headers are a few lines; past this many bytes without a blank line it is not one.
MAX_HEADER_BYTES = 8192


def boundary_of(content_type: str) -> bytes:
    """The boundary a multipart/x-mixed-replace Content-Type names, as it appears in the body."""
    if not content_type.lower().startswith("multipart/x-mixed-replace"):
        raise FetchFailed("not_a_stream", f"expected an MJPEG stream, got {content_type!r}")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise FetchFailed("bad_stream", "MJPEG stream without a boundary parameter")
    boundary = match.group(2).strip().encode("latin-1")
    # Many cameras write the boundary with its leading dashes in the header, some without.
    return boundary if boundary.startswith(b"--") else b"--" + boundary


def first_frame(buffer: bytes, boundary: bytes) -> bytes | None:
    """The body of the first complete part in what has arrived so far; None: not yet."""
    start = buffer.find(boundary)
    if start < 0:
        if len(buffer) > MAX_HEADER_BYTES:
            raise FetchFailed("bad_stream", "no boundary in the stream's first bytes")
        return None
    headers_at = buffer.find(b"\n", start) + 1
    if headers_at == 0:
        return None
    blank = buffer.find(b"\r\n\r\n", headers_at)
    separator = 4
    if blank < 0:
        blank = buffer.find(b"\n\n", headers_at)
        separator = 2
    if blank < 0:
        if len(buffer) - headers_at > MAX_HEADER_BYTES:
            raise FetchFailed("bad_stream", "a stream part without the end of its headers")
        return None
    headers = buffer[headers_at:blank]
    body_at = blank + separator
    declared = _LENGTH.search(headers)
    if declared is not None:
        end = body_at + int(declared.group(1))
        return buffer[body_at:end] if len(buffer) >= end else None
    end = buffer.find(boundary, body_at)
    if end < 0:
        return None
    return buffer[body_at:end].rstrip(b"\r\n")
