"""The hotline's tables: rescue requests (1), then the call log, webhook steps, callbacks and
the operators' roster (2)."""

from __future__ import annotations

from canhbao.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "hotline",
        1,
        "rescue requests",
        """
        CREATE TABLE hotline_rescue_requests (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL CHECK (source IN ('call', 'sms', 'app')),
            caller TEXT NOT NULL,
            -- The call or SMS it came from (CallSid / MessageSid).
            source_sid TEXT,
            lat REAL,
            lon REAL,
            accuracy_m REAL,
            -- Where the location came from: device, contact (registered), or none.
            location_source TEXT,
            address TEXT NOT NULL DEFAULT '',
            recording_url TEXT,
            people INTEGER,
            vulnerabilities TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'new'
                CHECK (status IN ('new', 'triaged', 'dispatched', 'resolved', 'cancelled')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK ((lat IS NULL) = (lon IS NULL))
        );
        CREATE INDEX hotline_rescue_requests_status ON hotline_rescue_requests (status, id);
        CREATE INDEX hotline_rescue_requests_source_sid ON hotline_rescue_requests (source_sid);
        """,
    ),
    Migration(
        "hotline",
        2,
        "call log, webhook steps, callbacks, operators",
        """
        CREATE TABLE hotline_calls (
            sid TEXT PRIMARY KEY,
            parent_sid TEXT,
            kind TEXT NOT NULL CHECK (kind IN ('inbound', 'callback', 'operator')),
            direction TEXT NOT NULL DEFAULT '',
            from_number TEXT NOT NULL DEFAULT '',
            to_number TEXT NOT NULL DEFAULT '',
            status TEXT,
            -- Twilio's SequenceNumber of the status callback the status came from.
            status_sequence INTEGER,
            received_at TEXT NOT NULL,
            answered_at TEXT,
            ended_at TEXT,
            enqueued_at TEXT,
            dequeued_at TEXT,
            queue_wait_s REAL,
            duration_s INTEGER,
            menu_path TEXT NOT NULL DEFAULT '',
            answered_by TEXT,
            -- handled | informed | callback | voicemail; NULL when the call ends = abandoned.
            outcome TEXT,
            -- What the caller pressed in the queue: callback | voicemail.
            queue_choice TEXT,
            rescue_request_id INTEGER REFERENCES hotline_rescue_requests (id),
            operator_id INTEGER REFERENCES hotline_operators (id),
            callback_task_id INTEGER REFERENCES hotline_callbacks (id),
            callback_attempt_id INTEGER,
            notes TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL
        );
        CREATE INDEX hotline_calls_received ON hotline_calls (received_at);
        CREATE INDEX hotline_calls_from ON hotline_calls (from_number, received_at);
        -- Calls waiting in a Twilio queue right now (small: only those not yet dequeued).
        CREATE INDEX hotline_calls_waiting ON hotline_calls (enqueued_at)
            WHERE enqueued_at IS NOT NULL AND dequeued_at IS NULL;
        CREATE INDEX hotline_calls_operator_legs ON hotline_calls (operator_id)
            WHERE kind = 'operator';

        CREATE TABLE hotline_recordings (
            id INTEGER PRIMARY KEY,
            call_sid TEXT NOT NULL,
            recording_sid TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('address', 'voicemail')),
            url TEXT NOT NULL,
            duration_s INTEGER,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX hotline_recordings_call ON hotline_recordings (call_sid);

        -- One row per side-effecting webhook step: a retried webhook finds its row and gets the
        -- same answer without acting again.
        CREATE TABLE hotline_webhook_steps (
            sid TEXT NOT NULL,
            step TEXT NOT NULL,
            response TEXT NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (sid, step)
        ) WITHOUT ROWID;

        CREATE TABLE hotline_operators (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            phone TEXT NOT NULL UNIQUE,
            shift_start TEXT NOT NULL,
            shift_end TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            last_offered_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE hotline_callbacks (
            id INTEGER PRIMARY KEY,
            phone TEXT NOT NULL,
            reason TEXT NOT NULL
                CHECK (reason IN ('abandoned', 'voicemail', 'requested', 'no_operator', 'rescue')),
            source_call_sid TEXT,
            rescue_request_id INTEGER REFERENCES hotline_rescue_requests (id),
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'calling', 'reached', 'exhausted', 'closed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT,
            closed_by TEXT,
            close_reason TEXT
        );
        -- One open task per number: a second missed call joins the task already there.
        CREATE UNIQUE INDEX hotline_callbacks_one_open ON hotline_callbacks (phone)
            WHERE status IN ('open', 'calling');
        CREATE INDEX hotline_callbacks_due ON hotline_callbacks (next_attempt_at)
            WHERE status = 'open';

        CREATE TABLE hotline_callback_attempts (
            id INTEGER PRIMARY KEY,
            task_id INTEGER NOT NULL REFERENCES hotline_callbacks (id),
            -- 1, 2, 3 for calls Twilio accepted; a call Twilio refused keeps the next number.
            number INTEGER NOT NULL,
            call_sid TEXT UNIQUE,
            outcome TEXT NOT NULL,
            answered_by TEXT,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            error TEXT
        );
        CREATE INDEX hotline_callback_attempts_task ON hotline_callback_attempts (task_id, id);
        """,
    ),
)
