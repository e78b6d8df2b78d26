"""A local Twilio REST double: Messages.json and Calls.json, Twilio's errors, scripted failures.

It speaks the wire format the real twilio library expects under
`/2010-04-01/Accounts/{AccountSid}/`: form-encoded creates answered with 201 and the resource
JSON, list endpoints with Twilio's paging envelope and filters, HTTP Basic auth with the account
SID and auth token, and error bodies `{"code", "message", "more_info", "status"}`.

As a subprocess: `python -m tests.doubles.twilio --port 0 [--record FILE]` prints `PORT <n>` once
it listens, appends one JSON line per created resource to FILE —
`{"kind": "message"|"call", "resource": {...}, "params": {field: [values]}}` — and stops on
SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import signal
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any, TextIO

from aiohttp import hdrs, web
from multidict import MultiDict, MultiDictProxy

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "double-auth-token"
API_VERSION = "2010-04-01"
MAX_BODY_CHARS = 1600
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

_REASONS = {
    400: "Bad Request",
    401: "Authenticate",
    403: "Forbidden",
    404: "The requested resource was not found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_MESSAGE_STATUSES = {"queued", "sending", "sent", "delivered", "undelivered", "failed"}
_CALL_STATUSES = {
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
}


@dataclass
class _Failure:
    status: int
    code: int
    message: str
    retry_after: int | str | None


class TwilioDouble:
    """The double's state and its aiohttp app (`double.app`); tests inspect and script it."""

    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        clock: Callable[[], datetime] | None = None,
        record_path: Path | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._clock = clock or (lambda: datetime.now(UTC))
        self._record_path = record_path
        self._record: TextIO | None = None
        self.messages: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        # The form fields of each create, by sid: StatusCallback, Twiml and the like are not part
        # of the resource JSON Twilio returns, but tests need to see what the library sent.
        self.params: dict[str, MultiDict[str]] = {}
        # Numbers Twilio would refuse: not valid (21211) or opted out with STOP (21610).
        self.invalid_numbers: set[str] = set()
        self.unsubscribed_numbers: set[str] = set()
        self.requests = 0
        self._failures: list[_Failure] = []
        self._stalls: list[float] = []
        self.app = web.Application()
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        self.app.router.add_post(f"{base}/Messages.json", self._create_message)
        self.app.router.add_get(f"{base}/Messages.json", self._list_messages)
        self.app.router.add_post(f"{base}/Calls.json", self._create_call)
        self.app.router.add_get(f"{base}/Calls.json", self._list_calls)
        self.app.on_cleanup.append(self._close_record)

    # --- scripting -------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        code: int | None = None,
        retry_after: int | str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `count` authenticated requests with this Twilio error."""
        failure = _Failure(
            status=status,
            code=code if code is not None else 20000 + status,
            message=message or _REASONS.get(status, "Error"),
            retry_after=retry_after,
        )
        self._failures.extend([failure] * count)

    def stall_next(self, seconds: float, count: int = 1) -> None:
        """Hold the next `count` requests this long before answering (to exercise timeouts)."""
        self._stalls.extend([seconds] * count)

    def set_status(self, sid: str, status: str) -> None:
        """Move a message or call on, as Twilio would: stamps date_sent, start_time, end_time."""
        now = _rfc2822(self._clock())
        for message in self.messages:
            if message["sid"] == sid:
                if status not in _MESSAGE_STATUSES:
                    raise ValueError(f"not a message status: {status}")
                message.update(status=status, date_updated=now)
                if status in ("sent", "delivered") and message["date_sent"] is None:
                    message["date_sent"] = now
                return
        for call in self.calls:
            if call["sid"] == sid:
                if status not in _CALL_STATUSES:
                    raise ValueError(f"not a call status: {status}")
                call.update(status=status, date_updated=now)
                if status == "in-progress" and call["start_time"] is None:
                    call["start_time"] = now
                if status == "completed":
                    call["start_time"] = call["start_time"] or now
                    call["end_time"] = now
                return
        raise KeyError(sid)

    # --- handlers --------------------------------------------------------------------------

    async def _create_message(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        form = MultiDict(await request.post())
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not sender:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY_CHARS:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        refused = self._check_number(to)
        if refused is not None:
            return refused
        if to in self.unsubscribed_numbers:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + uuid.uuid4().hex
        now = _rfc2822(self._clock())
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        message: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }
        self._keep("message", message, form)
        self.messages.append(message)
        return web.json_response(message, status=201)

    async def _create_call(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        form = MultiDict(await request.post())
        to, sender = form.get("To", ""), form.get("From", "")
        if not to:
            return _error(400, 21201, "No 'To' number is specified")
        if not sender:
            return _error(400, 21213, "No 'From' number is specified")
        if not form.get("Url") and not form.get("Twiml"):
            return _error(400, 21205, "Url parameter is required.")
        refused = self._check_number(to)
        if refused is not None:
            return refused
        sid = "CA" + uuid.uuid4().hex
        now = _rfc2822(self._clock())
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{sid}"
        call: dict[str, Any] = {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": sender,
            "from_formatted": sender,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": None,
            "status": "queued",
            "subresource_uris": {
                "notifications": f"{uri}/Notifications.json",
                "recordings": f"{uri}/Recordings.json",
            },
            "to": to,
            "to_formatted": to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }
        self._keep("call", call, form)
        self.calls.append(call)
        return web.json_response(call, status=201)

    async def _list_messages(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        query = request.query
        found = _match(self.messages, query, "DateSent", "date_sent")
        return self._page(request, "messages", found)

    async def _list_calls(self, request: web.Request) -> web.Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        query = request.query
        found = _match(self.calls, query, "StartTime", "start_time")
        if "Status" in query:
            found = [call for call in found if call["status"] == query["Status"]]
        return self._page(request, "calls", found)

    # --- helpers ---------------------------------------------------------------------------

    async def _gate(self, request: web.Request) -> web.Response | None:
        """Auth, account, scripted stalls and failures: what every endpoint goes through first."""
        self.requests += 1
        if self._stalls:
            await asyncio.sleep(self._stalls.pop(0))
        if _basic_credentials(request.headers.get(hdrs.AUTHORIZATION, "")) != (
            self.account_sid,
            self.auth_token,
        ):
            response = _error(401, 20003, "Authenticate")
            response.headers[hdrs.WWW_AUTHENTICATE] = 'Basic realm="Twilio API"'
            return response
        if request.match_info["account_sid"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        if self._failures:
            failure = self._failures.pop(0)
            response = _error(failure.status, failure.code, failure.message)
            if failure.retry_after is not None:
                response.headers[hdrs.RETRY_AFTER] = str(failure.retry_after)
            return response
        return None

    def _check_number(self, number: str) -> web.Response | None:
        if number in self.invalid_numbers or not _looks_e164(number):
            return _error(400, 21211, f"The 'To' number {number} is not a valid phone number.")
        return None

    def _keep(self, kind: str, resource: dict[str, Any], form: MultiDict[str]) -> None:
        self.params[resource["sid"]] = form
        if self._record_path is None:
            return
        if self._record is None:
            self._record = self._record_path.open("a", encoding="utf-8")
        params: dict[str, list[str]] = {}
        for key, value in form.items():
            params.setdefault(key, []).append(value)
        line = {"kind": kind, "resource": resource, "params": params}
        self._record.write(json.dumps(line, ensure_ascii=False) + "\n")
        # Flushed per line: a test reads the file while the subprocess is still running.
        self._record.flush()

    def _page(self, request: web.Request, key: str, records: list[dict[str, Any]]) -> web.Response:
        query = request.query
        try:
            page_size = min(int(query.get("PageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
            page = int(query.get("Page", 0))
        except ValueError:
            return _error(400, 20001, "Invalid paging parameter")
        # Newest first, as Twilio lists them; date_created has whole seconds, so ties keep
        # the reverse order of creation.
        ordered = sorted(
            reversed(records), key=lambda r: _parse_rfc2822(r["date_created"]), reverse=True
        )
        start = page * page_size
        token = query.get("PageToken")
        if token is not None:
            sids = [r["sid"] for r in ordered]
            after = token.removeprefix("PA")
            start = sids.index(after) + 1 if after in sids else len(ordered)
        chunk = ordered[start : start + page_size]
        path = request.path

        def link(page_number: int, last_sid: str | None) -> str:
            kept = [(k, v) for k, v in query.items() if k not in ("Page", "PageToken", "PageSize")]
            kept += [("PageSize", str(page_size)), ("Page", str(page_number))]
            if last_sid is not None:
                kept.append(("PageToken", "PA" + last_sid))
            return str(request.url.with_path(path).with_query(kept).relative())

        more = start + page_size < len(ordered)
        envelope: dict[str, Any] = {
            key: chunk,
            "end": start + len(chunk) - 1 if chunk else start,
            "first_page_uri": link(0, None),
            "next_page_uri": link(page + 1, chunk[-1]["sid"]) if more and chunk else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": link(page - 1, None) if page > 0 else None,
            "start": start,
            "uri": link(page, None),
        }
        return web.json_response(envelope)

    async def _close_record(self, _app: web.Application) -> None:
        if self._record is not None:
            self._record.close()
            self._record = None


def _match(
    records: list[dict[str, Any]],
    query: MultiDictProxy[str],
    field: str,
    attribute: str,
) -> list[dict[str, Any]]:
    """Filter by To, From and a date field; Twilio compares only the date part (UTC) of it."""
    found = [
        r
        for r in records
        if ("To" not in query or r["to"] == query["To"])
        and ("From" not in query or r["from"] == query["From"])
    ]
    for suffix, keep in (
        ("", lambda d, bound: d == bound),
        (">", lambda d, bound: d >= bound),
        ("<", lambda d, bound: d <= bound),
    ):
        if field + suffix not in query:
            continue
        bound = _filter_date(query[field + suffix])
        # A message not yet sent (or a call not yet started) has no date: no date filter matches.
        found = [
            r
            for r in found
            if r[attribute] is not None and keep(_parse_rfc2822(r[attribute]).date(), bound)
        ]
    return found


def _filter_date(value: str) -> date:
    """The date of a filter value: `YYYY-MM-DD`, or the date part of `YYYY-MM-DDThh:mm:ssZ`."""
    return date.fromisoformat(value[:10])


def _error(status: int, code: int, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)


def _looks_e164(number: str) -> bool:
    digits = number.removeprefix("+")
    return number.startswith("+") and digits.isdigit() and 7 <= len(digits) <= 15


def _segments(body: str) -> int:
    # GSM-7 if every character is ASCII (close enough here), else UCS-2 in UTF-16 code units.
    if all(ord(ch) < 128 for ch in body):
        single, multi, length = 160, 153, len(body)
    else:
        single, multi, length = 70, 67, len(body.encode("utf-16-le")) // 2
    return 1 if length <= single else -(-length // multi)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def _parse_rfc2822(text: str) -> datetime:
    return parsedate_to_datetime(text)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    # Decoded by hand: aiohttp 3.14 deprecates BasicAuth, and warnings are errors in the tests.
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return login, password


async def _serve(port: int, record: Path | None, account_sid: str, auth_token: str) -> None:
    double = TwilioDouble(account_sid=account_sid, auth_token=auth_token, record_path=record)
    runner = web.AppRunner(double.app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    bound = runner.addresses[0][1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 = any")
    parser.add_argument("--record", type=Path, help="append each created resource to this file")
    parser.add_argument("--account-sid", default=ACCOUNT_SID)
    parser.add_argument("--auth-token", default=AUTH_TOKEN)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.record, args.account_sid, args.auth_token))


if __name__ == "__main__":
    main()
