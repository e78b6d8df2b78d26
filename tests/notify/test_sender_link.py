"""The outbox sender in its own app (serve's process) linked to the web app: one real SQLite file,
a real socket pair, both apps in this test's loop. The two processes of `canhbao serve` are
tested in test_serve_processes.py."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

import notify
from canhbao import keys
from canhbao.app import create_app
from canhbao.config import Config
from canhbao.errors import CanhbaoError
from notify import keys as notify_keys
from notify.events import PushTokenRejected
from notify.models import OutboxItem, SmsMessage
from notify.process import create_sender_app
from tests.conftest import AppClient, make_config

HOTLINE = "+8419001075"
DEADLINE_S = 20.0


@dataclass
class Linked:
    sender: web.Application
    web: TestClient[web.Request, web.Application]
    sender_sock: socket.socket
    lost: asyncio.Event


def linked_config(tmp_path: Path) -> Config:
    # A poll interval far longer than the test's deadline: only the link's kick can wake the
    # sender in time.
    return make_config(tmp_path, {"outbox": {"poll_interval_s": 600.0}})


@pytest.fixture
async def linked(tmp_path: Path, aiohttp_client: AppClient) -> AsyncIterator[Linked]:
    config = linked_config(tmp_path)
    ours, theirs = socket.socketpair()
    lost = asyncio.Event()
    app = create_app(config, remote_sender=notify.RemoteSender(theirs, lost.set))
    client = await aiohttp_client(app)  # type: ignore[call-arg]  # the pytest-aiohttp factory
    # Started after the web app, which migrates the database (as in `canhbao serve`).
    sender = create_sender_app(config)
    runner = web.AppRunner(sender)
    await runner.setup()
    try:
        reader, writer = await asyncio.open_connection(sock=ours)
        link = asyncio.create_task(sender[notify.SENDER_END].serve(reader, writer))
        try:
            yield Linked(sender, client, ours, lost)
        finally:
            writer.close()
            link.cancel()
            await asyncio.gather(link, return_exceptions=True)
    finally:
        await runner.cleanup()


async def until(condition: Callable[[], object], what: str) -> None:
    """The sender acts on the far side of a socket, in its own time: poll, within a deadline."""
    try:
        async with asyncio.timeout(DEADLINE_S):
            while not await _value(condition):  # noqa: ASYNC110  # see the docstring
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def _value(condition: Callable[[], object]) -> object:
    value = condition()
    if asyncio.iscoroutine(value):
        return await value
    return value


def sms_items(count: int) -> list[OutboxItem]:
    return [
        OutboxItem(
            "sms",
            SmsMessage(to=f"+8490{n:07d}", body=f"Cảnh báo lũ #{n}", sender=HOTLINE),
            f"link-sms-{n}",
            "link",
        )
        for n in range(count)
    ]


async def test_rows_enqueued_by_the_web_app_are_sent_by_the_sender_at_once(
    linked: Linked,
) -> None:
    web_outbox = linked.web.app[notify_keys.OUTBOX]
    assert await web_outbox.enqueue(sms_items(20)) == 20

    async def all_sent() -> bool:
        return (await web_outbox.counts("link")).get("sms", {}).get("sent", 0) == 20

    await until(all_sent, "the sender to send what the web app enqueued")


async def test_web_healthz_and_metrics_show_the_sender(linked: Linked) -> None:
    await linked.web.app[notify_keys.OUTBOX].enqueue(sms_items(5))

    async def sent_in_metrics() -> bool:
        text = await (await linked.web.get("/metrics")).text()
        return 'outbox_messages_total{channel="sms",outcome="sent"} 5.0' in text

    await until(sent_in_metrics, "the sender's counters in the web app's /metrics")
    text = await (await linked.web.get("/metrics")).text()
    assert 'outbox_queue_depth{channel="sms",status="queued"}' in text
    assert "outbox_sender_process_cpu_seconds_total" in text
    assert "\nprocess_cpu_seconds_total" in text  # the web process's own, apart

    response = await linked.web.get("/healthz")
    assert response.status == 200
    outbox = (await response.json())["components"]["outbox"]
    assert outbox["status"] == "ok"
    assert outbox["critical"] is True

    # The sender failing is the web app's /healthz failing: the outbox is critical.
    linked.sender[keys.HEALTH].report("outbox", "failing", "claim failed: disk I/O error")

    async def failing() -> bool:
        response = await linked.web.get("/healthz")
        body = await response.json()
        return response.status == 503 and body["components"]["outbox"]["status"] == "failing"

    await until(failing, "the sender's failure in the web app's /healthz")


async def test_a_token_the_sender_saw_rejected_reaches_the_web_apps_bus(linked: Linked) -> None:
    heard: asyncio.Future[PushTokenRejected] = asyncio.get_running_loop().create_future()

    async def listen(event: PushTokenRejected) -> None:
        if not heard.done():
            heard.set_result(event)

    linked.web.app[keys.BUS].subscribe(PushTokenRejected, listen)
    await linked.sender[keys.BUS].publish(PushTokenRejected("gone-token", "UNREGISTERED"))
    async with asyncio.timeout(DEADLINE_S):
        assert await heard == PushTokenRejected("gone-token", "UNREGISTERED")


async def test_the_web_app_stops_when_the_sender_goes(linked: Linked) -> None:
    linked.sender_sock.shutdown(socket.SHUT_RDWR)
    async with asyncio.timeout(DEADLINE_S):
        await linked.lost.wait()


async def test_a_second_sender_on_the_same_database_is_refused(
    linked: Linked, tmp_path: Path
) -> None:
    second = web.AppRunner(create_sender_app(linked_config(tmp_path)))
    with pytest.raises(notify.SenderBusy, match="another process sends") as refused:
        await second.setup()
    await second.cleanup()
    # `canhbao serve` reports a CanhbaoError in one line and exits 2.
    assert isinstance(refused.value, CanhbaoError)
