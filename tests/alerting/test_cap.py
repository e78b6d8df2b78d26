"""CAP 1.2 out (valid against the OASIS schema) and in (real samples; hostile documents refused)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from alerting.cap import FeedEntry, alert_xml, atom_feed, parse_cap
from alerting.errors import CapDocumentRefused
from alerting.models import Reference
from alerting.templates import TEMPLATES, fill
from alerting.wording import RiverFacts, river_texts
from tests.alerting.conftest import CAP_DIR, SENT, alert, assert_valid, info

INVALID_SAMPLE = CAP_DIR / "samples" / "getMessage-invalid.xml"
SAMPLES = sorted(p for p in (CAP_DIR / "samples").glob("*.xml") if p != INVALID_SAMPLE)


def test_our_alert_is_valid_cap_and_reads_back_equal() -> None:
    original = alert()
    document = alert_xml(original)
    assert_valid(document)
    assert b"<sent>2025-11-16T10:00:00+07:00</sent>" in document
    assert "Cảnh báo lũ".encode() in document
    assert parse_cap(document) == original


def test_an_update_carries_its_references_in_cap_form() -> None:
    first = alert()
    update = alert(
        identifier="2.49.0.1.704.46.20251116110000.1",
        msg_type="Update",
        references=(first.reference,),
    )
    document = alert_xml(update)
    assert_valid(document)
    assert (
        b"<references>pctt.hue.gov.vn,2.49.0.1.704.46.20251116100000.1,"
        b"2025-11-16T10:00:00+07:00</references>"
    ) in document
    assert parse_cap(document).references == (Reference.parse(first.reference.text),)


@pytest.mark.parametrize("template_id", sorted(TEMPLATES))
def test_every_template_makes_a_valid_document(template_id: str) -> None:
    template = TEMPLATES[template_id]
    texts = fill(template, {})
    infos = tuple(
        info(
            language,
            event=text.event,
            headline=text.headline,
            description=text.description,
            instruction=text.instruction,
            urgency=template.urgency,
            severity=template.severity,
            certainty=template.certainty,
            response_types=template.response_types,
            categories=template.categories,
        )
        for language, text in texts.items()
    )
    assert_valid(alert_xml(alert(infos=infos)))


def test_atom_feed_is_valid() -> None:
    entries = [
        FeedEntry(
            f"id{i}", f"Cảnh báo {i}", SENT + timedelta(minutes=i), f"http://x/cap/alerts/id{i}.xml"
        )
        for i in range(3)
    ]
    document = atom_feed(
        entries,
        feed_id="http://x/cap/alerts.atom",
        title="Cảnh báo đang có hiệu lực",
        author="pctt.hue.gov.vn",
        self_url="http://x/cap/alerts.atom",
        updated=SENT,
    )
    assert_valid(document, "atom.xsd")
    assert document.count(b"<entry>") == 3


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_real_samples_parse_and_write_back_valid(path: Path) -> None:
    parsed = parse_cap(path.read_bytes())
    assert parsed.identifier
    assert len(parsed.infos) == (2 if "MultiLanguage" in path.name else 1)
    # What we read, we can write again as valid CAP.
    assert_valid(alert_xml(parsed))


def test_the_references_chain_of_a_real_update_is_read() -> None:
    parsed = parse_cap((CAP_DIR / "samples" / "getMessage-valid.xml").read_bytes())
    assert parsed.msg_type == "Update"
    assert [r.identifier for r in parsed.references] == ["4eb3b7350ab7aa443650fc9351f02940E10"] * 2
    assert parsed.references[0].sender == "www.gov.uk/environment-agency"


def test_the_schema_invalid_sample_is_refused() -> None:
    with pytest.raises(CapDocumentRefused, match=r"not valid CAP 1\.2"):
        parse_cap(INVALID_SAMPLE.read_bytes())


VALID = alert_xml(alert()).decode()
BODY = VALID.split("\n", 1)[1]  # without the XML declaration

XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    + BODY.replace("<note>", "<note>&x;")
).encode()
LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + ']>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
    + "<identifier>&lol9;</identifier></alert>"
).encode()
XXE_UTF16 = (
    '<?xml version="1.0" encoding="UTF-16"?>\n'
    '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>'
).encode("utf-16")
WRONG_NAMESPACE = BODY.replace(
    "urn:oasis:names:tc:emergency:cap:1.2", "urn:oasis:names:tc:emergency:cap:1.1"
).encode()
HUGE = b"<alert>" + b" " * (50 * 1024 * 1024) + b"</alert>"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (XXE, "DTD or entities"),
        (LAUGHS, "DTD or entities"),
        (XXE_UTF16, "DTD or entities"),
        (WRONG_NAMESPACE, "not a CAP 1.2 alert"),
        (HUGE, "over the 5,000,000 limit"),
        (b"<alert", "not well-formed"),
    ],
    ids=["xxe", "billion-laughs", "xxe-utf16", "wrong-namespace", "50MB", "truncated"],
)
def test_hostile_documents_are_refused_cleanly(document: bytes, reason: str) -> None:
    with pytest.raises(CapDocumentRefused, match=reason):
        parse_cap(document)


def _spoken_texts() -> list[tuple[str, str]]:
    """Every Vietnamese headline and instruction a template or an auto-draft can produce:
    what SMS and voice calls read out."""
    said = [(f"template {t.id}", t.texts["vi-VN"]) for t in TEMPLATES.values()]
    for band, situation in ((2, "rising"), (3, "rising"), (2, "falling"), (1, "passed")):
        facts = RiverFacts("Phú Ốc", "Bồ", 3.4, band, (1.5, 3.0, 4.5), SENT, "Hương Trà", "1900")
        said.append((f"river {situation} {band}", river_texts(situation, facts)["vi-VN"]))  # type: ignore[arg-type]
    return [(f"{name} {part}", getattr(text, part)) for name, text in said
            for part in ("headline", "instruction", "description")]  # fmt: skip


@pytest.mark.parametrize(("where", "text"), _spoken_texts())
def test_texts_say_levels_and_units_in_words(where: str, text: str) -> None:
    """No "báo động II" read out as letters, no "m" or "mm" for mét and milimét."""
    assert not re.search(r"\b(I|II|III|IV)\b", text), where
    assert not re.search(r"\d m\b|\bmm\b|m/s", text), where
