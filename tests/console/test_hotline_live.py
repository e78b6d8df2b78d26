"""The Call page in Chromium against a real `canhbao serve` (Local telephony): dial the hotline,
hear the prompts as text, press 3 for an operator and wait in the queue, while the Hotline view
in another tab shows the call arrive and leave live (from the stream); then an SMS."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.console.conftest import Service, log_in, open_console

# A guard against a hang, not a wait (see test_warning_flow.py).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CALLER = "+84905123456"


async def test_a_call_from_the_call_page_queues_and_shows_live_on_the_hotline(
    service: Service, browser: Browser, artifacts: Path
) -> None:
    hotline = await open_console(browser, service, "/console/hotline")
    await log_in(hotline, "hai")
    await expect(hotline.get_by_role("heading", level=1)).to_contain_text("1900 1075")
    await expect(hotline.get_by_role("status").filter(has_text="Trực tiếp")).to_be_visible()
    queue = hotline.get_by_test_id("queue")
    await expect(queue.get_by_role("listitem")).to_have_count(0)

    # The Call page in a second tab of the same browser (same session).
    phone = await hotline.context.new_page()
    phone.set_default_timeout(20_000)
    await phone.goto(service.base + "/console/call")
    await expect(phone.get_by_role("button", name="Phím 3")).to_be_disabled()
    await phone.get_by_label("Số gọi đến").fill(CALLER)
    await phone.get_by_role("button", name=re.compile("^Gọi")).click()
    prompts = phone.get_by_test_id("prompts")
    await expect(prompts).to_contain_text("Để yêu cầu cứu hộ, xin bấm phím 1")
    await expect(phone.get_by_test_id("call-status")).to_have_text("Đang trong cuộc gọi")
    # The Hotline tab sees the call in the menu, pushed by the stream (no view polls).
    now = hotline.get_by_test_id("calls-now")
    await expect(now.get_by_role("listitem").filter(has_text=CALLER)).to_have_attribute(
        "data-stage", "menu"
    )

    await phone.get_by_role("button", name="Phím 3").click()
    await expect(phone.get_by_test_id("call-status")).to_contain_text("Đang chờ điện thoại viên")
    await expect(phone.get_by_test_id("call-status")).to_contain_text("vị trí trong hàng chờ 1")
    await phone.screenshot(path=str(artifacts / "call.png"), full_page=True)
    await expect(now.get_by_role("listitem").filter(has_text=CALLER)).to_have_attribute(
        "data-stage", "queued"
    )
    await expect(queue.get_by_role("listitem")).to_have_count(1)
    await expect(queue).to_contain_text(CALLER)
    await hotline.screenshot(path=str(artifacts / "hotline.png"), full_page=True)

    await phone.get_by_role("button", name="Gác máy").click()
    await expect(phone.get_by_test_id("call-status")).to_have_text("Cuộc gọi đã kết thúc")
    await expect(phone.get_by_role("button", name="Phím 3")).to_be_disabled()
    await expect(queue.get_by_role("listitem")).to_have_count(0)
    await expect(hotline.get_by_test_id("calls-now")).to_have_count(0)

    # The SMS box: the hotline's answer to a text is shown.
    await phone.get_by_label("Nội dung tin nhắn").fill("Nhà tôi ngập, cần cứu hộ")
    await phone.get_by_role("button", name="Gửi", exact=True).click()
    replies = phone.get_by_test_id("sms-replies")
    await expect(replies).not_to_be_empty()
    await phone.screenshot(path=str(artifacts / "call-sms.png"), full_page=True)

    assert hotline.elsewhere == []  # type: ignore[attr-defined]  # nothing from another host
