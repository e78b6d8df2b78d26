"""Stream fixtures: device registration (geofences) and the hotline on its Twilio double."""

from tests.geofences.conftest import register  # a fixture, used by name
from tests.hotline.conftest import (  # fixtures, used by name
    double_server,
    start_line,
    twilio_env,
)

__all__ = ["double_server", "register", "start_line", "twilio_env"]
