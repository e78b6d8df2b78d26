"""The shell's own exceptions.

CanhbaoError
├── ConfigError        bad or missing configuration; names the key path
└── MigrationError     a schema migration failed and was rolled back
"""


class CanhbaoError(Exception):
    """Base of every exception the shell raises on purpose."""


class ConfigError(CanhbaoError):
    """The configuration cannot be used; the message names the key path."""


class MigrationError(CanhbaoError):
    """A migration failed; the database is left as it was before it."""
