"""The hotline domain's exceptions.

HotlineError
├── InvalidInput          a staff request or an SMS the hotline cannot use (answered 400)
├── NotFound              no such call, callback task, operator or rescue request (404)
├── InvalidTransition     a state change the domain does not allow (409), e.g. closing a
│                         callback that is already closed, or a rescue request moved backwards
└── SourceUnavailable     another domain could not answer a port (levels, warnings, location)
"""

from __future__ import annotations


class HotlineError(Exception):
    """Base of every exception the hotline raises on purpose."""


class InvalidInput(HotlineError):
    """The input cannot be used; the message says why."""


class NotFound(HotlineError):
    """The thing asked for does not exist."""


class InvalidTransition(HotlineError):
    """The requested state change is not allowed from the current state."""


class SourceUnavailable(HotlineError):
    """Another domain could not say (river levels, warnings, a phone's location): the adapter
    in the composition root translated its error; the caller hears that it is not known."""
