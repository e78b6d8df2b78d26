"""Structured-log fields that can never break a log call: an `extra=` key that names a LogRecord
attribute (`name`, `module`, `args`, …) is kept under a prefix instead of raising KeyError.

The standard library raises "Attempt to overwrite 'name' in LogRecord" from inside the log
call, so one unlucky field name turns a request that already did its work into a 500 (a token
created, its secret never shown). Installed for every logger made after `canhbao` is imported,
which is every logger of ours: each module imports canhbao before it calls getLogger.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import TracebackType
from typing import Any

# Where a colliding key goes: extra={"name": "gauge"} is logged as "extra_name": "gauge".
COLLISION_PREFIX = "extra_"
# Keys Formatter.format sets itself; not on a fresh record, but refused by the stdlib too.
_FORMATTER_KEYS = frozenset({"message", "asctime"})

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class StructuredLogger(logging.Logger):
    """A Logger whose records take any `extra` keys, renaming those that would collide."""

    def makeRecord(
        self,
        name: str,
        level: int,
        fn: str,
        lno: int,
        msg: object,
        args: Any,
        exc_info: _ExcInfo | None,
        func: str | None = None,
        extra: Mapping[str, object] | None = None,
        sinfo: str | None = None,
    ) -> logging.LogRecord:
        record = super().makeRecord(name, level, fn, lno, msg, args, exc_info, func, None, sinfo)
        for key, value in (extra or {}).items():
            record.__dict__[safe_key(key, record)] = value
        return record


def safe_key(key: str, record: logging.LogRecord) -> str:
    """`key`, or `key` under COLLISION_PREFIX (again, until free) if the record already has it."""
    while key in _FORMATTER_KEYS or key in record.__dict__:
        key = COLLISION_PREFIX + key
    return key


def install() -> None:
    """Make StructuredLogger the class of loggers created from now on."""
    logging.setLoggerClass(StructuredLogger)
