"""The geofences tables (migrations)."""

from __future__ import annotations

from canhbao.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "geofences",
        1,
        "areas, devices, subscriptions, topic queue, contacts",
        """
        CREATE TABLE geofences_areas (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            parent_id INTEGER REFERENCES geofences_areas (id),
            population INTEGER,
            topic TEXT NOT NULL UNIQUE,
            -- WKB, WGS84 longitude/latitude: the geometry as imported (or as repaired).
            geometry BLOB NOT NULL,
            -- WKB: at most 250 points, covers geometry; what CAP messages carry.
            outline BLOB NOT NULL,
            vertices INTEGER NOT NULL,
            source TEXT NOT NULL,
            -- JSON list of what make_valid changed, when the operator asked for a repair.
            repairs TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX geofences_areas_parent ON geofences_areas (parent_id);

        CREATE TABLE geofences_devices (
            id INTEGER PRIMARY KEY,
            public_id TEXT NOT NULL UNIQUE,
            -- SHA-256 of the device secret (256 random bits: a slow hash adds nothing).
            secret_hash TEXT NOT NULL,
            -- NULL once FCM has said the token is gone, until the app sends a new one.
            token TEXT UNIQUE,
            platform TEXT NOT NULL CHECK (platform IN ('android', 'ios', 'web')),
            language TEXT NOT NULL CHECK (language IN ('vi', 'en')),
            phone TEXT,
            lon REAL,
            lat REAL,
            accuracy_m REAL,
            located_at TEXT,
            location_area_id INTEGER REFERENCES geofences_areas (id),
            -- 1 while the location is fresh enough to count for topic subscriptions.
            location_topics INTEGER NOT NULL DEFAULT 0,
            -- Space-separated FCM topics the token is subscribed to (or queued to be).
            topics TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK ((lon IS NULL) = (lat IS NULL) AND (lon IS NULL) = (located_at IS NULL))
        );
        CREATE INDEX geofences_devices_expiring ON geofences_devices (located_at)
            WHERE location_topics = 1;

        CREATE TABLE geofences_subscriptions (
            device_id INTEGER NOT NULL REFERENCES geofences_devices (id) ON DELETE CASCADE,
            area_id INTEGER NOT NULL REFERENCES geofences_areas (id),
            PRIMARY KEY (device_id, area_id)
        ) WITHOUT ROWID;
        CREATE INDEX geofences_subscriptions_area ON geofences_subscriptions (area_id);

        -- Topic changes not yet handed to the outbox; the last change per (token, topic) wins.
        CREATE TABLE geofences_topic_queue (
            token TEXT NOT NULL,
            topic TEXT NOT NULL,
            subscribe INTEGER NOT NULL,
            queued_at TEXT NOT NULL,
            PRIMARY KEY (token, topic)
        ) WITHOUT ROWID;

        CREATE TABLE geofences_contacts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            phone TEXT NOT NULL UNIQUE,
            address TEXT NOT NULL DEFAULT '',
            lon REAL,
            lat REAL,
            -- The ward: given by staff, or found from the location.
            area_id INTEGER REFERENCES geofences_areas (id),
            vulnerable INTEGER NOT NULL DEFAULT 0,
            language TEXT NOT NULL DEFAULT 'vi' CHECK (language IN ('vi', 'en')),
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK ((lon IS NULL) = (lat IS NULL)),
            CHECK (lon IS NOT NULL OR area_id IS NOT NULL)
        );
        CREATE INDEX geofences_contacts_area ON geofences_contacts (area_id);

        CREATE TABLE geofences_state (
            key TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        );
        -- areas_revision counts area imports; assigned_revision is the one devices' and
        -- contacts' areas were last computed against.
        INSERT INTO geofences_state (key, value)
            VALUES ('areas_revision', 0), ('assigned_revision', 0), ('topic_batch', 0);
        """,
    ),
    Migration(
        "geofences",
        2,
        "look devices up by phone number (the hotline offers a caller their known location)",
        """
        CREATE INDEX geofences_devices_phone ON geofences_devices (phone)
            WHERE phone IS NOT NULL;
        """,
    ),
)
