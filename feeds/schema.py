"""The feeds domain's tables, as its numbered migrations; the SQL that uses them is in store.py."""

from __future__ import annotations

from canhbao.db import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "feeds",
        1,
        "stations, readings, revisions, levels, events, forecasts, catalogue",
        """
        CREATE TABLE feeds_stations (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            lat REAL NOT NULL,
            lon REAL NOT NULL,
            river TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            bao_dong1 REAL,
            bao_dong2 REAL,
            bao_dong3 REAL,
            historic REAL,
            reporting_period_s INTEGER NOT NULL,
            max_rate_m_per_h REAL NOT NULL,
            hysteresis_m REAL NOT NULL,
            gross_min REAL,
            gross_max REAL,
            -- 'config' rows follow config.toml at start-up; 'api' rows were changed by staff and
            -- keep their changes.
            origin TEXT NOT NULL CHECK (origin IN ('config', 'api')),
            updated_at TEXT NOT NULL,
            UNIQUE (source, source_id)
        );
        -- One row per (station, parameter, instant): re-delivery is idempotent, and a changed
        -- value moves the old one to feeds_reading_revisions.
        CREATE TABLE feeds_readings (
            station_id TEXT NOT NULL,
            parameter TEXT NOT NULL,
            observed_at TEXT NOT NULL,
            value REAL,
            flag INTEGER NOT NULL,
            reasons TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            interval_s INTEGER NOT NULL DEFAULT 0,
            ingested_at TEXT NOT NULL,
            revision INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (station_id, parameter, observed_at)
        ) WITHOUT ROWID;
        CREATE TABLE feeds_reading_revisions (
            station_id TEXT NOT NULL,
            parameter TEXT NOT NULL,
            observed_at TEXT NOT NULL,
            revision INTEGER NOT NULL,
            value REAL,
            flag INTEGER NOT NULL,
            reasons TEXT NOT NULL,
            source TEXT NOT NULL,
            ingested_at TEXT NOT NULL,
            superseded_at TEXT NOT NULL,
            PRIMARY KEY (station_id, parameter, observed_at, revision)
        ) WITHOUT ROWID;
        -- A changed value keeps the old one, whichever writer changed it.
        CREATE TRIGGER feeds_readings_revise BEFORE UPDATE OF value ON feeds_readings
        BEGIN
            INSERT INTO feeds_reading_revisions (station_id, parameter, observed_at, revision,
                value, flag, reasons, source, ingested_at, superseded_at)
            VALUES (OLD.station_id, OLD.parameter, OLD.observed_at, OLD.revision, OLD.value,
                OLD.flag, OLD.reasons, OLD.source, OLD.ingested_at, NEW.ingested_at);
        END;
        CREATE TABLE feeds_levels (
            station_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            level INTEGER NOT NULL,
            previous INTEGER,
            last_at TEXT,
            PRIMARY KEY (station_id, kind)
        ) WITHOUT ROWID;
        CREATE TABLE feeds_events (
            id INTEGER PRIMARY KEY,
            station_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            from_level INTEGER NOT NULL,
            to_level INTEGER NOT NULL,
            value REAL NOT NULL,
            observed_at TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX feeds_events_station ON feeds_events (station_id, observed_at);
        CREATE INDEX feeds_events_observed ON feeds_events (observed_at);
        CREATE TABLE feeds_forecasts (
            station_id TEXT NOT NULL,
            parameter TEXT NOT NULL,
            valid_at TEXT NOT NULL,
            value REAL,
            interval_s INTEGER NOT NULL,
            source TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            PRIMARY KEY (station_id, parameter, valid_at)
        ) WITHOUT ROWID;
        CREATE TABLE feeds_catalogue (
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            name TEXT NOT NULL,
            river TEXT NOT NULL,
            lat REAL,
            lon REAL,
            details TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (source, source_id)
        ) WITHOUT ROWID;
        """,
    ),
)
