"""The geofences domain's SQL, all of it: areas, devices, subscriptions, the topic queue,
contacts, and the start-up snapshot. One module per table group; every name is here."""

from __future__ import annotations

from geofences.store.areas import area_outline, load_areas, save_areas
from geofences.store.contacts import (
    contact_targets,
    delete_contact,
    list_contacts,
    location_for_phone,
    set_contact_areas,
    upsert_contacts,
)
from geofences.store.devices import (
    DeviceRow,
    NewDevice,
    delete_device,
    delete_devices,
    device_by_public_id,
    device_by_token,
    devices_by_ids,
    devices_by_public_ids,
    devices_by_tokens,
    expiring_locations,
    insert_devices,
    next_device_id,
    push_targets,
    replace_subscriptions,
    update_device,
    update_devices,
)
from geofences.store.schema import MIGRATIONS
from geofences.store.snapshot import Snapshot, read_snapshot
from geofences.store.state import next_value, read_value, set_value
from geofences.store.topics import (
    forget_token,
    forget_tokens,
    queue_many_topic_changes,
    queue_topic_changes,
    queued_topic_changes,
    take_topic_changes,
)

__all__ = [
    "MIGRATIONS",
    "DeviceRow",
    "NewDevice",
    "Snapshot",
    "area_outline",
    "contact_targets",
    "delete_contact",
    "delete_device",
    "delete_devices",
    "device_by_public_id",
    "device_by_token",
    "devices_by_ids",
    "devices_by_public_ids",
    "devices_by_tokens",
    "expiring_locations",
    "forget_token",
    "forget_tokens",
    "insert_devices",
    "list_contacts",
    "load_areas",
    "location_for_phone",
    "next_device_id",
    "next_value",
    "push_targets",
    "queue_many_topic_changes",
    "queue_topic_changes",
    "queued_topic_changes",
    "read_snapshot",
    "read_value",
    "replace_subscriptions",
    "save_areas",
    "set_contact_areas",
    "set_value",
    "take_topic_changes",
    "update_device",
    "update_devices",
    "upsert_contacts",
]
