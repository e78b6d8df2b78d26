"""The dispatch domain's tables. Version 1 moves the hotline's rescue requests here, keeping
every row, its number, its links from the call log and callbacks, and its audited history.

How the move keeps the hotline's foreign keys (hotline_calls and hotline_callbacks name the
request they concern): SQLite rewrites a foreign key when the table it names is renamed, never
when it is dropped. So the links are put aside and cleared, the old table is copied out and
dropped, the new table is created under the old name (the hotline's keys find it), filled, and
renamed to dispatch_requests (the keys follow), and the links are put back: all in the
migration's one transaction, with foreign keys on.
"""

from __future__ import annotations

from canhbao.db import Migration

_MOVE_FROM_HOTLINE = """
CREATE TABLE dispatch_move_links AS
    SELECT 'call' AS kind, sid AS key, rescue_request_id AS request_id
    FROM hotline_calls WHERE rescue_request_id IS NOT NULL
    UNION ALL
    SELECT 'callback', CAST(id AS TEXT), rescue_request_id
    FROM hotline_callbacks WHERE rescue_request_id IS NOT NULL;
UPDATE hotline_calls SET rescue_request_id = NULL WHERE rescue_request_id IS NOT NULL;
UPDATE hotline_callbacks SET rescue_request_id = NULL WHERE rescue_request_id IS NOT NULL;
CREATE TABLE dispatch_move_rows AS SELECT * FROM hotline_rescue_requests;
DROP TABLE hotline_rescue_requests;

CREATE TABLE hotline_rescue_requests (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL CHECK (source IN ('call', 'sms', 'app', 'operator')),
    -- The number it came from (empty when an operator typed it in without one).
    caller TEXT NOT NULL DEFAULT '',
    -- The CallSid / MessageSid it came from.
    source_sid TEXT,
    call_sid TEXT,
    recording_url TEXT,
    lat REAL,
    lon REAL,
    accuracy_m REAL,
    -- Where the location came from: device, contact (registered), app, operator.
    location_source TEXT,
    address TEXT NOT NULL DEFAULT '',
    ward_code TEXT,
    ward_name TEXT,
    people INTEGER CHECK (people IS NULL OR people BETWEEN 1 AND 1000),
    vulnerabilities TEXT NOT NULL DEFAULT '',
    water TEXT NOT NULL DEFAULT 'unknown',
    notes TEXT NOT NULL DEFAULT '',
    -- The app device that sent it (its public id).
    device_id TEXT,
    -- Inside an area under an issued Severe/Extreme warning when it was received.
    severe_warning INTEGER NOT NULL DEFAULT 0,
    priority_override TEXT CHECK (priority_override IN ('emergency', 'high', 'medium', 'low')),
    priority_reason TEXT,
    state TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'triaged', 'offered', 'accepted',
        'en_route', 'on_scene', 'resolved', 'cancelled', 'unfounded', 'duplicate')),
    duplicate_of INTEGER REFERENCES hotline_rescue_requests (id),
    claimed_by TEXT,
    claim_expires_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    state_changed_at TEXT NOT NULL,
    -- When each state was first reached (the figures read them).
    accepted_at TEXT,
    on_scene_at TEXT,
    resolved_at TEXT,
    CHECK ((lat IS NULL) = (lon IS NULL))
);
INSERT INTO hotline_rescue_requests (id, number, source, caller, source_sid, call_sid,
    recording_url, lat, lon, accuracy_m, location_source, address, people, vulnerabilities,
    state, created_at, updated_at, state_changed_at)
SELECT id, number, source, caller, source_sid,
    CASE WHEN source = 'call' THEN source_sid END,
    recording_url, lat, lon, accuracy_m, location_source, address, people, vulnerabilities,
    CASE status WHEN 'dispatched' THEN 'accepted' ELSE status END,
    created_at, updated_at, updated_at
FROM dispatch_move_rows;
ALTER TABLE hotline_rescue_requests RENAME TO dispatch_requests;
CREATE INDEX dispatch_requests_state ON dispatch_requests (state, id);
CREATE INDEX dispatch_requests_source_sid ON dispatch_requests (source_sid);
CREATE INDEX dispatch_requests_created ON dispatch_requests (created_at);

UPDATE hotline_calls SET rescue_request_id = (
    SELECT request_id FROM dispatch_move_links WHERE kind = 'call' AND key = sid
) WHERE sid IN (SELECT key FROM dispatch_move_links WHERE kind = 'call');
UPDATE hotline_callbacks SET rescue_request_id = (
    SELECT request_id FROM dispatch_move_links
    WHERE kind = 'callback' AND key = CAST(hotline_callbacks.id AS TEXT)
) WHERE CAST(id AS TEXT) IN (SELECT key FROM dispatch_move_links WHERE kind = 'callback');
DROP TABLE dispatch_move_links;
DROP TABLE dispatch_move_rows;
"""

_TABLES = """
-- Every number that may be told about the request (the caller's, and every merged request's).
CREATE TABLE dispatch_request_phones (
    request_id INTEGER NOT NULL REFERENCES dispatch_requests (id),
    phone TEXT NOT NULL,
    PRIMARY KEY (request_id, phone)
) WITHOUT ROWID;
CREATE INDEX dispatch_request_phones_phone ON dispatch_request_phones (phone);
INSERT INTO dispatch_request_phones (request_id, phone)
    SELECT id, caller FROM dispatch_requests WHERE caller != '';

-- The timeline: every change, when and by whom (merges copy the absorbed request's lines).
CREATE TABLE dispatch_request_history (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES dispatch_requests (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX dispatch_request_history_request ON dispatch_request_history (request_id, at, id);
-- The moved requests' history, read from the audit log the hotline wrote.
INSERT INTO dispatch_request_history (request_id, at, actor, kind, from_state, to_state, detail)
SELECT CAST(a.entity_id AS INTEGER), a.at, a.actor,
    CASE a.action WHEN 'rescue_request.create' THEN 'created'
        WHEN 'rescue_request.status' THEN 'state' ELSE 'details' END,
    CASE WHEN a.action = 'rescue_request.status' THEN
        replace(json_extract(a."before", '$.status'), 'dispatched', 'accepted') END,
    CASE WHEN a.action = 'rescue_request.create' THEN 'new'
        WHEN a.action = 'rescue_request.status' THEN
        replace(json_extract(a."after", '$.status'), 'dispatched', 'accepted') END,
    json_object('audit_id', a.id)
FROM audit_log a
JOIN dispatch_requests r ON r.id = CAST(a.entity_id AS INTEGER)
WHERE a.entity = 'rescue_request'
ORDER BY a.id;
UPDATE dispatch_requests SET accepted_at = (
    SELECT min(h.at) FROM dispatch_request_history h
    WHERE h.request_id = dispatch_requests.id AND h.to_state = 'accepted'
), resolved_at = (
    SELECT min(h.at) FROM dispatch_request_history h
    WHERE h.request_id = dispatch_requests.id AND h.to_state = 'resolved'
);

-- Photos sent with a request; the bytes are stored content-addressed under the data folder.
CREATE TABLE dispatch_photos (
    request_id INTEGER NOT NULL REFERENCES dispatch_requests (id),
    sha256 TEXT NOT NULL,
    mime TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (request_id, sha256)
) WITHOUT ROWID;

-- Proposed duplicates: `request_id` (the newer) may be the same emergency as `candidate_id`.
CREATE TABLE dispatch_duplicates (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL REFERENCES dispatch_requests (id),
    candidate_id INTEGER NOT NULL REFERENCES dispatch_requests (id),
    reason TEXT NOT NULL CHECK (reason IN ('same_phone', 'nearby')),
    distance_m REAL,
    status TEXT NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'merged', 'rejected')),
    created_at TEXT NOT NULL,
    decided_at TEXT,
    decided_by TEXT,
    UNIQUE (request_id, candidate_id),
    CHECK (request_id != candidate_id)
);
CREATE INDEX dispatch_duplicates_open ON dispatch_duplicates (status, id);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration("dispatch", 1, "rescue requests move from the hotline", _MOVE_FROM_HOTLINE),
    Migration("dispatch", 2, "phones, timeline, photos, duplicate proposals", _TABLES),
)
