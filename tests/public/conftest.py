"""A test database with wards, stations, readings and warnings, behind the real app."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from alerting.keys import ALERTING
from alerting.models import Alert, Area, Geocode, Info, Parameter
from alerting.workflow import Workflow
from canhbao.clock import ManualClock
from canhbao.config import Config
from feeds.keys import FEEDS
from feeds.models import FetchResult, Observation
from feeds.models import Parameter as FeedParameter
from tests.conftest import make_config
from tests.geofences.conftest import load_hue

Client = TestClient[web.Request, web.Application]

# Phú Xuân and Kim Long: two of Huế's wards (geofences/data, July 2025).
PHU_XUAN = "hue.phu-xuan"
KIM_LONG = "hue.kim-long"


@pytest.fixture
def config(tmp_path: Path) -> Config:
    # Every request looks at the inputs' version (the shipped default looks once a second;
    # test_pages holds that too).
    return make_config(tmp_path, {"public": {"recheck_s": 0.0}})


def app_of(client: Client) -> web.Application:
    assert client.app is not None
    return client.app


def info(language: str, headline: str, **changes: Any) -> Info:
    vi = language == "vi-VN"
    fields: dict[str, Any] = {
        "language": language,
        "categories": ("Met",),
        "event": "Lũ trên sông" if vi else "River flood",
        "urgency": "Immediate",
        "severity": "Severe",
        "certainty": "Observed",
        "response_types": ("Evacuate",),
        "sender_name": "Ban Chỉ huy Phòng thủ dân sự thành phố Huế",
        "headline": headline,
        "description": "Mực nước sông Hương tại Kim Long 3,62 m." if vi else "Level 3.62 m.",
        "instruction": "Di chuyển ngay đến nơi an toàn." if vi else "Move to safety now.",
        "contact": "1900 1075",
        "parameters": (Parameter("cap_do_rui_ro", "2"),),
        "areas": (
            Area(
                "Phú Xuân và Kim Long",
                geocodes=(Geocode("ward", PHU_XUAN), Geocode("ward", KIM_LONG)),
            ),
        ),
    }
    fields.update(changes)
    return Info(**fields)


def warning(
    headline_vi: str = "Cảnh báo lũ: sông Hương tại Kim Long vượt báo động III",
    headline_en: str = "Flood warning: Hương river at Kim Long above alarm level III",
    **changes: Any,
) -> Alert:
    fields: dict[str, Any] = {
        "identifier": "draft",
        "sender": "pctt.hue.gov.vn",
        "sent": datetime(2025, 11, 16, tzinfo=UTC),  # the workflow stamps its own
        "status": "Actual",
        "msg_type": "Alert",
        "infos": (info("vi-VN", headline_vi), info("en-US", headline_en)),
    }
    fields.update(changes)
    return Alert(**fields)


async def issue(client: Client, alert: Alert) -> str:
    """Draft, submit, approve and issue a warning (two people), as the workflow does it."""
    workflow: Workflow = app_of(client)[ALERTING]
    stored = await workflow.create(alert, "user:lan")
    await workflow.submit(stored.identifier, "user:lan")
    await workflow.approve(stored.identifier, "user:minh")
    await workflow.issue(stored.identifier, "user:minh")
    return stored.identifier


async def readings(client: Client, station_id: str, values: Sequence[float], end: datetime) -> None:
    """Hourly water levels ending at `end`, through feeds' own ingest path."""
    pipeline = app_of(client)[FEEDS].pipeline
    n = len(values)
    observations = tuple(
        Observation(station_id, FeedParameter.water_level, end - timedelta(hours=n - 1 - i), v)
        for i, v in enumerate(values)
    )
    await pipeline.ingest("vndms", FetchResult(observations=observations), by_station_id=True)


async def world(client: Client, clock: ManualClock) -> dict[str, str]:
    """Huế's wards, Kim Long's last day of levels, one warning for Phú Xuân and Kim Long."""
    await load_hue(client)
    now = clock.now()
    rising = [2.0 + 0.07 * i for i in range(24)]  # up to 3.61 m: above BĐ III (3.5 m)
    await readings(client, "71520", rising, now - timedelta(minutes=10))
    identifier = await issue(client, warning())
    return {"warning": identifier}


def replace(alert: Alert, **changes: Any) -> Alert:
    return dataclasses.replace(alert, **changes)
