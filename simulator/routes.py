"""/api/v1/simulator/...: the Local mode's phone, call and SMS simulators (staff; audited)."""

from __future__ import annotations

from collections.abc import Awaitable

from aiohttp import web

from canhbao import keys
from canhbao.api import answer, endpoint
from canhbao.audit import record_audit
from canhbao.auth import Role, require_roles
from canhbao.auth.middleware import require_principal
from canhbao.http import ApiError
from simulator.calls import CallSimulator, Turn, text_hotline
from simulator.errors import CallOver, UnknownCall, WebhookFailed
from simulator.phone import PhoneSimulator
from simulator.ports import WebhooksFor
from simulator.schemas import (
    CallBody,
    CallTurn,
    DeviceList,
    DigitsBody,
    NotificationList,
    PageQuery,
    SimulatedCallPath,
    SimulatedDevicePath,
    SmsBody,
    SmsReply,
)

STAFF = (Role.issuer, Role.approver, Role.operator, Role.dispatcher)
ENTITY = "simulator"

PHONE = web.AppKey("simulator_phone", PhoneSimulator)
CALLS = web.AppKey("simulator_calls", CallSimulator)
# Our own webhooks for this request (signed as Twilio signs them, sent to this server).
WEBHOOKS = web.AppKey("simulator_webhooks", WebhooksFor)
# Which simulators are on: (push is Local, telephony is Local).
LOCAL = web.AppKey("simulator_local", tuple)


def _on(request: web.Request, which: int, name: str) -> None:
    if not request.app[LOCAL][which]:
        raise ApiError(
            404,
            "simulator_off",
            f"the {name} simulator needs the Local provider"
            f' ({"push" if which == 0 else "telephony"}.provider = "local")',
        )


async def _audit(
    request: web.Request, action: str, entity_id: str, after: dict[str, object]
) -> None:
    app = request.app
    async with app[keys.DB].transaction() as conn:
        await record_audit(
            conn,
            at=app[keys.CLOCK].now(),
            actor=require_principal(request).actor,
            action=f"simulator.{action}",
            entity=ENTITY,
            entity_id=entity_id,
            before=None,
            after=after,
        )


def _turn(turn: Turn) -> web.Response:
    return answer(
        CallTurn,
        {
            "call_sid": turn.call_sid,
            "status": turn.status,
            "prompts": list(turn.prompts),
            "expects": turn.expects,
            "queue_position": turn.queue_position,
            "wait_s": turn.wait_s,
            "dialed": list(turn.dialed),
        },
    )


async def _calling(work: Awaitable[Turn]) -> Turn:
    try:
        return await work
    except UnknownCall as err:
        raise ApiError(404, "not_found", str(err)) from None
    except CallOver as err:
        raise ApiError(409, "call_over", str(err)) from None
    except WebhookFailed as err:
        raise ApiError(502, "webhook_failed", str(err)) from None


@require_roles(*STAFF)
@endpoint(responses={200: DeviceList})
async def list_devices(request: web.Request, query: PageQuery) -> web.Response:
    """Registered citizen devices, newest first, with their topics (Local push only)."""
    _on(request, 0, "phone")
    found = await request.app[PHONE].devices(query.limit)
    return answer(
        DeviceList,
        {
            "devices": [
                {
                    "device_id": device.device_id,
                    "platform": device.platform,
                    "language": device.language,
                    "has_token": device.token is not None,
                    "lat": device.lat,
                    "lon": device.lon,
                    "topics": sorted(topics),
                }
                for device, topics in found
            ]
        },
    )


@require_roles(*STAFF)
@endpoint(responses={200: NotificationList})
async def device_notifications(
    request: web.Request, path: SimulatedDevicePath, query: PageQuery
) -> web.Response:
    """What the Local push provider delivered to one device, newest first: to its token, and to
    the topics (or topic conditions) it is subscribed to."""
    _on(request, 0, "phone")
    phone = request.app[PHONE]
    device = await phone.device(path.device_id)
    if device is None:
        raise ApiError(404, "not_found", "no such device")
    received = await phone.notifications(device, query.limit)
    return answer(
        NotificationList,
        {
            "device_id": device.device_id,
            "notifications": [
                {
                    "id": item.push.id,
                    "title": item.push.title,
                    "body": item.push.body,
                    "language": item.language,
                    "arrived_at": item.push.recorded_at,
                    "identifier": item.push.data.get("identifier"),
                    "msg_type": item.push.data.get("msgType"),
                    "severity": item.push.data.get("severity"),
                    "via": item.push.target_kind,
                    "target": "this device"
                    if item.push.target_kind == "token"
                    else item.push.target,
                }
                for item in received
            ],
        },
    )


@require_roles(*STAFF)
@endpoint(responses={200: CallTurn})
async def start_call(request: web.Request, body: CallBody) -> web.Response:
    """Call the hotline from `from`: /twilio/voice as Twilio requests it (signed with the local
    auth token); the prompts the caller hears and what the call waits for."""
    _on(request, 1, "call")
    webhooks = request.app[WEBHOOKS](request)
    turn = await _calling(request.app[CALLS].start(body.from_, webhooks))
    await _audit(request, "call", turn.call_sid, {"from": body.from_})
    return _turn(turn)


@require_roles(*STAFF)
@endpoint(responses={200: CallTurn})
async def press_digits(
    request: web.Request, path: SimulatedCallPath, body: DigitsBody
) -> web.Response:
    """Keys pressed (or words said) on a simulated call; both empty: the caller stays silent."""
    _on(request, 1, "call")
    webhooks = request.app[WEBHOOKS](request)
    return _turn(
        await _calling(request.app[CALLS].press(path.sid, body.digits, body.speech, webhooks))
    )


@require_roles(*STAFF)
@endpoint(responses={200: CallTurn})
async def hang_up(request: web.Request, path: SimulatedCallPath) -> web.Response:
    """The caller hangs up: the queue's action (if queued) and the status callback, as Twilio."""
    _on(request, 1, "call")
    webhooks = request.app[WEBHOOKS](request)
    turn = await _calling(request.app[CALLS].hang_up(path.sid, webhooks))
    await _audit(request, "hangup", turn.call_sid, {})
    return _turn(turn)


@require_roles(*STAFF)
@endpoint(responses={200: SmsReply})
async def send_sms(request: web.Request, body: SmsBody) -> web.Response:
    """Text the hotline from `from`: /twilio/sms as Twilio requests it; the texts answered."""
    _on(request, 1, "SMS")
    calls = request.app[CALLS]
    try:
        sid, replies = await text_hotline(
            request.app[WEBHOOKS](request), calls.base_url, calls.hotline, body.from_, body.body
        )
    except WebhookFailed as err:
        raise ApiError(502, "webhook_failed", str(err)) from None
    await _audit(request, "sms", sid, {"from": body.from_, "body": body.body})
    return answer(SmsReply, {"message_sid": sid, "replies": replies})


def setup_routes(app: web.Application) -> None:
    base = "/api/v1/simulator"
    app.router.add_get(f"{base}/devices", list_devices)
    app.router.add_get(f"{base}/devices/{{device_id}}/notifications", device_notifications)
    app.router.add_post(f"{base}/calls", start_call)
    app.router.add_post(f"{base}/calls/{{sid}}/digits", press_digits)
    app.router.add_post(f"{base}/calls/{{sid}}/hangup", hang_up)
    app.router.add_post(f"{base}/sms", send_sms)
