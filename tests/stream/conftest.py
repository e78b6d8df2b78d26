"""Stream fixtures: device registration (geofences), the hotline on its Twilio double, a
fake camera (cameras)."""

from tests.cameras.conftest import camera_config, rig
from tests.geofences.conftest import register
from tests.hotline.conftest import double_server, start_line, twilio_env

__all__ = ["camera_config", "double_server", "register", "rig", "start_line", "twilio_env"]
