"""Hydro-met feed errors, translated from each upstream at the edge.

FeedError
├── FeedUnavailable     the upstream could not be reached or answered badly: a timeout, a reset
│                       connection, a 5xx, a body over the size cap; retried with backoff
├── PayloadInvalid      the upstream answered, but not with what its format promises: an HTML
│                       page with status 200, truncated JSON, NaN, a missing required field
├── StationInvalid      a station definition (config or API) breaks a rule: thresholds out of
│                       order, an unknown source, a bad id
└── IngestRejected      a pushed batch is refused whole; names the row and the field
"""

from __future__ import annotations


class FeedError(Exception):
    """Base of every error the feeds domain raises on purpose."""


class FeedUnavailable(FeedError):
    """The upstream could not be reached, timed out, or answered with an error status."""


class PayloadInvalid(FeedError):
    """The upstream's answer does not follow its format; nothing from it is stored."""


class StationInvalid(FeedError):
    """A station definition cannot be used; the message names the field."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class IngestRejected(FeedError):
    """A pushed batch is refused as a whole because of one bad row."""

    def __init__(self, message: str, *, row: int, field: str) -> None:
        super().__init__(message)
        self.row = row
        self.field = field
