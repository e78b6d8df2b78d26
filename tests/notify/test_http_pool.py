"""The FCM send path's HTTP/1.1 pool against a raw server that answers as we script it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httptools
import pytest

from notify.firebase import _encode, _encode_once
from notify.http_pool import Http1Pool, header_lines
from notify.models import PushMessage

Script = Callable[[int, bytes], bytes | None]  # (request number, body) → raw answer, None: hang up


@dataclass
class RawServer:
    """Reads HTTP/1.1 requests (Content-Length bodies) and writes whatever the script says."""

    script: Script
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                answer = self.script(len(self.requests), body)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


Serve = Callable[[Script], Awaitable[RawServer]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start raw servers on ephemeral ports; all closed after the test."""
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> RawServer:
        raw = RawServer(script)
        server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
        servers.append(server)
        raw.port = server.sockets[0].getsockname()[1]
        return raw

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def pool_for(serve: Serve, script: Script) -> tuple[Http1Pool, RawServer]:
    raw = await serve(script)
    return Http1Pool(f"http://127.0.0.1:{raw.port}", 4), raw


HEADERS = header_lines({"Authorization": "Bearer t", "Content-Type": "application/json"})


async def test_keep_alive_reuses_one_connection_and_reads_chunked_answers(
    serve: Serve,
) -> None:
    def script(n: int, body: bytes) -> bytes:
        if n == 2:
            return (
                b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            )
        return ok(b'{"name":"m%d"}' % n)

    pool, raw = await pool_for(serve, script)
    first = await pool.post("/send", HEADERS, b"{}", 5)
    assert (first.status, first.body) == (200, b'{"name":"m1"}')
    second = await pool.post("/send", HEADERS, b"{}", 5)
    assert (second.status, second.body) == (429, b"hello world")
    assert second.headers["retry-after"] == "7"  # names are case-insensitive
    third = await pool.post("/send", HEADERS, b'{"x":1}', 5)
    assert third.status == 200
    assert raw.connections == 1
    assert raw.requests[2].startswith(b"POST /send HTTP/1.1\r\nHost: 127.0.0.1:")
    assert raw.requests[2].endswith(b'Content-Length: 7\r\n\r\n{"x":1}')
    await pool.close()


async def test_an_answer_saying_connection_close_is_not_reused(
    serve: Serve,
) -> None:
    pool, raw = await pool_for(serve, lambda n, _: ok(b"{}", b"Connection: close\r\n"))
    for _ in range(3):
        assert (await pool.post("/send", HEADERS, b"{}", 5)).status == 200
    assert raw.connections == 3
    await pool.close()


async def test_a_reused_connection_the_server_dropped_sends_once_more_on_a_new_one(
    serve: Serve,
) -> None:
    # The second request lands on a connection the server closes without answering (as an idle
    # keep-alive connection is closed): it goes once more, on a new connection.
    pool, raw = await pool_for(serve, lambda n, _: None if n == 2 else ok(b"{}"))
    assert (await pool.post("/send", HEADERS, b"{}", 5)).status == 200
    assert (await pool.post("/send", HEADERS, b"{}", 5)).status == 200
    assert (len(raw.requests), raw.connections) == (3, 2)
    await pool.close()


async def test_a_new_connection_dropped_before_the_answer_is_an_error_not_a_resend(
    serve: Serve,
) -> None:
    pool, raw = await pool_for(serve, lambda n, _: None)
    with pytest.raises(ConnectionError):
        await pool.post("/send", HEADERS, b"{}", 5)
    assert len(raw.requests) == 1  # the server may have acted on it: not sent twice
    await pool.close()


async def test_no_answer_in_time_is_a_timeout_and_the_connection_is_dropped(
    serve: Serve,
) -> None:
    def script(n: int, _: bytes) -> bytes | None:
        return ok(b"{}") if n > 1 else b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"

    pool, raw = await pool_for(serve, script)
    with pytest.raises(TimeoutError):
        await pool.post("/send", HEADERS, b"{}", 0.2)
    assert (await pool.post("/send", HEADERS, b"{}", 5)).status == 200
    assert raw.connections == 2  # the half-answered connection was not reused
    await pool.close()


async def test_a_garbled_answer_is_a_parser_error(serve: Serve) -> None:
    pool, _ = await pool_for(serve, lambda n, _: b"SMTP ready\r\n\r\n")
    with pytest.raises(httptools.HttpParserError):
        await pool.post("/send", HEADERS, b"{}", 5)
    await pool.close()


def test_header_values_cannot_split_the_request() -> None:
    with pytest.raises(ValueError, match="line break"):
        header_lines({"Authorization": "Bearer t\r\nX-Evil: 1"})


@pytest.mark.parametrize(
    "message",
    [
        PushMessage("token", "tok-1:" + "a" * 40, "Cảnh báo lũ", "Sơ tán ngay", {"k": "v"}),
        PushMessage("token", "tok-2:" + "b" * 40, "Lũ", "x", {}, "chain", "tag", 3600, False),
        # Text that quotes the placeholder itself must not fool the template.
        PushMessage("token", "tok-3:" + "c" * 40, '"canhbao-target-placeholder"', "b", {}),
    ],
)
def test_token_messages_from_the_template_equal_the_librarys_own_encoding(
    message: PushMessage,
) -> None:
    now = datetime(2025, 11, 16, 9, 0, 0, 500_000, tzinfo=UTC)
    cached = _encode(message, now)
    assert json.loads(cached) == json.loads(_encode_once(message, now.replace(microsecond=0)))
    assert json.loads(cached)["message"]["token"] == message.target
