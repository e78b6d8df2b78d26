"""The public pages' errors.

PublicError
 └── SourceUnavailable   another domain could not answer (its error, translated)
"""

from __future__ import annotations


class PublicError(Exception):
    """Base of the public pages' errors."""


class SourceUnavailable(PublicError):
    """A warning, station, ward or camera source failed; the page says so, never a 500."""
