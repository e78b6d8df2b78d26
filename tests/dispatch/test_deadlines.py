"""The acknowledgement deadline fires at its time on the real clock (sub-second, stored in UTC):
the timer armed for the next deadline times the offer out and offers the next team, with the
safety look set to an hour, so no poll could have done it."""

from __future__ import annotations

import asyncio

from canhbao.clock import parse_utc
from dispatch.teams_keys import DISPATCH_DEADLINES
from tests.dispatch.teams_support import RealClock, StartDesk


async def test_an_offer_times_out_at_its_deadline_on_the_real_clock(
    start_desk: StartDesk,
) -> None:
    desk = await start_desk(clock=RealClock(), ack_timeout_s=0.4)
    created = await desk.request()
    timer = desk.app[DISPATCH_DEADLINES]

    async def offers() -> list[dict[str, object]]:
        return await desk.rows(
            "SELECT status, expires_at, ended_at, answered_via FROM dispatch_offers"
            " WHERE request_id = ? ORDER BY id",
            (created["id"],),
        )

    async with asyncio.timeout(30):
        while (await offers())[0]["status"] == "pending":
            await timer.next_round()  # the timer's own rounds: nobody wakes it here
    first, second = (await offers())[:2]
    assert first["status"] == "timed_out"
    assert first["answered_via"] == "timeout"
    assert second["status"] in ("pending", "timed_out")  # the next team was offered it
    expires_at = parse_utc(str(first["expires_at"]))
    ended_at = parse_utc(str(first["ended_at"]))
    assert ended_at >= expires_at  # never early
    assert expires_at.microsecond != 0 or ended_at.microsecond != 0  # real sub-second times
