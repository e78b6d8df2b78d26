"""The shell's own exceptions.

CanhbaoError
├── ConfigError          bad or missing configuration; names the key path
├── DatabaseUnavailable  the database file cannot be opened, read or written; names the path
└── MigrationError       a schema migration failed and was rolled back
"""


class CanhbaoError(Exception):
    """Base of every exception the shell raises on purpose."""


class ConfigError(CanhbaoError):
    """The configuration cannot be used; the message names the key path."""


class DatabaseUnavailable(CanhbaoError):
    """The database cannot be used (not SQLite, corrupted, unreadable, read-only, no folder)."""


class MigrationError(CanhbaoError):
    """A migration failed; the database is left as it was before it."""
