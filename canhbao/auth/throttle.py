"""Login backoff per address and per account, instead of a hard lock-out.

A hard lock after N wrong passwords lets anyone lock any staff account on purpose, say the
night before a flood. Here after `login_free_failures` wrong passwords in a row from an address
or for an account, the next attempt must wait 1 s, then 2 s, 4 s … (answered 429 with
Retry-After; the password is not even checked while waiting). The address's wait grows to
`login_address_backoff_max_s` (a guesser's own address is slowed hard); the account's only to
`login_account_backoff_max_s` (a minute by default), so someone else's failures keep the real
owner, typing the right password from their own address, out for at most that long. Failures are
forgotten after FORGET_AFTER without one, and a successful login clears both.

Addresses are kept in memory (bounded; the oldest forgotten first, which only ever errs towards
letting an attempt through). Known accounts keep theirs in the database, so an admin's
`canhbao user unlock` reaches the running service; unknown usernames get the same treatment in
memory, so a 429 never tells a real account from a missing one.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from canhbao.auth.models import AuthError
from canhbao.config import AuthConfig

FORGET_AFTER = timedelta(hours=1)
MAX_REMEMBERED = 100_000
# Backoff doubles per failure; past this many doublings it is at any sane cap already.
_MAX_DOUBLINGS = 40


class LoginThrottled(AuthError):
    """Too many wrong passwords lately from this address or for this account: wait."""

    status = 429
    code = "login_throttled"

    def __init__(self, wait_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(wait_s))
        super().__init__(
            f"too many failed logins; try again in {self.retry_after_s} s"
            " (an admin can unlock the account)"
        )


def backoff_delay(failures: int, free: int, max_s: float) -> float:
    """Seconds to wait after `failures` consecutive wrong passwords: none before the `free`th,
    then 1 s, 2 s, 4 s … up to max_s."""
    if failures < free:
        return 0.0
    return min(max_s, float(2 ** min(failures - free, _MAX_DOUBLINGS)))


@dataclass
class _Entry:
    failures: int
    last_failure: datetime
    next_attempt: datetime


class Backoff:
    """Consecutive failures per key (an address, an unknown username), in memory, bounded."""

    def __init__(self, free: int, max_s: float, max_keys: int = MAX_REMEMBERED) -> None:
        self.free = free
        self.max_s = max_s
        self.max_keys = max_keys
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def wait(self, key: str, now: datetime) -> float:
        """Seconds before `key` may try again; 0 if it may now."""
        entry = self._current(key, now)
        return 0.0 if entry is None else max(0.0, (entry.next_attempt - now).total_seconds())

    def fail(self, key: str, now: datetime) -> float:
        """Count a failure for `key`; returns the wait it now has."""
        entry = self._current(key, now)
        failures = 1 if entry is None else entry.failures + 1
        delay = backoff_delay(failures, self.free, self.max_s)
        self._entries[key] = _Entry(failures, now, now + timedelta(seconds=delay))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_keys:
            self._entries.popitem(last=False)
        return delay

    def clear(self, key: str) -> None:
        self._entries.pop(key, None)

    def _current(self, key: str, now: datetime) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry.last_failure > FORGET_AFTER:
            del self._entries[key]
            return None
        return entry

    def __len__(self) -> int:
        return len(self._entries)


def client_address(remote: str | None, forwarded_for: str | None, trusted: Iterable[str]) -> str:
    """The address a login came from: the peer, or, when the peer is a trusted proxy, the
    nearest untrusted address its X-Forwarded-For names (proxies append, so read from the
    right: entries further left were written by the client and may be forged)."""
    proxies = frozenset(trusted)
    address = remote or "unknown"
    if address not in proxies or not forwarded_for:
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        if hop and hop not in proxies:
            return hop[:64]
    return address


class LoginThrottle:
    """The service's in-memory part: addresses, and usernames that are no account."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self.addresses = Backoff(config.login_free_failures, config.login_address_backoff_max_s)
        self.unknown_accounts = Backoff(
            config.login_free_failures, config.login_account_backoff_max_s
        )

    def account_delay(self, failures: int) -> float:
        """The wait of a known account after `failures` consecutive wrong passwords."""
        return backoff_delay(
            failures, self.config.login_free_failures, self.config.login_account_backoff_max_s
        )
