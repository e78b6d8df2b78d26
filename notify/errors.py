"""Outbound-channel errors, translated from each vendor at the edge.

NotifyError
├── InvalidMessage        our own validation refused it; never sent, never retried
├── DeliveryRejected      the provider refused it for good (e.g. UNREGISTERED token, bad number)
├── DeliveryDeferred      not now: 429, 5xx, a timeout; retry, honouring retry_after if given
│   └── ProviderUnavailable   the provider could not be reached at all
└── SenderBusy            another process already sends from this database (also a CanhbaoError:
                          `canhbao serve` stops with its message, exit 2)
"""

from __future__ import annotations

from canhbao.errors import CanhbaoError


class NotifyError(Exception):
    """Base of every outbound-channel error."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class InvalidMessage(NotifyError):
    """The message breaks a rule the provider would refuse it for (checked before sending)."""


class DeliveryRejected(NotifyError):
    """The provider refused this message permanently; retrying cannot help."""

    @property
    def token_unregistered(self) -> bool:
        """FCM says the registration token is gone: drop it from the device registry."""
        return self.code == "UNREGISTERED"


class DeliveryDeferred(NotifyError):
    """A transient failure: retry later, no sooner than retry_after seconds when it is given."""

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ProviderUnavailable(DeliveryDeferred):
    """The provider could not be reached (connection refused, DNS, TLS, timeout)."""


class SenderBusy(NotifyError, CanhbaoError):
    """Another process already sends from this database's outbox."""
