"""The writers' lock shared by every process that writes one SQLite file, taken in turn.

`canhbao serve` runs two writing processes (the web process and the outbox sender). SQLite's own
busy handler polls with sleeps of up to 100 ms and lets a process that writes often starve one
that writes rarely, so they take turns through a lock file (`flock`), woken the moment it is
free. `flock` hands a freed lock to no one in particular, though: a process writing back to back
(the sender in a fan-out) takes it again before a waiting one has woken, for as long as it keeps
writing. So a waiter holds a second lock file, the turnstile, while it waits: the holder cannot
pass it for its next turn, and two processes that both want to write alternate.

SQLite's own locking still guards the data: this lock only orders the processes' turns, so a
mistake here costs latency, never a lost or doubled write.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path


class WriterLock:
    """One process's side of the writers' lock of one database file."""

    def __init__(self, database: Path) -> None:
        self._lock_fd = os.open(database.with_name(database.name + "-writer.lock"),
                                os.O_RDWR | os.O_CREAT, 0o600)  # fmt: skip
        try:
            self._turn_fd = os.open(database.with_name(database.name + "-writer.turn"),
                                    os.O_RDWR | os.O_CREAT, 0o600)  # fmt: skip
        except OSError:
            os.close(self._lock_fd)
            raise

    def close(self) -> None:
        os.close(self._lock_fd)
        os.close(self._turn_fd)

    def take(self) -> None:
        """Take the lock in turn, waiting as long as it takes (in a thread, never the loop)."""
        fcntl.flock(self._turn_fd, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        finally:
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def try_take(self) -> bool:
        """Take the lock if that needs no wait (nor jumps a waiting process's turn)."""
        try:
            fcntl.flock(self._turn_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)
        return True

    def release(self) -> None:
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    async def acquire(self) -> None:
        """`take()` without blocking the loop: at once if free, else in a thread."""
        if self.try_take():
            return
        taking = asyncio.ensure_future(asyncio.to_thread(self.take))
        try:
            await asyncio.shield(taking)
        except asyncio.CancelledError:
            # The thread takes the lock in the end; let it go again then, or no one writes again.
            taking.add_done_callback(lambda _: self.release())
            raise
