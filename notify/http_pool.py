"""A lean HTTP/1.1 keep-alive client for one origin: the FCM send path's transport.

Why not the shared aiohttp session: per request, aiohttp's client spends about 150 µs of Python
on things one fixed POST does not need (cookie jars, redirects, tracing, a task per request),
which caps a process at a few thousand FCM sends a second. Here a request is its header bytes
written to a pooled connection and its answer parsed by httptools (llhttp, the parser Node.js
uses): about 30 µs. Everything else (OAuth, topic management) stays on the shared session.

Errors, drawn as we raise them:

    ConnectionError      the connection failed or closed before the whole answer came
    TimeoutError         no whole answer within the timeout (the connection is dropped)
    httptools.HttpParserError   the answer was not HTTP/1.1 (the connection is dropped)

A request written to a connection the server had already closed while it sat idle (keep-alive
timeouts) is sent once more on a new connection: nothing of it was read by the server.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict

# Idle connections older than this are closed rather than reused: servers drop idle keep-alive
# connections after a while (Google's front ends after a few minutes), and a request written to
# one of those is lost (and must be sent again).
IDLE_S = 30.0


@dataclass
class Answer:
    status: int
    headers: CIMultiDict[str]
    body: bytes


@dataclass
class _Reading:
    """Parser callbacks' state for the answer being read."""

    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    chunks: list[bytes] = field(default_factory=list)
    name: bytes = b""
    done: bool = False


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self.received = 0  # bytes of the current answer so far
        self._reading = _Reading()
        self._parser = httptools.HttpResponseParser(self)

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # create_connection: a stream

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as err:
            self._fail(err)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionError(f"connection closed: {exc or 'by the server'}"))

    # -- httptools callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._reading.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_body(self, body: bytes) -> None:
        self._reading.chunks.append(body)

    def on_message_complete(self) -> None:
        reading, self._reading = self._reading, _Reading()
        answer = Answer(self._parser.get_status_code(), reading.headers, b"".join(reading.chunks))
        if not self._parser.should_keep_alive():
            self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    # -- ours -------------------------------------------------------------------------------

    def request(self, data: bytes) -> asyncio.Future[Answer]:
        waiter: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        if self.transport is None or self.closed:
            waiter.set_exception(ConnectionError("connection closed"))
            return waiter
        self.waiter = waiter
        self.received = 0
        self.transport.write(data)
        return waiter

    def _fail(self, err: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http1Pool:
    """Up to `max_connections` keep-alive connections to one origin, one request on each."""

    def __init__(
        self, base_url: str, max_connections: int, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = (
            (ssl_context or ssl.create_default_context()) if parts.scheme == "https" else None
        )
        self._host_header = parts.netloc.encode("idna")
        self._idle: collections.deque[_Connection] = collections.deque()
        self._slots = asyncio.Semaphore(max_connections)
        self._open: set[_Connection] = set()

    async def post(self, path: str, headers: bytes, body: bytes, timeout_s: float) -> Answer:
        """POST `body` to `path`; `headers` are complete header lines (each ending CRLF)."""
        data = b"".join(
            (
                b"POST ",
                path.encode("ascii"),
                b" HTTP/1.1\r\nHost: ",
                self._host_header,
                b"\r\n",
                headers,
                b"Content-Length: ",
                str(len(body)).encode("ascii"),
                b"\r\n\r\n",
                body,
            )
        )
        async with self._slots:
            connection, reused = await self._checkout()
            try:
                async with asyncio.timeout(timeout_s):
                    try:
                        answer = await connection.request(data)
                    except ConnectionError:
                        if not (reused and connection.received == 0):
                            raise
                        # The server had closed this idle connection: it read nothing of ours.
                        connection, reused = await self._connect(), False
                        answer = await connection.request(data)
            except BaseException:
                connection.close()
                self._open.discard(connection)
                raise
            self._checkin(connection)
            return answer

    async def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()

    async def _checkout(self) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # the most recently used: least likely closed
            if not connection.closed and now - connection.idle_since < IDLE_S:
                return connection, True
            connection.close()
            self._open.discard(connection)
        return await self._connect(), False

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            _Connection,
            self.host,
            self.port,
            ssl=self._ssl,
            server_hostname=self.host if self._ssl else None,
        )
        self._open.add(connection)
        return connection

    def _checkin(self, connection: _Connection) -> None:
        if connection.closed:
            self._open.discard(connection)
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)


def header_lines(headers: dict[str, str]) -> bytes:
    """Header lines for Http1Pool.post, refusing a value that could split the request."""
    lines = []
    for name, value in headers.items():
        if any(c in name + value for c in "\r\n\0"):
            raise ValueError(f"header {name!r} contains a line break")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")
