"""The geofences domain's errors.

GeofenceError
├── InvalidGeometry        an area import refused; `reason` says why, `feature` says where
│   ├── ImportTooLarge     over the byte or vertex cap of one import
│   └── ImportTooCostly    the work ran past a worker's time or memory limit (`limit` names it)
├── UnknownArea            an area code that names no area
├── InvalidDeviceRequest   a device registration or update field is wrong (`field` names it)
├── DeviceRefused          no device with this id and secret (the same answer for both)
└── InvalidContacts        a contacts CSV with bad rows (`rows`: row number → reasons)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class GeofenceError(Exception):
    """Base of every error the geofences domain raises on purpose."""


class InvalidGeometry(GeofenceError):
    """A GeoJSON import cannot be used as it is; nothing of it was stored."""

    def __init__(self, reason: str, *, feature: int | None = None, name: str | None = None) -> None:
        where = ""
        if feature is not None:
            where = f"feature {feature}" + (f" ({name})" if name else "") + ": "
        super().__init__(where + reason)
        self.reason = reason
        self.feature = feature
        self.name = name

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in a worker process (canhbao.offload) and pickled back whole.
        return _rebuild_geometry_error, (type(self), self.reason, self.feature, self.name)


def _rebuild_geometry_error(
    cls: type[InvalidGeometry], reason: str, feature: int | None, name: str | None
) -> InvalidGeometry:
    return cls(reason, feature=feature, name=name)


class ImportTooLarge(InvalidGeometry):
    """An import over the configured byte or vertex cap (refused before it is parsed further)."""


class ImportTooCostly(InvalidGeometry):
    """The import's geometry work ran past a worker's time or memory limit and was stopped."""

    def __init__(self, reason: str, *, limit: str) -> None:
        super().__init__(reason)
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_costly, (self.reason, self.limit)


def _rebuild_costly(reason: str, limit: str) -> ImportTooCostly:
    return ImportTooCostly(reason, limit=limit)


class UnknownArea(GeofenceError):
    """No area has this code."""

    def __init__(self, codes: Sequence[str]) -> None:
        super().__init__("unknown area code(s): " + ", ".join(codes))
        self.codes = tuple(codes)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.codes,)


class InvalidDeviceRequest(GeofenceError):
    """A field of a device request is missing or wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class DeviceRefused(GeofenceError):
    """The device id is unknown or the secret does not match; callers are told no more."""


class InvalidContacts(GeofenceError):
    """A contacts file with rows that cannot be imported; the rows map says which and why."""

    def __init__(self, rows: Mapping[int, Sequence[str]], message: str = "") -> None:
        super().__init__(message or f"{len(rows)} row(s) with errors")
        self.rows = {row: tuple(reasons) for row, reasons in rows.items()}
