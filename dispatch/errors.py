"""The dispatch domain's exceptions.

DispatchError
├── InvalidInput          input the domain cannot use (422), naming the field at fault
├── NotFound              no such rescue request, team or proposal (404)
├── InvalidTransition     a state change the state machine does not allow (409); names the
│                         states allowed from where the request stands
├── ClaimHeld             another dispatcher holds the request's claim (409), naming them
├── Conflict              the change collides with the request's state (409), e.g. merging a
│                         request into itself or deciding a proposal twice
├── NotAuthorised         a device secret or a team that may not act on this request (403)
└── SourceUnavailable     another domain could not answer a port (ward, warnings, a device)
"""

from __future__ import annotations

from collections.abc import Iterable


class DispatchError(Exception):
    """Base of every exception the dispatch domain raises on purpose."""


class InvalidInput(DispatchError):
    """The input cannot be used; `field` names the part at fault (empty: the whole input)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NotFound(DispatchError):
    """The thing asked for does not exist."""


class InvalidTransition(DispatchError):
    """The state change is not allowed from the current state; `allowed` lists what is."""

    def __init__(self, message: str, allowed: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.allowed = tuple(allowed)


class ClaimHeld(DispatchError):
    """Another dispatcher works the request: `holder` and until when (`expires_at`, UTC)."""

    def __init__(self, message: str, holder: str, expires_at: str) -> None:
        super().__init__(message)
        self.holder = holder
        self.expires_at = expires_at


class Conflict(DispatchError):
    """The change collides with what the request (or proposal) already is."""


class NotAuthorised(DispatchError):
    """The caller may not act on this (a wrong device secret, a team not offered the job)."""


class SourceUnavailable(DispatchError):
    """Another domain could not say (a ward, the warnings in force, a device): the adapter in
    the composition root translated its error."""
