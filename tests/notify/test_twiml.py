"""One TwiML writer: every spoken text in the one configured Vietnamese voice, always escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from alerting.delivery import twiml as warning_twiml
from canhbao.app import create_app
from canhbao.errors import ConfigError
from notify.twiml import Speech, sms_reply
from tests.alerting.conftest import info
from tests.conftest import make_config

VOICE = "Google.vi-VN-Wavenet-C"


def _says(document: str) -> list[ET.Element]:
    root = ET.fromstring(document)  # noqa: S314  # our own TwiML, in a test
    return [verb for verb in root.iter() if verb.tag == "Say"]


def test_a_warning_call_is_said_twice_in_the_configured_voice() -> None:
    warning = info("vi-VN", headline="Lũ <khẩn cấp> & nguy hiểm", instruction="Đi lên cao")
    document = warning_twiml(warning, Speech(VOICE))
    says = _says(document)
    assert len(says) == 2
    assert {(s.get("voice"), s.get("language")) for s in says} == {(VOICE, "vi-VN")}
    assert says[0].text == "Lũ <khẩn cấp> & nguy hiểm. Đi lên cao"  # escaped, read back whole
    assert "<Pause" in document


def test_only_vietnamese_voices_are_accepted() -> None:
    with pytest.raises(ValueError, match="Vietnamese"):
        Speech("Polly.Joanna")


def test_an_sms_reply_is_escaped() -> None:
    root = ET.fromstring(sms_reply("SOS <3 & 4>"))  # noqa: S314  # our own TwiML
    assert root.find("Message") is not None
    assert root.find("Message").text == "SOS <3 & 4>"  # type: ignore[union-attr]  # found above


def test_a_voice_that_speaks_no_vietnamese_stops_start_up(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"hotline": {"voice": "Polly.Joanna"}})
    with pytest.raises(ConfigError, match=r"hotline\.voice"):
        create_app(config)
