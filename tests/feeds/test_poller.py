"""Upstream faults leave the poller running, the source failing, nothing stored from the bad
payload and the other sources untouched; backoff, logging once, conditional requests."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from canhbao import keys
from canhbao.clock import ManualClock
from tests.conftest import AppClient
from tests.doubles.feeds import Fault, FeedUpstream
from tests.feeds.conftest import REPLAY_CSV, feeds_config, recorded, runtime, station, stored

NOW = datetime(2026, 2, 3, 0, 0, tzinfo=UTC)
MEASURES = "/id/measures"
Upstream = tuple[FeedUpstream, str]


def config(tmp_path: Path, base: str, **ea: Any) -> Any:
    """EA (the source under test) and a replay (a bystander) in one app."""
    return feeds_config(
        tmp_path,
        {
            "stations": [
                station("ea-1029TH", "river_level", "ea", "1029TH-level-stage-i-15_min-mASD"),
                station("71520", "river_level", "vndms", river="Hương"),
            ],
            "ea": {
                "enabled": True,
                "base_url": base,
                "stations_query": "",
                "timeout_s": 0.5,
                "max_bytes": 1_000_000,
                "interval_s": 600.0,
                **ea,
            },
            "replay": {"enabled": True, "path": str(REPLAY_CSV), "speed": 3600.0},
        },
    )


def nan_payload() -> bytes:
    text = recorded("ea_measures_level_stage_latest_trimmed.json").decode()
    # The first item stays good; a later reading's value becomes NaN.
    assert '"value": 0.169' in text
    return text.replace('"value": 0.169', '"value": NaN').encode()


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("timeout", "no answer within 0.5 s"),
        ("reset", "ServerDisconnectedError"),
        ("html", "an HTML or XML page, not JSON"),
        ("truncated", "not valid JSON"),
        ("huge", "body over the 1000000-byte cap"),
        ("declared_huge", "body of 52428800 bytes is over the 1000000-byte cap"),
        ("status_500", "HTTP 500"),
        ("nan", "NaN is not a JSON number"),
    ],
)
async def test_a_faulty_upstream_fails_its_source_only(
    app_client: AppClient, tmp_path: Path, upstream: Upstream, fault: str, error: str
) -> None:
    double, base = upstream
    if fault == "nan":
        double.serve(MEASURES, nan_payload())
    else:
        double.serve(MEASURES, recorded("ea_measures_level_stage_latest_trimmed.json"))
        double.fault(MEASURES, fault)  # type: ignore[arg-type]  # parametrised Fault names
    client = await app_client(config=config(tmp_path, base), clock=ManualClock(NOW))
    feeds = runtime(client)
    ea = feeds.pollers["ea"]

    assert await ea.poll() is None

    assert ea.state.status == "failing"
    assert error in ea.state.last_error
    assert ea.state.consecutive_failures == 1
    assert await stored(client, "ea-1029TH") == []  # nothing from the bad payload
    # The other source still runs, and the app stays healthy: one feed is not critical.
    assert await feeds.pollers["replay"].poll() is not None
    assert len(await stored(client, "71520")) == 1
    health = await client.get("/healthz")
    body = await health.json()
    assert health.status == 200
    assert body["components"]["feeds.ea"]["status"] == "failing"
    assert body["components"]["feeds.replay"]["status"] == "ok"
    metrics = await (await client.get("/metrics")).text()
    assert 'canhbao_feeds_source_up{source="ea"} 0.0' in metrics
    assert 'canhbao_feeds_source_consecutive_failures{source="ea"} 1.0' in metrics
    assert 'canhbao_feeds_source_up{source="replay"} 1.0' in metrics
    # The poller keeps going: once the upstream mends, the next poll stores the payload.
    double.serve(MEASURES, recorded("ea_measures_level_stage_latest_trimmed.json"))
    assert await ea.poll() is not None
    assert ea.state.as_json()["status"] == "ok"
    assert [r["value"] for r in await stored(client, "ea-1029TH")] == [0.392]


async def test_backoff_grows_while_failing_and_outage_and_recovery_log_once(
    app_client: AppClient,
    tmp_path: Path,
    upstream: Upstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    double, base = upstream
    double.serve(MEASURES, recorded("ea_measures_level_stage_latest_trimmed.json"))
    fault: Fault = "status_500"
    double.fault(MEASURES, fault)
    clock = ManualClock(NOW)
    client = await app_client(config=config(tmp_path, base), clock=clock)
    ea = runtime(client).pollers["ea"]
    caplog.set_level(logging.INFO, logger="feeds.poller")

    waits = []
    for _ in range(4):
        await ea.run()
        assert ea.state.next_attempt_at is not None
        wait = ea.state.next_attempt_at - clock.now()
        waits.append(wait)
        asked = len(double.requests_to(MEASURES))
        clock.advance(wait - timedelta(seconds=1))
        await ea.run()  # still backing off: the upstream is not asked
        assert len(double.requests_to(MEASURES)) == asked
        clock.advance(timedelta(seconds=1))

    # 600 s, then 1200, 2400, 3600 (the cap), each with up to 10 % jitter.
    for wait, base_s in zip(waits, (600, 1200, 2400, 3600), strict=True):
        assert timedelta(seconds=base_s) <= wait <= timedelta(seconds=base_s * 1.1)
    assert ea.state.consecutive_failures == 4
    double.fault(MEASURES, None)
    await ea.run()
    assert ea.state.status == "ok"
    assert ea.state.consecutive_failures == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "feeds.poller"]
    assert messages == ["feed source failing", "feed source recovered"]


async def test_conditional_requests_use_the_upstream_validators(
    app_client: AppClient, tmp_path: Path, upstream: Upstream
) -> None:
    double, base = upstream
    double.serve(
        MEASURES,
        recorded("ea_measures_level_stage_latest_trimmed.json"),
        etag='"m-1"',
        last_modified="Mon, 02 Feb 2026 23:45:00 GMT",
    )
    client = await app_client(config=config(tmp_path, base), clock=ManualClock(NOW))
    ea = runtime(client).pollers["ea"]

    first = await ea.poll()
    second = await ea.poll()

    assert first is not None
    assert first.accepted == 1
    assert second is not None
    assert second.accepted == 0
    sent = double.requests_to(MEASURES)
    assert "If-None-Match" not in sent[0].headers
    assert sent[1].headers["If-None-Match"] == '"m-1"'
    assert sent[1].headers["If-Modified-Since"] == "Mon, 02 Feb 2026 23:45:00 GMT"
    assert double.not_modified == 1
    assert ea.state.status == "ok"


async def test_validators_of_a_failed_poll_are_not_kept(
    app_client: AppClient, tmp_path: Path, upstream: Upstream
) -> None:
    double, base = upstream
    double.serve(MEASURES, nan_payload(), etag='"bad"')
    client = await app_client(config=config(tmp_path, base), clock=ManualClock(NOW))
    ea = runtime(client).pollers["ea"]

    assert await ea.poll() is None
    double.serve(MEASURES, recorded("ea_measures_level_stage_latest_trimmed.json"), etag='"bad"')
    report = await ea.poll()

    # Had the ETag of the bad answer been kept, the mended one would be a 304 and lost.
    assert "If-None-Match" not in double.requests_to(MEASURES)[1].headers
    assert report is not None
    assert report.accepted == 1


async def test_sources_state_in_the_api(
    app_client: AppClient, tmp_path: Path, upstream: Upstream
) -> None:
    double, base = upstream
    double.serve(MEASURES, recorded("ea_measures_level_stage_latest_trimmed.json"))
    client = await app_client(config=config(tmp_path, base), clock=ManualClock(NOW))
    await runtime(client).pollers["ea"].poll()

    body = await (await client.get("/api/v1/feeds/sources")).json()

    states = {s["name"]: s for s in body["sources"]}
    assert states["ea"]["status"] == "ok"
    assert states["ea"]["readings_accepted"] == 1
    assert states["ea"]["last_success_at"] == "2026-02-03T00:00:00.000000+00:00"
    assert states["replay"]["status"] == "idle"
    assert client.app is not None
    assert client.app[keys.HEALTH].components["feeds.ea"].critical is False
