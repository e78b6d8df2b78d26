"""Camera errors, translated at the edge (HTTP, Pillow) into our own.

CameraError
├── FetchFailed        a camera gave no still: timeout, HTTP error, wrong credentials, a body
│                      over the cap, a refused redirect, a stream without a frame; `reason`
│                      is the stable code recorded with the fetch
├── ImageRejected      the body is not a still we keep: not JPEG/PNG (an HTML page), too many
│                      pixels, a decompression bomb, truncated or corrupt; `reason` likewise
├── CameraInvalid      a camera definition (config or API) breaks a rule; names the field
├── CameraConflict     the id is taken, or the camera belongs to config.toml
└── CameraNotFound     no camera with that id
"""

from __future__ import annotations


class CameraError(Exception):
    """Base of every error the cameras domain raises on purpose."""


class FetchFailed(CameraError):
    def __init__(self, reason: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class ImageRejected(CameraError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[type[ImageRejected], tuple[str, str]]:
        # Raised in a worker process and re-raised here: it must survive pickling.
        return (type(self), (self.reason, str(self)))


class CameraInvalid(CameraError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class CameraConflict(CameraError):
    pass


class CameraNotFound(CameraError):
    pass
