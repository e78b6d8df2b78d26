"""The two-person rule's holes, closed: editors, machine tokens, approvers an author made."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiohttp

from alerting.errors import SelfApprovalRefused
from alerting.keys import ALERTING
from alerting.workflow import Workflow
from canhbao import keys
from canhbao.auth.middleware import SESSION_COOKIE
from canhbao.clock import ManualClock
from tests.alerting.conftest import Client
from tests.alerting.test_workflow import WARDS, draft, river_values, step
from tests.conftest import AppClient, StaffFactory, StaffLogin
from tests.geofences.conftest import load_hue


async def test_everyone_who_changed_a_draft_is_excluded_from_approving_it(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    await load_hue(client)
    lan = await staff(client, "lan", roles=["issuer"])
    hoa = await staff(client, "hoa", roles=["issuer", "approver"])
    minh = await staff(client, "minh", roles=["approver"])
    created = await draft(lan)
    identifier = created["identifier"]
    # Hoa rewrites lan's draft, then lan submits it: hoa may not be its "second person".
    edited = await hoa.put(
        f"/api/v1/alerts/{identifier}?version={created['version']}",
        json={"template": "river_flood_iii", "ward_codes": WARDS, "values": river_values()},
    )
    assert edited.status == 200, await edited.text()
    assert (await edited.json())["editors"] == ["user:lan", "user:hoa"]
    await step(lan, identifier, "submit")
    refused = await step(hoa, identifier, "approve", status=403)
    assert refused["error"]["code"] == "self_approval"
    assert "changed" in refused["error"]["message"]
    approved = await step(minh, identifier, "approve")
    assert approved["approved_by"] == "user:minh"


class Sponsored:
    """An in-test Sponsors: who made whom an approver, and when."""

    def __init__(self, grants: dict[str, list[tuple[str, datetime]]]) -> None:
        self._grants = grants
        self.asked: list[tuple[str, datetime]] = []

    async def sponsors(self, username: str, since: datetime) -> frozenset[str]:
        self.asked.append((username, since))
        return frozenset(by for by, at in self._grants.get(username, []) if at >= since)


async def test_an_approver_the_author_made_within_24_h_cannot_approve_their_drafts(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    await load_hue(client)
    assert client.app is not None
    app_workflow = client.app[ALERTING]
    an = await staff(client, "an", roles=["admin"])
    # An (admin) made binh's account an hour ago; chi was made by someone else.
    sponsors = Sponsored(
        {
            "binh": [("an", clock.now() - timedelta(hours=1))],
            "chi": [("dung", clock.now() - timedelta(hours=1))],
        }
    )
    workflow = Workflow(
        client.app[keys.DB], clock, app_workflow.settings, app_workflow.fanout, sponsors
    )
    identifier = (await draft(an))["identifier"]
    await step(an, identifier, "submit")

    refused = await step_as(workflow, identifier, "user:binh")
    assert isinstance(refused, str)
    assert "an" in refused
    assert "24 h" in refused
    assert sponsors.asked == [("binh", clock.now() - timedelta(hours=24))]
    assert await step_as(workflow, identifier, "user:chi") is None

    # A day later the grant no longer stands in the way.
    second = (await draft(an))["identifier"]
    await step(an, second, "submit")
    clock.advance(timedelta(hours=23, seconds=1))
    assert await step_as(workflow, second, "user:binh") is None


async def step_as(workflow: Workflow, identifier: str, actor: str) -> str | None:
    """Approve as `actor`; the refusal's message, or None when approved."""
    try:
        await workflow.approve(identifier, actor)
    except SelfApprovalRefused as err:
        return str(err)
    return None


async def test_a_machine_token_cannot_be_the_second_person(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    await load_hue(client)
    assert client.app is not None
    lan = await staff(client, "lan", roles=["issuer"])
    identifier = (await draft(lan))["identifier"]
    await step(lan, identifier, "submit")
    refused = await step_as(client.app[ALERTING], identifier, "token:7")
    assert refused is not None
    assert "a person approves" in refused


async def test_an_admin_cannot_approve_their_draft_through_an_account_they_just_made(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    """Through the API and the real audit log (canhbao.auth.sponsors)."""
    client = await app_client()
    await load_hue(client)
    an = await staff(client, "an", roles=["admin"])
    made = await an.post(
        "/api/v1/users",
        json={"username": "binh", "password": "binh-password-long-enough", "roles": ["approver"]},
    )
    assert made.status == 201, await made.text()
    binh = await login(client, "binh", "binh-password-long-enough")
    identifier = (await draft(an))["identifier"]
    await step(an, identifier, "submit")
    refused = await step(binh, identifier, "approve", status=403)
    assert refused["error"]["code"] == "self_approval"
    assert "by an within 24 h" in refused["error"]["message"]
    # Someone the author did not make approves it.
    minh = await staff(client, "minh", roles=["approver"])
    await step(minh, identifier, "approve")


async def login(client: Client, username: str, password: str) -> StaffLogin:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        response = await session.post(
            client.make_url("/api/v1/auth/login"),
            json={"username": username, "password": password},
        )
        assert response.status == 200, await response.text()
        body = await response.json()
        cookie = response.cookies[SESSION_COOKIE].value
    return StaffLogin(client, username, password, (), cookie, body["csrf_token"])
