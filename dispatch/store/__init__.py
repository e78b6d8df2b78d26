"""The dispatch domain's SQL, all of it: one module per kind of row, re-exported here.

- schema: the migrations (version 1 moves the hotline's rescue requests here);
- requests: requests, their phones and their timeline.
"""

from __future__ import annotations

from dispatch.store.requests import (
    add_history,
    add_phones,
    add_photo,
    copy_history,
    copy_photos,
    count_by_state,
    get_request,
    history,
    insert_request,
    list_requests,
    open_request_for,
    open_requests,
    photo_mime,
    reached_at,
    requests_between,
    requests_for,
    set_claim,
    set_state,
    timing_rows,
    update_request,
)
from dispatch.store.schema import MIGRATIONS

__all__ = [
    "MIGRATIONS",
    "add_history",
    "add_phones",
    "add_photo",
    "copy_history",
    "copy_photos",
    "count_by_state",
    "get_request",
    "history",
    "insert_request",
    "list_requests",
    "open_request_for",
    "open_requests",
    "photo_mime",
    "reached_at",
    "requests_between",
    "requests_for",
    "set_claim",
    "set_state",
    "timing_rows",
    "update_request",
]
