"""The hotline speaks the warnings the alerting domain has issued, not a stand-in."""

from __future__ import annotations

from alerting.keys import ALERTING
from alerting.models import Area
from tests.alerting.conftest import SQUARE, alert, info
from tests.hotline.conftest import CALLER, Line, StartLine


async def _line(start_line: StartLine) -> Line:
    line = await start_line()
    line.hotline.ports.warnings = line.real_ports.warnings
    return line


async def _issue_severe_warning(line: Line) -> None:
    app = line.client.app
    assert app is not None
    workflow = app[ALERTING]
    # Drawn by hand (no ward geocodes), so no imported areas are needed to issue it.
    areas = (Area("Hạ lưu sông Bồ", polygons=(SQUARE,)),)
    drawn = alert(infos=(info("vi-VN", areas=areas), info("en-US", areas=areas)))
    stored = await workflow.create(drawn, actor="user:lan")
    await workflow.submit(stored.identifier, actor="user:lan")
    await workflow.approve(stored.identifier, actor="user:minh")
    await workflow.issue(stored.identifier, actor="user:minh")


async def test_an_issued_severe_warning_is_spoken_first(start_line: StartLine) -> None:
    line = await _line(start_line)
    await _issue_severe_warning(line)
    call = await line.sim.incoming(CALLER)
    text = call.transcript
    assert "cảnh báo nguy hiểm: Cảnh báo lũ: sông Bồ tại Phú Ốc vượt báo động III" in text
    assert text.index("bấm phím 1 ngay") < text.index("bấm phím 2")


async def test_with_no_warning_issued_the_caller_hears_there_is_none(start_line: StartLine) -> None:
    line = await _line(start_line)
    call = await line.sim.incoming(CALLER)
    assert "cảnh báo nguy hiểm" not in call.transcript
    await call.press("2")
    assert "chưa có thông tin cảnh báo" not in call.transcript
