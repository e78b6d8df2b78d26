"""Structured logs: no `extra=` field can break a log call or hide one of the line's own."""

from __future__ import annotations

import ast
import json
import logging
import sys
from pathlib import Path

import pytest

from canhbao.logrecords import COLLISION_PREFIX, StructuredLogger
from canhbao.logs import JsonFormatter
from tests.conftest import REPO, AppClient, StaffFactory

PACKAGES = ("canhbao", "alerting", "feeds", "geofences", "hotline", "notify")
RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


async def test_creating_a_token_with_info_logging_answers_its_secret(
    app_client: AppClient, staff: StaffFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The log line of a created token once named its field `name`: 500, the secret lost."""
    caplog.set_level(logging.INFO)  # as `canhbao serve` logs; the default WARNING hid it
    client = await app_client()
    admin = await staff(client, "boss", roles=["admin"])

    response = await admin.post("/api/v1/tokens", json={"name": "Kim Long", "roles": ["gauge"]})

    assert response.status == 201, await response.text()
    assert (await response.json())["secret"].startswith("cbt_")
    [record] = [r for r in caplog.records if r.getMessage() == "token created"]
    assert record.__dict__["token_name"] == "Kim Long"
    assert record.name == "canhbao.auth.store"


def test_a_colliding_extra_key_is_kept_under_a_prefix_instead_of_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("canhbao.tests.collisions")
    caplog.set_level(logging.INFO, logger=logger.name)

    logger.info("hello", extra={"name": "gauge", "module": "m", "message": "x"})

    [record] = caplog.records
    assert record.name == "canhbao.tests.collisions"
    assert record.getMessage() == "hello"
    assert record.__dict__[COLLISION_PREFIX + "name"] == "gauge"
    assert record.__dict__[COLLISION_PREFIX + "module"] == "m"
    assert record.__dict__[COLLISION_PREFIX + "message"] == "x"


def test_json_lines_keep_their_own_fields_and_the_extras_beside_them() -> None:
    logger = logging.getLogger("canhbao.tests.json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logger.makeRecord(
            logger.name,
            logging.WARNING,
            __file__,
            1,
            "river high",
            (),
            sys.exc_info(),
            extra={"level": 2.5, "error": "timeout", "station": "71520"},
        )

    entry = json.loads(JsonFormatter().format(record))

    assert entry["level"] == "WARNING"
    assert entry["extra_level"] == 2.5
    assert "RuntimeError: boom" in entry["error"]
    assert entry["extra_error"] == "timeout"
    assert entry["station"] == "71520"


def test_every_logger_of_ours_is_a_structured_logger() -> None:
    import canhbao.app  # noqa: F401  # imports every domain, so every module's logger exists

    ours = [
        (name, logger)
        for name, logger in logging.Logger.manager.loggerDict.items()
        if name.split(".")[0] in PACKAGES and isinstance(logger, logging.Logger)
    ]
    assert len(ours) > 20
    assert [name for name, logger in ours if not isinstance(logger, StructuredLogger)] == []


def _colliding_extras(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            if keyword.arg == "extra" and isinstance(keyword.value, ast.Dict):
                for key in keyword.value.keys:
                    if isinstance(key, ast.Constant) and key.value in RESERVED:
                        found.append(f"{path.relative_to(REPO)}:{node.lineno} {key.value!r}")
    return found


def test_no_log_call_names_a_field_after_a_log_record_attribute() -> None:
    """The prefix keeps the service up; a field still deserves a name that says what it is."""
    files = [path for package in PACKAGES for path in (REPO / package).rglob("*.py")]
    assert [hit for path in files for hit in _colliding_extras(path)] == []
