"""Simulator fixtures: the device-registration fixture of the geofences tests."""

from tests.geofences.conftest import register  # a fixture, used by name

__all__ = ["register"]
