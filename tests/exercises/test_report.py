"""The after-action report: every figure checked against a database built through the
domains' real paths, with the fake clock and with the real one; empty windows; bad windows
refused in one line (CLI) or a 4xx (API); user strings escaped; two runs compared."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from canhbao import keys
from canhbao.cli import main
from canhbao.clock import parse_utc
from exercises.report.compare import compare
from exercises.report.figures import SCHEMA, crossing_figures
from exercises.report.models import Crossing, WarningRecord
from exercises.report.page import render
from tests.conftest import BearerFactory, StaffFactory
from tests.exercises.report_world import OTHER_CALLER, World, build, report_config, window_of
from tests.hotline import conftest as hotline
from tests.hotline.conftest import Line, StartLine

# The hotline's fixtures: the app on the Twilio double, with the call simulator.
double_server = hotline.double_server
start_line = hotline.start_line
twilio_env = hotline.twilio_env

REPORT = "/api/v1/exercises/report"


async def _report(world: World, fmt: str = "json", **query: str) -> Any:
    start, end = window_of(world)
    params = {"from": start, "to": end, **query}
    response = await world.dispatcher.get(f"{REPORT}.{fmt}", params=params)
    assert response.status == 200, await response.text()
    return await response.json() if fmt == "json" else await response.text()


@pytest.fixture
def start(start_line: StartLine, tmp_path: Path, double_server: tuple[Any, str]) -> StartLine:
    """start_line on the report's config (Phú Ốc fed by a pushing gauge)."""

    async def go(*, real_clock: bool = False) -> Line:
        # On the real clock nothing waits: the first callback is due the moment a caller leaves.
        hotline = {"callback_delays_min": [0.0, 10.0, 30.0]} if real_clock else {}
        config = report_config(tmp_path, double_server[1], **hotline)
        return await start_line(config, real_clock=real_clock)

    return go


async def test_every_figure_of_a_flood_built_through_the_real_paths(
    start: StartLine, staff: StaffFactory, bearer: BearerFactory
) -> None:
    world = await build(await start(), staff, bearer)
    figures = await _report(world)

    assert figures["format"] == SCHEMA
    bd1, bd2 = figures["crossings"]
    assert (bd1["band"], bd1["warning"]) == (1, None)  # BĐ I drafts nothing
    assert (bd2["station_id"], bd2["from_band"], bd2["band"]) == ("71518", 1, 2)
    assert bd2["warning"] == world.identifier
    assert bd2["observed_at"] == world.crossing_at.isoformat(timespec="microseconds")
    # Read 5 s after the crossing, submitted a minute later, approved a minute after, issued
    # 30 s later, and every device reached at once (the outbox sends while the clock stands).
    assert bd2["to_draft_s"] == 5
    assert bd2["to_approval_s"] == 125
    assert bd2["to_issue_s"] == 155
    assert bd2["to_90_percent_s"] == bd2["to_100_percent_s"] == 155
    assert bd2["targeted_devices"] == 3

    calls = figures["calls"]
    assert calls["offered"] == 2
    # Only the caller who asked for a person counts: the voice menu answers everyone at once.
    assert (calls["queued_for_operator"], calls["answered_within_15s"]) == (1, 1)
    assert calls["answered_within_15s_share"] == 1.0
    assert (calls["abandoned"], calls["called_back"]) == (1, 1)
    assert calls["abandoned_not_called_back"] == 0
    assert calls["time_to_callback"] == {"count": 1, "median_s": 120.0, "p90_s": 120.0}

    rescue = figures["rescue"]
    assert rescue["total"]["requests"] == 1
    (priority,) = [p for p, g in rescue["by_priority"].items() if g["requests"]]
    assert priority == "high"  # on a roof: 4 points
    group = rescue["by_priority"]["high"]
    assert group["to_accept"]["median_s"] == 120.0
    assert group["to_on_scene"]["median_s"] == 780.0
    assert group["to_resolved"]["median_s"] == 1980.0
    # No team on duty: dispatch escalated it at once; the dispatcher took it all the same.
    assert (rescue["escalations"], rescue["missed_escalations"]) == (1, 0)

    timeline = figures["timeline"]
    (station,) = [s for s in timeline["stations"] if s["id"] == "71518"]
    assert [v for _, v in station["points"]] == [2.8, 2.9, 3.1, 3.2]
    assert station["bao_dong"] == [1.5, 3.0, 4.5]
    assert sum(timeline["calls_per_slot"]) == 2
    assert [w["identifier"] for w in figures["warnings"]] == [world.identifier]

    page = await _report(world, "html")
    assert "Báo cáo sau diễn tập" in page
    assert "After-action report" in page
    assert "báo động hai" in page  # levels as spoken, not "II"
    assert "<script" not in page
    assert "http" not in page.replace("http://www.w3.org", "")
    assert "<svg" in page
    assert "<polyline" in page
    # Local time (+07:00): the crossing at 04:00 UTC shows as 11:00.
    local = (world.crossing_at + timedelta(hours=7)).strftime("%d/%m/%Y %H:%M:%S")
    assert local in page


async def test_sub_second_times_under_the_real_clock(
    start: StartLine, staff: StaffFactory, bearer: BearerFactory
) -> None:
    line = await start(real_clock=True)
    world = await build(line, staff, bearer, real=True)
    figures = await _report(world)
    (row,) = [c for c in figures["crossings"] if c["band"] == 2]
    steps = [
        row[k]
        for k in (
            "to_draft_s",
            "to_approval_s",
            "to_issue_s",
            "to_90_percent_s",
            "to_100_percent_s",
        )
    ]
    assert all(isinstance(s, float) and 0 < s < 60 for s in steps), steps
    assert steps == sorted(steps)
    rows = await line.app[keys.DB].fetch_all(
        "SELECT at FROM audit_log WHERE entity = 'alert' AND action = 'alert.issue'"
    )
    issued_at = parse_utc(rows[0][0])
    assert row["to_issue_s"] == round((issued_at - world.crossing_at).total_seconds(), 3)
    calls = figures["calls"]
    assert (calls["offered"], calls["abandoned"], calls["called_back"]) == (2, 1, 1)
    assert 0 <= calls["time_to_callback"]["median_s"] < 60
    assert figures["rescue"]["total"]["to_resolved"]["count"] == 1


async def test_missed_escalations_are_those_nobody_handled_by_the_window_end(
    start: StartLine, staff: StaffFactory, bearer: BearerFactory
) -> None:
    world = await build(await start(), staff, bearer)
    waiting = await world.dispatcher.post(
        "/api/v1/dispatch/requests",
        json={"caller": OTHER_CALLER, "water": "chest", "lat": 16.47, "lon": 107.6},
    )
    assert waiting.status == 201, await waiting.text()
    await world.line.app[keys.EVENTS].settled()  # dispatch offers it (no team: escalated)
    figures = await _report(world)
    assert figures["rescue"]["escalations"] == 2
    assert figures["rescue"]["missed_escalations"] == 1
    assert figures["rescue"]["missed_escalation_requests"] == [(await waiting.json())["id"]]


async def test_an_empty_window_and_a_database_with_nothing_give_a_clear_report(
    start_line: StartLine, staff: StaffFactory
) -> None:
    line = await start_line()
    dung = await staff(line.client, "dung", roles=["dispatcher"])
    response = await dung.get(f"{REPORT}.json")
    assert response.status == 200, await response.text()
    figures = await response.json()
    assert figures["crossings"] == []
    assert figures["warnings"] == []
    assert figures["calls"]["offered"] == 0
    assert figures["calls"]["answered_within_15s_share"] is None
    page = await (await dung.get(f"{REPORT}.html")).text()
    assert "Không có sự kiện nào trong khoảng thời gian này" in page


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ({"from": "2025-11-16T10:00:00+07:00", "to": "2025-11-16T09:00:00+07:00"}, "ends before"),
        ({"from": "yesterday"}, "not an ISO-8601 time"),
        ({"to": "2025-13-45"}, "not an ISO-8601 time"),
        ({"from": "0001-01-01"}, "outside 1970-2200"),
        ({"to": "9999-12-31T23:59:59-12:00"}, "outside 1970-2200"),
        ({"from": "1900-01-01T00:00+00:00"}, "outside 1970-2200"),
    ],
)
async def test_a_bad_window_is_a_400_naming_it(
    start_line: StartLine, staff: StaffFactory, query: dict[str, str], words: str
) -> None:
    line = await start_line()
    dung = await staff(line.client, "dung", roles=["dispatcher"])
    response = await dung.get(f"{REPORT}.json", params=query)
    assert response.status == 400
    body = await response.json()
    assert body["error"]["code"] == "invalid_window"
    assert words in body["error"]["message"]


async def test_the_report_is_for_staff_only(start_line: StartLine, staff: StaffFactory) -> None:
    line = await start_line()
    assert (await line.client.get(f"{REPORT}.json")).status == 401
    team = await staff(line.client, "doi", roles=["team"])
    assert (await team.get(f"{REPORT}.html")).status == 403


def sample_figures(**changes: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "format": SCHEMA,
        "window": {"from": "2025-11-16T00:00:00+00:00", "to": "2025-11-16T06:00:00+00:00"},
        "crossings": [
            {
                "station_id": "71518",
                "station": "<script>alert(1)</script>Phú Ốc",
                "band": 2,
                "from_band": 1,
                "value_m": 3.1,
                "observed_at": "2025-11-16T04:00:00+00:00",
                "warning": "2.49.0.1.704.1",
                "headline": "<img src=x onerror=alert(1)>",
                "to_draft_s": 5.0,
                "to_approval_s": 125.0,
                "to_issue_s": 155.0,
                "to_90_percent_s": 160.0,
                "to_100_percent_s": 170.0,
                "targeted_devices": 3,
            }
        ],
        "warnings": [
            {
                "identifier": "2.49.0.1.704.1",
                "headline": "<script>alert('cảnh báo')</script>",
                "msg_type": "Alert",
                "status": "Exercise",
                "origin": "auto",
                "state": "issued",
                "created_at": "2025-11-16T04:00:05+00:00",
                "issued_at": "2025-11-16T04:02:35+00:00",
            }
        ],
        "calls": {
            "offered": 10,
            "queued_for_operator": 5,
            "answered_within_15s": 4,
            "answered_within_15s_share": 0.8,
            "abandoned": 2,
            "abandoned_share": 0.2,
            "called_back": 2,
            "callback_reached": 1,
            "abandoned_not_called_back": 0,
            "time_to_callback": {"count": 2, "median_s": 60.0, "p90_s": 90.0},
        },
        "rescue": {
            "by_priority": {
                p: {
                    "requests": 0,
                    "to_accept": {"count": 0, "median_s": None, "p90_s": None},
                    "to_on_scene": {"count": 0, "median_s": None, "p90_s": None},
                    "to_resolved": {"count": 0, "median_s": None, "p90_s": None},
                }
                for p in ("emergency", "high", "medium", "low")
            },
            "total": {
                "requests": 0,
                "to_accept": {"count": 0, "median_s": None, "p90_s": None},
                "to_on_scene": {"count": 0, "median_s": None, "p90_s": None},
                "to_resolved": {"count": 0, "median_s": None, "p90_s": None},
            },
            "escalations": 0,
            "missed_escalations": 0,
            "missed_escalation_requests": [],
        },
        "timeline": {
            "step_s": 3600,
            "slots": [f"2025-11-16T0{h}:00:00+00:00" for h in range(7)],
            "calls_per_slot": [0, 0, 0, 0, 6, 4, 0],
            "stations": [
                {
                    "id": "71518",
                    "name": "</title><script>x()</script>",
                    "river": "Bồ",
                    "bao_dong": [1.5, 3.0, 4.5],
                    "points": [
                        ["2025-11-16T03:00:00+00:00", 2.8],
                        ["2025-11-16T04:00:00+00:00", 3.1],
                    ],
                }
            ],
        },
    }
    figures.update(changes)
    return figures


def test_a_draft_rewritten_by_a_later_crossing_is_timed_from_each_crossing() -> None:
    t0 = datetime(2025, 11, 16, 4, 0, tzinfo=UTC)
    second = t0 + timedelta(hours=2)
    crossings = [
        Crossing("71518", 1, 2, 3.1, t0, "k2"),
        Crossing("71518", 2, 3, 4.6, second, "k3"),
    ]
    warning = WarningRecord(
        identifier="2.49.0.1.704.9",
        headline="Lũ",
        status="Actual",
        msg_type="Alert",
        origin="auto",
        state="issued",
        created_at=t0 + timedelta(seconds=10),
        approved_at=second + timedelta(minutes=5),
        issued_at=second + timedelta(minutes=6),
        drafted=(("k2", t0 + timedelta(seconds=10)), ("k3", second + timedelta(seconds=20))),
        targeted_devices=10,
        reached=((second + timedelta(minutes=7), 9), (second + timedelta(minutes=8), 1)),
    )
    first_row, second_row = crossing_figures(crossings, [warning], [])
    assert (first_row["to_draft_s"], second_row["to_draft_s"]) == (10.0, 20.0)
    assert second_row["to_issue_s"] == 360.0
    assert (second_row["to_90_percent_s"], second_row["to_100_percent_s"]) == (420.0, 480.0)


@pytest.mark.parametrize(
    "previous",
    [
        {"format": SCHEMA, "crossings": [{"station_id": "71518", "band": "hai"}, 7]},
        {"format": SCHEMA, "calls": {"answered_within_15s_share": "all"}, "rescue": []},
        {"format": SCHEMA},
    ],
)
def test_a_previous_run_of_another_shape_is_compared_where_it_can_be(
    previous: dict[str, Any],
) -> None:
    lines = compare(sample_figures(), previous)
    assert lines
    assert {line.verdict for line in lines} == {"n/a"}


def test_user_strings_are_escaped_everywhere() -> None:
    page = render(sample_figures(), title="<b>Diễn tập</b>")
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>Diễn" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Phú Ốc" in page
    assert "&lt;/title&gt;&lt;script&gt;x()&lt;/script&gt;" in page
    assert "&lt;b&gt;Diễn tập&lt;/b&gt;" in page


def test_two_runs_compared_in_words() -> None:
    before = sample_figures()
    now = sample_figures()
    now["crossings"] = [{**before["crossings"][0], "to_issue_s": 100.0}]
    now["calls"] = {**before["calls"], "abandoned_share": 0.3}
    lines = {line.label: line for line in compare(now, before)}
    issue = lines["Trạm 71518, báo động hai: đến ban hành / station 71518, alarm level 2: to issue"]
    assert (issue.before, issue.now, issue.verdict) == (155.0, 100.0, "better")
    assert lines["Cuộc gọi bỏ dở / abandoned calls"].verdict == "worse"
    assert lines["Cuộc gọi đến / calls offered"].verdict == "same"
    page = render(now, comparison=compare(now, before))
    assert "tốt hơn / better" in page
    assert "kém hơn / worse" in page


# -- the command -------------------------------------------------------------------------------


async def test_the_command_writes_json_and_html_and_compares_with_a_previous_run(
    start: StartLine,
    staff: StaffFactory,
    bearer: BearerFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world = await build(await start(), staff, bearer)
    start, end = window_of(world)
    database = world.line.config.resolve(world.line.config.database.path)
    first, second = tmp_path / "run1", tmp_path / "run2"
    argv = ["exercise", "report", "--database", str(database), "--from", start, "--to", end]
    # The command runs its own event loop: in a thread, beside the running app.
    assert await asyncio.to_thread(main, [*argv, "--out", str(first), "--no-pdf"]) == 0
    figures = json.loads((first / "report.json").read_text(encoding="utf-8"))
    assert figures["crossings"][1]["to_issue_s"] == 155
    assert figures == await _report(world)
    again = [*argv, "--out", str(second), "--no-pdf", "--compare", str(first / "report.json")]
    assert await asyncio.to_thread(main, again) == 0
    page = (second / "report.html").read_text(encoding="utf-8")
    assert "So với lần trước" in page
    assert "như cũ / same" in page
    assert capsys.readouterr().out.splitlines() == [
        str(first / "report.json"), str(first / "report.html"),
        str(second / "report.json"), str(second / "report.html"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--from", "garbage"], "from: not an ISO-8601 time"),
        (["--from", "2025-11-16T10:00", "--to", "2025-11-16T09:00"], "ends before it starts"),
        (["--compare", "missing.json"], "cannot read"),
        ([], "not a canhbao database"),
    ],
)
def test_the_command_refuses_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], words: str
) -> None:
    database = tmp_path / "x.sqlite3"
    database.write_bytes(b"")
    code = main(
        ["exercise", "report", "--database", str(database), "--out", str(tmp_path / "o"),
         "--no-pdf", *extra]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert words in err


def test_the_command_refuses_a_missing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["exercise", "report", "--database", str(tmp_path / "nope.sqlite3"), "--out",
         str(tmp_path / "o")]
    )  # fmt: skip
    assert code == 2
    assert "no such database file" in capsys.readouterr().err


def test_the_window_default_and_the_time_zone() -> None:
    from exercises.report.service import parse_time

    assert parse_time("2025-11-16T10:00", "from") == datetime(2025, 11, 16, 3, 0, tzinfo=UTC)
    assert parse_time("2025-11-16T10:00:00.250+00:00", "to").microsecond == 250_000
