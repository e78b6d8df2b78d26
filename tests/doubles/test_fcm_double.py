"""The FCM double refuses what FCM refuses, so a lenient double cannot hide a client's mistake."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from firebase_admin import credentials

from tests.doubles.fcm import (
    BAD_REQUEST_TYPE,
    FCM_ERROR_TYPE,
    GOOGLE_TOKEN_AUDIENCE,
    JWT_BEARER,
    RunningFcm,
    serve_fcm_double,
)

PROJECT = "canhbao-test"
TOKEN = "eHue0001:APA91bF-phu_vang.ward-01"

ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def fcm(aiohttp_server: ServerFactory, tmp_path: Path) -> RunningFcm:
    return await serve_fcm_double(aiohttp_server, tmp_path, PROJECT)


@pytest.fixture
async def access_token(fcm: RunningFcm) -> str:
    """An access token from the double, obtained by the real google-auth JWT grant."""
    certificate = credentials.Certificate(str(fcm.credentials_path))
    info = await asyncio.to_thread(certificate.get_access_token)
    return str(info.access_token)


async def post_message(
    fcm: RunningFcm, body: Any, token: str, project: str = PROJECT
) -> tuple[int, dict[str, Any], Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{fcm.endpoint}/v1/projects/{project}/messages:send",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status, dict(response.headers), await response.json()


def fcm_code(body: dict[str, Any]) -> str | None:
    for detail in body["error"].get("details", []):
        if detail["@type"] == FCM_ERROR_TYPE:
            return str(detail["errorCode"])
    return None


def violations(body: dict[str, Any]) -> list[str]:
    return [
        violation["field"]
        for detail in body["error"].get("details", [])
        if detail["@type"] == BAD_REQUEST_TYPE
        for violation in detail["fieldViolations"]
    ]


async def test_an_access_token_it_did_not_issue_is_unauthenticated(fcm: RunningFcm) -> None:
    status, headers, body = await post_message(fcm, {"message": {"token": TOKEN}}, "ya29.forged")

    assert status == 401
    assert body["error"]["status"] == "UNAUTHENTICATED"
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert fcm.double.accepted == []


async def test_another_project_is_permission_denied(fcm: RunningFcm, access_token: str) -> None:
    status, _, body = await post_message(
        fcm, {"message": {"token": TOKEN}}, access_token, project="someone-else"
    )

    assert status == 403
    assert body["error"]["status"] == "PERMISSION_DENIED"
    assert fcm_code(body) is None  # not SENDER_ID_MISMATCH: nothing about the token is known


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"token": TOKEN, "topic": "hue"}, "message"),
        ({"notification": {"title": "t"}}, "message"),
        ({"token": "short"}, "message.token"),
        ({"topic": "lũ lụt"}, "message.topic"),
        ({"condition": " || ".join(f"'t{i}' in topics" for i in range(6))}, "message.condition"),
        ({"token": TOKEN, "data": {"level": 3}}, "message.data"),
        ({"token": TOKEN, "android": {"ttl": 3600}}, "message.android.ttl"),
        ({"token": TOKEN, "android": {"priority": "urgent"}}, "message.android.priority"),
        ({"token": TOKEN, "apns": {"headers": {"apns-priority": 10}}}, "message.apns.headers"),
        ({"token": TOKEN, "data": {"blob": "x" * 5000}}, "message"),
        ({"token": TOKEN, "priority": "high"}, "message"),
    ],
    ids=[
        "two-targets",
        "no-target",
        "bad-token",
        "bad-topic",
        "6-topic-condition",
        "non-string-data",
        "numeric-ttl",
        "bad-priority",
        "numeric-apns-header",
        "5KB-payload",
        "unknown-field",
    ],
)
async def test_malformed_messages_are_invalid_argument(
    fcm: RunningFcm, access_token: str, message: dict[str, Any], field: str
) -> None:
    status, _, body = await post_message(fcm, {"message": message}, access_token)

    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"
    assert violations(body) == [field]
    assert fcm.double.accepted == []


async def test_a_dry_run_is_validated_but_not_delivered(fcm: RunningFcm, access_token: str) -> None:
    status, _, body = await post_message(
        fcm, {"message": {"token": TOKEN}, "validate_only": True}, access_token
    )

    assert status == 200
    assert body == {"name": f"projects/{PROJECT}/messages/fake_message_id"}
    assert fcm.double.accepted == []


async def test_scripted_failures_apply_to_the_next_requests_only(
    fcm: RunningFcm, access_token: str
) -> None:
    fcm.double.fail_next(503, count=2)
    message = {"message": {"token": TOKEN}}

    statuses = [(await post_message(fcm, message, access_token))[0] for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert fcm.double.accepted_count == 1


async def post_token_form(fcm: RunningFcm, form: dict[str, str]) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(fcm.server.make_url("/token"), data=form) as response,
    ):
        return response.status, await response.json()


def assertion(claims: dict[str, Any]) -> str:
    # Signed by a key the double has never seen.
    return jwt.encode(
        claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"
    )


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": JWT_BEARER}, "invalid_request"),
        ({"grant_type": JWT_BEARER, "assertion": "not.a.jwt"}, "invalid_grant"),
        (
            {
                "grant_type": JWT_BEARER,
                "assertion": assertion(
                    {
                        "iss": "x@canhbao-test.iam.gserviceaccount.com",
                        "aud": GOOGLE_TOKEN_AUDIENCE,
                        "iat": int(time.time()),
                        "exp": int(time.time()) + 600,
                    }
                ),
            },
            "invalid_grant",
        ),
    ],
    ids=["wrong-grant", "no-assertion", "garbage-assertion", "untrusted-signature"],
)
async def test_the_token_endpoint_refuses_bad_grants(
    fcm: RunningFcm, form: dict[str, str], error: str
) -> None:
    status, body = await post_token_form(fcm, form)

    assert status == 400
    assert body["error"] == error
