"""The simulators' errors.

SimulatorError
├── SimulatorOff       the Local providers are not chosen: the simulators answer 404
├── UnknownCall        no simulated call has this sid (or it ended long ago)
├── CallOver           the call has ended: nothing more can be pressed
└── WebhookFailed      our own webhook answered something Twilio would not accept
"""

from __future__ import annotations

from canhbao.errors import CanhbaoError


class SimulatorError(CanhbaoError):
    """Base of the simulators' errors."""


class SimulatorOff(SimulatorError):
    """The simulator needs the Local provider of its channel."""


class UnknownCall(SimulatorError):
    """No simulated call has this sid."""


class CallOver(SimulatorError):
    """The call has ended."""


class WebhookFailed(SimulatorError):
    """A webhook answered with an error status or TwiML we cannot follow."""
