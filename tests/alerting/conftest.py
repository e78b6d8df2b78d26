"""Alerting test helpers: a complete warning in our profile, schemas, the workflow of an app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from lxml import etree

from alerting.keys import ALERTING
from alerting.models import (
    GEOCODE_WARD,
    PARAM_BAO_DONG,
    PARAM_RISK_LEVEL,
    Alert,
    Area,
    Geocode,
    Info,
    Parameter,
    Resource,
)
from alerting.workflow import Workflow
from tests.conftest import SHARED_DATA, AppClient, make_config
from tests.doubles.fcm import serve_fcm_double
from tests.doubles.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioDouble
from tests.geofences.conftest import (  # noqa: F401  # the device-registration fixture
    load_hue,
    register,
)

CAP_DIR = SHARED_DATA / "cap"
SENT = datetime(2025, 11, 16, 3, 0, tzinfo=UTC)
# A small square around Phú Ốc, in CAP's lat,lon order, closed.
SQUARE = ((16.52, 107.45), (16.52, 107.49), (16.55, 107.49), (16.55, 107.45), (16.52, 107.45))

Client = TestClient[web.Request, web.Application]


def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(CAP_DIR / name)))


def assert_valid(document: bytes, name: str = "CAP-v1.2.xsd") -> None:
    xsd = schema(name)
    root = etree.fromstring(document)
    assert xsd.validate(root), xsd.error_log


def info(language: str = "vi-VN", **changes: Any) -> Info:
    vi = language == "vi-VN"
    fields: dict[str, Any] = {
        "language": language,
        "categories": ("Met",),
        "event": "Lũ trên sông" if vi else "River flood",
        "urgency": "Immediate",
        "severity": "Severe",
        "certainty": "Observed",
        "response_types": ("Evacuate",),
        "expires": SENT + timedelta(hours=6),
        "sender_name": "Ban Chỉ huy Phòng thủ dân sự thành phố Huế",
        "headline": (
            "Cảnh báo lũ: sông Bồ tại Phú Ốc vượt báo động III"
            if vi
            else "Flood warning: Bồ river at Phú Ốc above alarm level III"
        ),
        "description": "Mực nước 4,6 m." if vi else "Level 4.6 m.",
        "instruction": "Di chuyển ngay đến nơi an toàn." if vi else "Move to safety now.",
        "contact": "1900 1075",
        "parameters": (Parameter(PARAM_RISK_LEVEL, "2"), Parameter(PARAM_BAO_DONG, "III")),
        "resources": (
            Resource(
                "Ảnh camera cầu Phú Ốc", "image/jpeg", "https://example.org/c.jpg", 52341, "ab" * 20
            ),
        ),
        "areas": (
            Area(
                "Hạ lưu sông Bồ",
                polygons=(SQUARE,),
                geocodes=(Geocode(GEOCODE_WARD, "hue.huong-tra"),),
            ),
        ),
    }
    fields.update(changes)
    return Info(**fields)


def alert(**changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "identifier": "2.49.0.1.704.46.20251116100000.1",
        "sender": "pctt.hue.gov.vn",
        "sent": SENT,
        "status": "Actual",
        "msg_type": "Alert",
        "infos": (info("vi-VN"), info("en-US")),
    }
    fields.update(changes)
    return Alert(**fields)


def workflow_of(client: Client) -> Workflow:
    assert client.app is not None
    return client.app[ALERTING]


@pytest.fixture
async def world(
    app_client: AppClient, aiohttp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    fcm = await serve_fcm_double(aiohttp_server, tmp_path)
    twilio = TwilioDouble()
    twilio_server = await aiohttp_server(twilio.app)
    monkeypatch.setenv("CANHBAO_FIREBASE_CREDENTIALS", str(fcm.credentials_path))
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    config = make_config(
        tmp_path,
        {
            "push": {
                "provider": "firebase",
                "firebase": {"project_id": fcm.double.project_id, "endpoint": fcm.endpoint},
            },
            "telephony": {
                "provider": "twilio",
                "twilio": {"api_base_url": str(twilio_server.make_url("")).rstrip("/")},
            },
            "outbox": {"poll_interval_s": 0.02},
        },
    )
    client = await app_client(config=config)
    await load_hue(client)
    return {"client": client, "fcm": fcm.double, "twilio": twilio}
