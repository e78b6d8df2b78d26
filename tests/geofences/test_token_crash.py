"""A token FCM refused survives SIGKILL between the send's recorded outcome and its drop.

A real `canhbao serve` (the sender in serve's process, geofences in the web process) against the
FCM double in its own process, which has forgotten one device's token. The device registers; its
topic subscriptions go out through the outbox and FCM answers UNREGISTERED for its token. The
sender records the outcome and the durable PushTokenRejected in one transaction. The device
registry cannot write (a trigger the test put on its table refuses the drop), so its subscriber
fails and retries, shown in /healthz, and the token is still there when serve is killed with
SIGKILL. Restarted with the trigger gone, the web process delivers the stored event from the
registry's cursor and the token is dropped.
"""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
import pytest

from tests.doubles.processes import free_port, start_fcm_double, stop
from tests.feeds import test_event_crash as event_crash
from tests.feeds.test_event_crash import health, query, run_cli, serve, until
from tests.geofences.conftest import PHU_XUAN, fcm_token

PROJECT = "canhbao-token-crash"
SUBSCRIBER = "geofences.drop_token"


def config_text(port: int, fcm_port: int) -> str:
    """The threshold-event crash test's serve, with FCM (the double) and quick topic flushes."""
    return (
        event_crash.config_text(port)
        + f"""
[geofences]
topic_flush_interval_s = 0.2

[push]
provider = "firebase"

[push.firebase]
project_id = "{PROJECT}"
endpoint = "http://127.0.0.1:{fcm_port}"
"""
    )


def device_token(database: Path, device_id: str) -> str | None:
    rows = query(database, "SELECT token FROM geofences_devices WHERE public_id = ?", (device_id,))
    return str(rows[0]["token"]) if rows[0]["token"] is not None else None


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_sigkill_between_the_rejection_commit_and_the_drop_then_dropped_after_restart(
    tmp_path: Path,
) -> None:
    token = fcm_token()
    fcm, fcm_port, credentials = await start_fcm_double(tmp_path, PROJECT, "--unregistered", token)
    env = {"CANHBAO_FIREBASE_CREDENTIALS": str(credentials)}
    try:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        config = tmp_path / "config.toml"
        config.write_text(config_text(port, fcm_port), encoding="utf-8")
        database = tmp_path / "canhbao.sqlite3"
        await run_cli(tmp_path, config, "areas", "load-hue")
        # The registry's drop fails (an OperationalError-like abort, as a full disk would give).
        query(
            database,
            "CREATE TRIGGER refuse_drops BEFORE UPDATE OF token ON geofences_devices"
            " WHEN NEW.token IS NULL BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )

        first = await serve(tmp_path, config, base_url, 1, env)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.post(
                    f"{base_url}/api/v1/devices",
                    json={
                        "token": token,
                        "platform": "android",
                        "language": "vi",
                        "location": {"lon": PHU_XUAN[0], "lat": PHU_XUAN[1], "accuracy_m": 20},
                    },
                ) as response,
            ):
                answer = await response.json()
            assert response.status == 201, answer
            device_id = str(answer["device_id"])

            async def failing() -> bool:
                body = await health(base_url)
                state = (body or {}).get("components", {}).get(f"events.{SUBSCRIBER}", {})
                return bool(state.get("status") == "degraded")

            await until(first, "the registry failing to drop the token", failing)
            # The outcome and the event are committed; the token is not dropped.
            events = query(
                database, "SELECT id, payload FROM event_log WHERE type = ?",
                ("notify.push_token_rejected",),
            )  # fmt: skip
            assert events
            assert all(token in row["payload"] for row in events)
            refused = query(
                database, "SELECT status, last_error FROM outbox WHERE channel = 'topic'"
            )
            assert refused
            assert all(row["status"] == "sent" for row in refused)
            assert all("UNREGISTERED" in row["last_error"] for row in refused)
            assert device_token(database, device_id) == token
        finally:
            first.process.send_signal(signal.SIGKILL)
            await first.process.wait()
        assert first.process.returncode == -signal.SIGKILL

        query(database, "DROP TRIGGER refuse_drops")
        second = await serve(tmp_path, config, base_url, 2, env)
        try:

            async def dropped() -> bool:
                cursor = query(
                    database,
                    "SELECT position FROM event_cursors WHERE subscriber = ?",
                    (SUBSCRIBER,),
                )
                last = max(row["id"] for row in events)
                return bool(cursor) and cursor[0]["position"] >= last

            await until(second, "the token dropped", dropped)
            assert device_token(database, device_id) is None
            components = (await health(base_url))["components"]
            assert components[f"events.{SUBSCRIBER}"]["status"] == "ok"
        finally:
            await stop(second.process)
    finally:
        await stop(fcm)
