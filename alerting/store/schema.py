"""The alerting domain's tables, as forward-only migrations."""

from __future__ import annotations

from canhbao.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "alerting",
        1,
        "alerts, wards, auto-draft events, imports",
        """
        CREATE TABLE alerting_alerts (
            id INTEGER PRIMARY KEY,
            identifier TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL CHECK (state IN
                ('draft', 'submitted', 'approved', 'issued', 'expired', 'superseded')),
            msg_type TEXT NOT NULL,
            status TEXT NOT NULL,
            -- The identifier of the chain's first message: Updates and Cancels share it
            -- (the FCM collapse key and notification tag).
            chain TEXT NOT NULL,
            -- What an auto-draft is about ("river:71518"); one live chain per hazard.
            hazard TEXT,
            origin TEXT NOT NULL CHECK (origin IN ('staff', 'auto', 'import')),
            -- The CAP alert as JSON (json_form.alert_to_dict); frozen once issued.
            document TEXT NOT NULL,
            author TEXT NOT NULL,
            submitted_by TEXT,
            approved_by TEXT,
            issued_by TEXT,
            comment TEXT NOT NULL DEFAULT '',
            -- UTC; set at issue. expires drives the expiry job, so it survives restarts.
            sent TEXT,
            expires TEXT,
            superseded_by TEXT,
            -- The CAP document as published, and the targeting plan frozen at issue.
            xml BLOB,
            plan TEXT,
            version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX alerting_alerts_due ON alerting_alerts (expires) WHERE state = 'issued';
        CREATE INDEX alerting_alerts_state ON alerting_alerts (state, updated_at);
        CREATE INDEX alerting_alerts_hazard ON alerting_alerts (hazard, state);
        CREATE INDEX alerting_alerts_chain ON alerting_alerts (chain);

        -- Ward codes an issued alert covers, for "alerts in force in this area".
        CREATE TABLE alerting_alert_wards (
            code TEXT NOT NULL,
            identifier TEXT NOT NULL REFERENCES alerting_alerts (identifier),
            PRIMARY KEY (code, identifier)
        ) WITHOUT ROWID;

        -- Threshold events already turned into drafts: a repeated event changes nothing.
        CREATE TABLE alerting_auto_events (
            event_key TEXT PRIMARY KEY,
            identifier TEXT,
            created_at TEXT NOT NULL
        );

        -- CAP messages read from upstream systems; (sender, identifier, sent) is unique.
        CREATE TABLE alerting_imports (
            id INTEGER PRIMARY KEY,
            sender TEXT NOT NULL,
            identifier TEXT NOT NULL,
            sent TEXT NOT NULL,
            msg_type TEXT NOT NULL,
            status TEXT NOT NULL,
            source_url TEXT NOT NULL,
            document TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'active'
                CHECK (state IN ('active', 'updated', 'cancelled', 'expired')),
            expires TEXT,
            reissued_as TEXT,
            imported_at TEXT NOT NULL,
            UNIQUE (sender, identifier, sent)
        );
        CREATE INDEX alerting_imports_ref ON alerting_imports (sender, identifier);
        """,
    ),
    Migration(
        "alerting",
        2,
        "fan-out progress: the targeting frozen at issue, enqueued in resumable batches",
        """
        CREATE TABLE alerting_fanout (
            identifier TEXT PRIMARY KEY REFERENCES alerting_alerts (identifier),
            chain TEXT NOT NULL,
            -- Device and contact ids as little-endian int64: who the issued alert targets.
            device_ids BLOB NOT NULL,
            contact_ids BLOB NOT NULL,
            -- How many of each are in the outbox; a batch and its advance commit together.
            devices_done INTEGER NOT NULL,
            contacts_done INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT CHECK (outcome IN ('complete', 'superseded', 'expired'))
        );
        CREATE INDEX alerting_fanout_pending ON alerting_fanout (started_at)
            WHERE finished_at IS NULL;
        """,
    ),
    Migration(
        "alerting",
        3,
        "everyone who changed an alert's content (excluded from approving it)",
        """
        -- A JSON array of actors, the author first; a draft written before this knew only its
        -- author (earlier editors are in the audit log).
        ALTER TABLE alerting_alerts ADD COLUMN editors TEXT NOT NULL DEFAULT '[]';
        UPDATE alerting_alerts SET editors = json_array(author);
        """,
    ),
    Migration(
        "alerting",
        4,
        "a draft whose hazard passed before it was issued is withdrawn, with its reason",
        """
        -- SQLite cannot change a CHECK: the table is rebuilt, and with it the two tables that
        -- reference it (their rows kept aside meanwhile, so dropping it breaks no foreign key).
        CREATE TABLE alerting_alerts_v4 (
            id INTEGER PRIMARY KEY,
            identifier TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL CHECK (state IN ('draft', 'submitted', 'approved', 'issued',
                'expired', 'superseded', 'withdrawn')),
            msg_type TEXT NOT NULL,
            status TEXT NOT NULL,
            chain TEXT NOT NULL,
            hazard TEXT,
            origin TEXT NOT NULL CHECK (origin IN ('staff', 'auto', 'import')),
            document TEXT NOT NULL,
            author TEXT NOT NULL,
            submitted_by TEXT,
            approved_by TEXT,
            issued_by TEXT,
            comment TEXT NOT NULL DEFAULT '',
            sent TEXT,
            expires TEXT,
            superseded_by TEXT,
            xml BLOB,
            plan TEXT,
            version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            editors TEXT NOT NULL DEFAULT '[]',
            -- Why it was withdrawn (state 'withdrawn'), as staff see it.
            withdrawn_reason TEXT
        );
        INSERT INTO alerting_alerts_v4 (id, identifier, state, msg_type, status, chain, hazard,
            origin, document, author, submitted_by, approved_by, issued_by, comment, sent,
            expires, superseded_by, xml, plan, version, created_at, updated_at, editors)
        SELECT id, identifier, state, msg_type, status, chain, hazard, origin, document, author,
            submitted_by, approved_by, issued_by, comment, sent, expires, superseded_by, xml,
            plan, version, created_at, updated_at, editors FROM alerting_alerts;
        CREATE TABLE alerting_alert_wards_v3 AS SELECT * FROM alerting_alert_wards;
        CREATE TABLE alerting_fanout_v3 AS SELECT * FROM alerting_fanout;
        DROP TABLE alerting_alert_wards;
        DROP TABLE alerting_fanout;
        DROP TABLE alerting_alerts;
        ALTER TABLE alerting_alerts_v4 RENAME TO alerting_alerts;
        CREATE INDEX alerting_alerts_due ON alerting_alerts (expires) WHERE state = 'issued';
        CREATE INDEX alerting_alerts_state ON alerting_alerts (state, updated_at);
        CREATE INDEX alerting_alerts_hazard ON alerting_alerts (hazard, state);
        CREATE INDEX alerting_alerts_chain ON alerting_alerts (chain);
        CREATE TABLE alerting_alert_wards (
            code TEXT NOT NULL,
            identifier TEXT NOT NULL REFERENCES alerting_alerts (identifier),
            PRIMARY KEY (code, identifier)
        ) WITHOUT ROWID;
        INSERT INTO alerting_alert_wards SELECT code, identifier FROM alerting_alert_wards_v3;
        CREATE TABLE alerting_fanout (
            identifier TEXT PRIMARY KEY REFERENCES alerting_alerts (identifier),
            chain TEXT NOT NULL,
            device_ids BLOB NOT NULL,
            contact_ids BLOB NOT NULL,
            devices_done INTEGER NOT NULL,
            contacts_done INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT CHECK (outcome IN ('complete', 'superseded', 'expired'))
        );
        CREATE INDEX alerting_fanout_pending ON alerting_fanout (started_at)
            WHERE finished_at IS NULL;
        INSERT INTO alerting_fanout SELECT identifier, chain, device_ids, contact_ids,
            devices_done, contacts_done, started_at, finished_at, outcome
            FROM alerting_fanout_v3;
        DROP TABLE alerting_alert_wards_v3;
        DROP TABLE alerting_fanout_v3;
        """,
    ),
    Migration(
        "alerting",
        5,
        "the test audience: the only devices and phones a Test alert reaches",
        """
        CREATE TABLE alerting_test_audience (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('device', 'phone')),
            -- A test device's FCM registration token, or a phone number in E.164.
            address TEXT NOT NULL,
            language TEXT NOT NULL DEFAULT 'vi' CHECK (language IN ('vi', 'en')),
            label TEXT NOT NULL DEFAULT '',
            enrolled_by TEXT NOT NULL,
            enrolled_at TEXT NOT NULL,
            UNIQUE (kind, address)
        );
        """,
    ),
)
