"""Our CAP profile's rules, identifiers, references and times."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree

from alerting.cap import alert_xml, parse_cap
from alerting.errors import InvalidAlert
from alerting.json_form import alert_from_dict, alert_to_dict, public_view
from alerting.models import (
    CAP_NS,
    Area,
    Profile,
    Reference,
    cap_time,
    check_alert,
    format_identifier,
    parse_cap_time,
    problems,
)
from tests.alerting.conftest import CAP_DIR, SENT, SQUARE, alert, assert_valid, info

PROFILE = Profile(max_expiry=timedelta(hours=24))
LONG_RING = (*((16 + i / 1000, 107.0) for i in range(251)), (16.0, 107.0))


def test_a_complete_warning_passes_the_profile() -> None:
    assert problems(alert(), PROFILE) == []


def test_identifier_is_prefix_local_time_and_sequence() -> None:
    at = datetime(2025, 11, 16, 3, 4, 5, tzinfo=UTC)  # 10:04:05 in Huế
    assert format_identifier("2.49.0.1.704.46", at, 3) == "2.49.0.1.704.46.20251116100405.3"


def test_cap_time_is_local_with_offset_and_never_z() -> None:
    text = cap_time(datetime(2025, 11, 16, 3, 0, 0, 123456, tzinfo=UTC))
    assert text == "2025-11-16T10:00:00+07:00"
    assert parse_cap_time(text) == datetime(2025, 11, 16, 3, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="CAP dateTime"):
        parse_cap_time("2025-11-16T03:00:00Z")


def test_reference_text_round_trips() -> None:
    reference = Reference("pctt.hue.gov.vn", "2.49.0.1.704.46.20251116100000.1", SENT)
    assert (
        reference.text
        == "pctt.hue.gov.vn,2.49.0.1.704.46.20251116100000.1,2025-11-16T10:00:00+07:00"
    )
    assert Reference.parse(reference.text) == reference


def test_an_upstream_reference_keeps_its_sent_as_written() -> None:
    # A real Environment Agency Update: its references write sent as "+00:00", the moment
    # we would write as 18:00:02+07:00. CAP matches references as text, so it stays as written.
    document = (CAP_DIR / "samples" / "getMessage-valid.xml").read_bytes()
    written = etree.fromstring(document).findtext(f"{{{CAP_NS}}}references")
    assert written is not None
    update = parse_cap(document)
    assert " ".join(r.text for r in update.references) == written
    first = update.references[0]
    assert first.text.endswith(",2026-05-28T11:00:02+00:00")
    assert first.sent == datetime(2026, 5, 28, 11, 0, 2, tzinfo=UTC)

    # Kept through our stored form and out again in a CAP document of ours.
    ours = alert(msg_type="Update", references=update.references)
    again = alert_from_dict(alert_to_dict(ours))
    assert [r.text for r in again.references] == [r.text for r in update.references]
    published = alert_xml(again)
    assert_valid(published)
    assert etree.fromstring(published).findtext(f"{{{CAP_NS}}}references") == written
    # The same message, however its time was written.
    assert first == Reference(first.sender, first.identifier, first.sent)


def test_a_reference_whose_text_is_another_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="is not the moment"):
        Reference("a.example", "1", SENT, "2025-11-16T03:00:00-01:00")
    with pytest.raises(ValueError, match="is not the moment"):
        alert_from_dict(
            {
                **alert_to_dict(alert()),
                "references": [
                    {
                        "sender": "a.example",
                        "identifier": "1",
                        "sent": "2025-11-16T03:00:00+00:00",
                        "sent_text": "2025-11-16T03:00:00+07:00",
                    }
                ],
            }
        )


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (lambda a: replace(a, infos=(info("en-US"),)), "a vi-VN block is required"),
        (
            lambda a: replace(a, infos=(info(headline="Đ" * 161), info("en-US"))),
            "161 characters, over 160",
        ),
        (
            lambda a: replace(a, infos=(info(expires=None), info("en-US"))),
            "expires: required",
        ),
        (
            lambda a: replace(a, infos=(info(expires=SENT + timedelta(hours=25)),)),
            "at most 24 h after sent",
        ),
        (lambda a: replace(a, infos=(info(instruction=" "),)), "instruction: required"),
        (lambda a: replace(a, infos=(info(response_types=()),)), "responseType: required"),
        (lambda a: replace(a, infos=(info(severity="Bad"),)), "severity: 'Bad'"),
        (lambda a: replace(a, msg_type="Update"), "references: an Update must name"),
        (
            lambda a: replace(a, references=(Reference(a.sender, "y", SENT),)),
            "a new Alert supersedes nothing",
        ),
        (lambda a: replace(a, identifier="has space"), "identifier: required, without"),
        (lambda a: replace(a, scope="Private"), "scope: our warnings are Public"),
        (lambda a: replace(a, infos=(info(language="fr-FR"), info())), "'fr-FR' is not one"),
        (
            lambda a: replace(a, infos=(info(areas=(Area("x", polygons=(SQUARE[:-1],)),)),)),
            "must be closed",
        ),
        (
            lambda a: replace(
                a,
                infos=(
                    info(
                        areas=(
                            Area(
                                "x",
                                polygons=(LONG_RING,),
                            ),
                        )
                    ),
                ),
            ),
            "252 points, over 250",
        ),
        (
            lambda a: replace(
                a, infos=(info(areas=(Area("Cả tỉnh", circles=("16.5,107.5 5",)),)),)
            ),
            "'Cả tỉnh' has neither a polygon nor a ward code",
        ),
    ],
)
def test_profile_rules(changed, expected: str) -> None:  # type: ignore[no-untyped-def]
    broken = changed(alert())
    with pytest.raises(InvalidAlert) as caught:
        check_alert(broken, PROFILE)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_stored_form_round_trips() -> None:
    original = alert(references=(Reference("a", "b", SENT),), msg_type="Update")
    assert alert_from_dict(alert_to_dict(original)) == original


@pytest.mark.parametrize(
    ("language", "expected"), [("vi", "vi-VN"), ("en", "en-US"), ("fr", "vi-VN")]
)
def test_public_view_speaks_the_device_language(language: str, expected: str) -> None:
    only_vi = language == "fr"
    shown = public_view(alert() if not only_vi else alert(infos=(info(),)), language)
    assert shown["language"] == expected
    assert shown["areas"][0]["wards"] == ["hue.huong-tra"]
