"""The public pages with the real clock: sub-second times, UTC stored, Asia/Ho_Chi_Minh shown."""

from __future__ import annotations

from typing import Any

from alerting.keys import ALERTING
from canhbao.clock import SystemClock, to_local
from public.models import local_time
from tests.conftest import AppClient
from tests.geofences.conftest import load_hue
from tests.public.conftest import app_of, issue, warning


async def test_a_warning_issued_now_shows_at_once_in_vietnam_time(app_client: AppClient) -> None:
    clock: Any = SystemClock()  # the fixture's type is ManualClock; any Clock does
    client = await app_client(clock=clock)
    await load_hue(client)
    before = await client.get("/")
    await before.read()

    first = await issue(client, warning("Lũ lần một"))
    second = await issue(client, warning("Lũ lần hai"))  # within the same second, likely
    home = await (await client.get("/")).text()
    page = await (await client.get(f"/canh-bao/{second}")).text()

    stored = await app_of(client)[ALERTING].get(second)
    assert stored.alert.sent.microsecond == 0  # CAP times are whole seconds
    assert local_time(stored.alert.sent, "vi") in page
    assert to_local(stored.alert.sent).utcoffset().total_seconds() == 7 * 3600  # type: ignore[union-attr]
    assert "Lũ lần một" in home
    assert "Lũ lần hai" in home
    assert first != second
