"""Every located device and contact, read at start into numpy arrays (off the loop)."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class Snapshot:
    """Everything the in-memory indexes hold, read in one go at start."""

    device_ids: Any
    lon: Any
    lat: Any
    located: Any
    device_areas: Any
    subscriptions: Any  # (n, 2) int64: device id, area id
    contact_ids: Any
    contact_lon: Any
    contact_lat: Any
    contact_areas: Any
    area_only_contacts: Any  # (n, 2) int64: contact id, area id


async def read_snapshot(path: Path) -> Snapshot:
    """Read the indexes' data on a private read-only connection, in a worker thread.

    1 M rows through aiosqlite's Row objects would cost seconds; tuples fed straight into
    structured numpy arrays keep both the time and the peak memory down.
    """
    return await asyncio.to_thread(_read_snapshot, path)


def _read_snapshot(path: Path) -> Snapshot:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        devices = _rows(
            conn,
            # julianday → seconds since 1970: a double computed by SQLite, where parsing 1 M
            # ISO strings in Python would take seconds.
            "SELECT id, lon, lat, (julianday(located_at) - 2440587.5) * 86400.0,"
            " COALESCE(location_area_id, -1) FROM geofences_devices"
            " WHERE token IS NOT NULL AND lon IS NOT NULL",
            [("id", "i8"), ("x", "f8"), ("y", "f8"), ("t", "f8"), ("area", "i4")],
        )
        subscriptions = _rows(
            conn,
            "SELECT s.device_id, s.area_id FROM geofences_subscriptions AS s"
            " JOIN geofences_devices AS d ON d.id = s.device_id WHERE d.token IS NOT NULL",
            [("member", "i8"), ("area", "i8")],
        )
        contacts = _rows(
            conn,
            "SELECT id, lon, lat, COALESCE(area_id, -1) FROM geofences_contacts"
            " WHERE lon IS NOT NULL",
            [("id", "i8"), ("x", "f8"), ("y", "f8"), ("area", "i4")],
        )
        area_only = _rows(
            conn,
            "SELECT id, area_id FROM geofences_contacts WHERE lon IS NULL",
            [("member", "i8"), ("area", "i8")],
        )
    finally:
        conn.close()
    return Snapshot(
        device_ids=devices["id"].copy(),
        lon=devices["x"].copy(),
        lat=devices["y"].copy(),
        located=devices["t"].copy(),
        device_areas=devices["area"].copy(),
        subscriptions=np.column_stack((subscriptions["member"], subscriptions["area"])),
        contact_ids=contacts["id"].copy(),
        contact_lon=contacts["x"].copy(),
        contact_lat=contacts["y"].copy(),
        contact_areas=contacts["area"].copy(),
        area_only_contacts=np.column_stack((area_only["member"], area_only["area"])),
    )


def _rows(conn: sqlite3.Connection, sql: str, dtype: list[tuple[str, str]]) -> Any:
    """A query's rows straight into a structured numpy array (no Python row lists)."""
    return np.fromiter(conn.execute(sql), dtype=np.dtype(dtype))
