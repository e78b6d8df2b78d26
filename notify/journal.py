"""The sent journal: each finished send written down at once, before the outbox records it.

The worker records outcomes in SQLite a flush at a time, so at any moment some sends have
finished but are not yet recorded; if the process died then, recovery would queue them again
and FCM (which cannot be asked what it accepted) would deliver them twice. So each finished
send is also appended here the moment it finishes: one unbuffered write(2), which the kernel
keeps even if the process is killed the next instant. Recovery marks the rows named here as
sent instead of sending them again.

Two files take turns: a flush switches appends to the other file, and once the flush has
committed, the file it switched away from holds nothing unrecorded and is emptied. Entries
that outlive their use (a flush that failed, for instance) are harmless: recovery applies an
entry only to a row still `sending`, and a row recorded as sent never is again.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

SEPARATOR = "\t"


class SentJournal:
    def __init__(self, path: Path) -> None:
        """Files `path`.0 and `path`.1; opened here, closed by close()."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.paths = (path.with_name(path.name + ".0"), path.with_name(path.name + ".1"))
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        self._fds = [os.open(p, flags, 0o600) for p in self.paths]
        self._current = 0

    def append(self, row_id: int, provider_id: str | None) -> None:
        """Note that a row's send finished (accepted by the provider, with its id)."""
        line = f"{row_id}{SEPARATOR}{(provider_id or '').replace(chr(10), ' ')}\n"
        os.write(self._fds[self._current], line.encode())

    def switch(self) -> int:
        """Send appends to the other file; returns the one that was current, for clear()."""
        previous, self._current = self._current, 1 - self._current
        return previous

    def clear(self, which: int | None = None) -> None:
        """Empty one file (what a committed flush covered), or both (after recovery)."""
        for index in (0, 1) if which is None else (which,):
            os.ftruncate(self._fds[index], 0)

    def entries(self) -> dict[int, str]:
        """row id → provider id, from both files; a line cut short by a crash is skipped."""
        found: dict[int, str] = {}
        for path in self.paths:
            with contextlib.suppress(FileNotFoundError):
                for line in path.read_bytes().decode(errors="replace").split("\n")[:-1]:
                    row_id, _, provider_id = line.partition(SEPARATOR)
                    if row_id.isdigit() and _:
                        found[int(row_id)] = provider_id
        return found

    def close(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = []
