"""The console in Chromium against a real `canhbao serve`: log in, draw a polygon and see who it
reaches, submit; the author is refused approval with the API's message; a second person
approves and issues it, and sees the delivery report and the CAP XML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.console.conftest import (
    PASSWORD,
    Service,
    canhbao_cli,
    log_in,
    open_console,
    register_devices,
)

# A guard against a hang, not a wait: starting `canhbao serve` (migrate, three accounts, Huế's
# wards) and Chromium took over 60 s at a load average of 16 on this shared 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _a_device_reached(service: Service) -> tuple[str, str]:
    """A device the Local push provider delivered the warning to (the drawn box covers some)."""
    headers = service.login("minh")
    status, answer = service.call("GET", "/api/v1/simulator/devices?limit=100", headers=headers)
    assert status == 200, answer
    for device in answer["devices"]:
        path = f"/api/v1/simulator/devices/{device['device_id']}/notifications"
        status, got = service.call("GET", path, headers=headers)
        assert status == 200, got
        if got["notifications"]:
            return str(device["device_id"]), str(got["notifications"][0]["title"])
    raise AssertionError("no device got the warning")


async def _map_ready(page: Page, testid: str) -> None:
    await expect(page.get_by_test_id(testid)).to_have_attribute("data-ready", "true")


async def _draw_box(page: Page) -> None:
    """Click "Vẽ đa giác", then four corners of the map's middle (each seen as a vertex before
    the next click: a click that lands while the page is busy is not lost), then the first
    corner again, which closes the polygon."""
    await page.get_by_role("button", name="Vẽ đa giác").click()
    map_box = page.get_by_test_id("composer-map")

    async def click_at(fx: float, fy: float) -> None:
        # Where the map is now: the header above it may have grown meanwhile (the live
        # status's words change, the navigation wraps), moving the map down the page.
        box = await map_box.bounding_box()
        assert box is not None
        await page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)

    # Geoman's vertices, and the one marker that follows the pointer while drawing.
    vertices = map_box.locator(".marker-icon:not(.marker-icon-middle)")
    corners = [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)]
    for placed, (fx, fy) in enumerate(corners, start=1):
        await click_at(fx, fy)
        await expect(vertices).to_have_count(placed + 1)
    await click_at(0.3, 0.3)
    await expect(map_box.get_by_role("button", name="Finish")).to_be_hidden()


async def test_draw_submit_refuse_author_approve_issue(
    service: Service, browser: Browser, artifacts: Path
) -> None:
    register_devices(service)

    lan = await open_console(browser, service)
    await expect(lan).to_have_url(re.compile(r"/console/login\?next="))
    await log_in(lan, "lan")
    await _map_ready(lan, "situation-map")
    await lan.screenshot(path=str(artifacts / "situation.png"))

    await lan.get_by_role("link", name="Cảnh báo", exact=True).click()
    await lan.get_by_role("link", name="Soạn cảnh báo mới").click()
    await _map_ready(lan, "composer-map")
    await _draw_box(lan)
    devices = lan.get_by_test_id("preview-devices")
    await expect(devices).not_to_have_text("0")
    await expect(lan.get_by_label("Tên vùng cảnh báo")).to_have_value("vùng đã vẽ")
    await lan.screenshot(path=str(artifacts / "composer.png"), full_page=True)
    await lan.get_by_role("button", name="Lưu bản nháp").click()

    await expect(lan.get_by_test_id("warning-state")).to_have_text("Bản nháp")
    url = lan.url
    await lan.get_by_role("button", name="Gửi phê duyệt").click()
    await expect(lan.get_by_test_id("warning-state")).to_have_text("Chờ phê duyệt")
    # lan is an approver too, but she wrote it: the API refuses, and the console says why.
    await lan.get_by_role("button", name="Phê duyệt", exact=True).click()
    refusal = lan.get_by_role("alert")
    await expect(refusal).to_be_visible()
    assert (await refusal.inner_text()).strip()
    await expect(lan.get_by_test_id("warning-state")).to_have_text("Chờ phê duyệt")
    await lan.screenshot(path=str(artifacts / "approval-refused.png"), full_page=True)

    minh = await open_console(browser, service, url.removeprefix(service.base))
    await log_in(minh, "minh")
    await expect(minh).to_have_url(url)  # back where the link pointed, after the login
    await expect(minh.get_by_role("heading", level=1)).to_contain_text("Phê duyệt cảnh báo")
    await _map_ready(minh, "warning-map")
    await expect(minh.get_by_text("Tiếng Việt · Lũ")).to_be_visible()
    await minh.screenshot(path=str(artifacts / "approval.png"), full_page=True)
    await minh.get_by_role("button", name="Phê duyệt", exact=True).click()
    await expect(minh.get_by_test_id("warning-state")).to_have_text("Đã duyệt")
    await minh.get_by_role("button", name="Phát cảnh báo").click()
    await expect(minh.get_by_test_id("warning-state")).to_have_text("Đã phát")
    await expect(minh.get_by_test_id("delivery")).to_be_visible()
    await expect(minh.get_by_test_id("cap-xml")).to_contain_text("<msgType>Alert</msgType>")
    # The report reaches 100 % on this page, reloaded by the stream's delivery.progress events
    # (the page never polls: each reload of the report follows an event, see live.ts/hooks.ts).
    await expect(minh.get_by_test_id("delivery")).to_have_attribute("data-done", "true")
    await expect(minh.get_by_test_id("delivery-share")).to_have_text(re.compile(r"^100\s?%$"))
    await minh.screenshot(path=str(artifacts / "warning-issued.png"), full_page=True)

    # The Phone page: a device in the area shows the warning the Local push provider recorded.
    reached, title = _a_device_reached(service)
    await minh.get_by_role("link", name="Điện thoại (mô phỏng)").click()
    await minh.get_by_label("Thiết bị").select_option(reached)
    notifications = minh.get_by_test_id("notifications")
    await expect(notifications.get_by_role("listitem").first).to_contain_text(title)
    await minh.screenshot(path=str(artifacts / "phone.png"), full_page=True)
    await minh.get_by_role("link", name="Tình hình").click()
    await _map_ready(minh, "situation-map")
    await expect(minh.get_by_text("1 cảnh báo ·")).to_be_visible()  # the issued one, on the map
    await minh.screenshot(path=str(artifacts / "situation-warning.png"))

    # lan's session ends on the server (a password reset ends every session): her next
    # request is refused, the console says so on the login page, and sends her back after it.
    canhbao_cli(
        service.config, "user", "reset-password", "lan", "--password-stdin", stdin=PASSWORD + "\n"
    )
    await lan.get_by_role("link", name="Cảnh báo", exact=True).click()
    await expect(lan.get_by_text("Phiên làm việc đã hết, hãy đăng nhập lại.")).to_be_visible()
    await expect(lan).to_have_url(re.compile(r"/console/login\?next=%2Fwarnings"))
    await log_in(lan, "lan")
    await expect(lan).to_have_url(service.base + "/console/warnings")
    await expect(lan.get_by_role("heading", name="Cảnh báo", level=1)).to_be_visible()
    await expect(lan.get_by_role("heading", name="Đã phát (1)")).to_be_visible()

    for page in (lan, minh):
        assert page.elsewhere == []  # type: ignore[attr-defined]  # nothing from another host


def _issued_by_api(service: Service) -> str:
    """A warning drafted by lan and issued by minh through the API; its identifier."""
    lan, minh = service.login("lan"), service.login("minh")
    values = {
        "time": "10:00 ngày 16/11/2025",
        "river": "Bồ",
        "station": "Phú Ốc",
        "level": "4,62",
        "threshold": "4,5",
        "trend": "đang lên",
    }
    english = {**values, "level": "4.62", "threshold": "4.5", "trend": "rising"}
    status, draft = service.call(
        "POST",
        "/api/v1/alerts",
        {
            "template": "river_flood_iii",
            "ward_codes": ["hue.huong-tra", "hue.kim-tra"],
            "area_desc": "Hạ lưu sông Bồ",
            "values": {"vi-VN": values, "en-US": english},
        },
        headers=lan,
    )
    assert status == 201, draft
    identifier = str(draft["identifier"])
    for who, action in ((lan, "submit"), (minh, "approve"), (minh, "issue")):
        status, seen = service.call("GET", f"/api/v1/alerts/{identifier}", headers=who)
        assert status == 200, seen
        status, answer = service.call(
            "POST",
            f"/api/v1/alerts/{identifier}/{action}",
            {"version": seen["version"]},
            headers=who,
        )
        assert status == 200, answer
    return identifier


async def _approve_and_issue(minh: Page, service: Service, url: str) -> None:
    await minh.goto(url)
    await expect(minh.get_by_test_id("warning-state")).to_have_text("Chờ phê duyệt")
    await minh.get_by_role("button", name="Phê duyệt", exact=True).click()
    await expect(minh.get_by_test_id("warning-state")).to_have_text("Đã duyệt")
    await minh.get_by_role("button", name="Phát cảnh báo").click()
    await expect(minh.get_by_test_id("warning-state")).to_have_text("Đã phát")


async def test_update_then_cancel_an_issued_warning(
    service: Service, browser: Browser, artifacts: Path
) -> None:
    original = _issued_by_api(service)
    lan = await open_console(browser, service, f"/console/warnings/{original}")
    await log_in(lan, "lan")
    await expect(lan.get_by_test_id("warning-state")).to_have_text("Đã phát")
    minh = await open_console(browser, service)
    await log_in(minh, "minh")

    # Update: a new draft that references the original; submitted, approved and issued by two
    # people; the original is then superseded (live on lan's list).
    await lan.get_by_role("button", name="Cập nhật", exact=True).click()
    await expect(lan).not_to_have_url(re.compile(re.escape(original) + "$"))
    await expect(lan.get_by_test_id("warning-state")).to_have_text("Bản nháp")
    await lan.get_by_role("button", name="Gửi phê duyệt").click()
    await expect(lan.get_by_test_id("warning-state")).to_have_text("Chờ phê duyệt")
    update_url = lan.url
    await _approve_and_issue(minh, service, update_url)
    await expect(minh.get_by_test_id("cap-xml")).to_contain_text("<msgType>Update</msgType>")
    await expect(minh.get_by_test_id("cap-xml")).to_contain_text(original)
    await expect(lan.get_by_test_id("warning-state")).to_have_text("Đã phát")  # live
    await minh.screenshot(path=str(artifacts / "warning-update.png"), full_page=True)

    # Cancel the update: the same two-person path, a Cancel message in CAP.
    await lan.get_by_role("button", name="Huỷ cảnh báo").click()
    await expect(lan).not_to_have_url(update_url)
    await expect(lan.get_by_test_id("warning-state")).to_have_text("Bản nháp")
    await lan.get_by_role("button", name="Gửi phê duyệt").click()
    await expect(lan.get_by_test_id("warning-state")).to_have_text("Chờ phê duyệt")
    await _approve_and_issue(minh, service, lan.url)
    await expect(minh.get_by_test_id("cap-xml")).to_contain_text("<msgType>Cancel</msgType>")
    await minh.screenshot(path=str(artifacts / "warning-cancel.png"), full_page=True)

    await minh.goto(service.base + "/console/warnings")
    await expect(minh.get_by_role("heading", name="Cảnh báo", level=1)).to_be_visible()
    await expect(
        minh.get_by_role("heading", name=re.compile(r"^Đã thay thế \(\d\)$"))
    ).to_be_visible()
    await minh.screenshot(path=str(artifacts / "warnings.png"), full_page=True)
    for page in (lan, minh):
        assert page.elsewhere == []  # type: ignore[attr-defined]  # nothing from another host
