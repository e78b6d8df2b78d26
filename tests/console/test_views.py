"""Every view of the console in Chromium against a real `canhbao serve`, each saved as a
screenshot under var/artifacts/console/ and checked for WCAG AA text contrast and for fitting a
1366 × 768 laptop: Rescue (claim, offer, the team's answer recorded, reassign, merge of a
duplicate proposal), Cameras (a still with its age; an unreachable camera flagged), Admin (an
account made, its roles changed, disabled), Stations,
Hotline, Phone, Call, Warnings and Situation; then the same views on a 10-inch tablet, both ways
up; and the keyboard: the skip link and the navigation."""

from __future__ import annotations

import io
import random
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, Page, expect

from tests.console.conftest import (
    TABLET_LANDSCAPE,
    TABLET_PORTRAIT,
    Service,
    assert_contrast,
    assert_fits,
    log_in,
    open_console,
)

# A guard against a hang, not a wait (see test_warning_flow.py): this one walks every view
# three times (laptop, tablet both ways up); 140 s alone, over 300 s at a load average of 15.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

CALLER = "+84905111222"


def _noise_jpeg() -> bytes:
    """A 640 × 480 still that is neither dark, uniform nor blurred."""
    rng = random.Random(14)
    image = Image.frombytes(
        "RGB", (640, 480), bytes(rng.randrange(40, 220) for _ in range(640 * 480 * 3))
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


@pytest.fixture
def snapshot_camera() -> Iterator[str]:
    """A camera's snapshot URL on this machine (a plain HTTP server in a thread)."""
    still = _noise_jpeg()

    class Snapshot(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(still)))
            self.end_headers()
            self.wfile.write(still)

        def log_message(self, format: str, *args: object) -> None:  # the base's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Snapshot)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/snapshot.jpg"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/snapshot.jpg"  # nothing listens there any more


def _cameras(service: Service, snapshot: str) -> None:
    an = service.login("an")
    for camera_id, name, url in (
        ("cau-truong-tien", "Cầu Trường Tiền", snapshot),
        ("dap-da", "Đập Đá", _closed_port_url()),
    ):
        status, answer = service.call(
            "POST",
            "/api/v1/cameras",
            {
                "id": camera_id,
                "name": name,
                "lat": 16.4637,
                "lon": 107.5909,
                "url": url,
                "watches": "mực nước sông Hương",
            },
            headers=an,
        )
        assert status == 201, answer
        polls = 1 if url == snapshot else 2  # unreachable after two failed fetches in a row
        for _ in range(polls):
            status, answer = service.call("POST", f"/api/v1/cameras/{camera_id}/poll", headers=an)
            assert status == 200, answer


def _rescue(service: Service) -> tuple[str, str, str]:
    """Two teams on duty; three requests, the third from the first one's phone (a duplicate
    proposal). Returns the numbers of the first, second and third."""
    hai = service.login("hai")
    for name, lat, lon in (
        ("Đội Kim Long", 16.4595, 107.5497),
        ("Đội Phú Xuân", 16.4700, 107.5800),
    ):
        status, answer = service.call(
            "POST",
            "/api/v1/dispatch/teams",
            {
                "name": name,
                "base_lat": lat,
                "base_lon": lon,
                "capacity": 2,
                "on_duty": True,
                "members": [{"name": "Trưởng nhóm", "phone": "+84905000111"}],
            },
            headers=hai,
        )
        assert status == 201, answer
    numbers = []
    for caller, lat, lon in (
        (CALLER, 16.4601, 107.5601),
        ("+84905333444", 16.4900, 107.6100),
        (CALLER, 16.4602, 107.5602),
    ):
        status, answer = service.call(
            "POST",
            "/api/v1/dispatch/requests",
            {"caller": caller, "lat": lat, "lon": lon, "people": 4, "water": "chest"},
            headers=hai,
        )
        assert status == 201, answer
        numbers.append(str(answer["number"]))
    return numbers[0], numbers[1], numbers[2]


async def _check(page: Page, artifacts: Path, name: str) -> None:
    await assert_contrast(page)
    await assert_fits(page)
    await page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


async def _go(page: Page, link: str) -> None:
    await page.get_by_role("navigation").get_by_role("link", name=link, exact=True).click()


async def test_rescue_cameras_admin_and_every_view(
    service: Service, browser: Browser, artifacts: Path, snapshot_camera: str
) -> None:
    _cameras(service, snapshot_camera)
    first, _, third = _rescue(service)

    hai = await open_console(browser, service, "/console/rescue")
    await log_in(hai, "hai")
    requests = hai.get_by_test_id("requests")
    await expect(requests.locator("tbody tr")).to_have_count(3)
    duplicates = hai.get_by_test_id("duplicates")
    await expect(duplicates).to_contain_text(f"{third} có thể trùng với {first}")
    await expect(duplicates).to_contain_text("cùng số điện thoại")

    await requests.get_by_role("button", name=first).click()
    detail = hai.get_by_test_id("rescue-detail")
    await expect(detail.get_by_role("heading", level=2)).to_have_text(f"Yêu cầu {first}")
    await detail.get_by_role("button", name="Nhận xử lý (khoá 10 phút)").click()
    await expect(detail.get_by_test_id("claim")).to_contain_text("Đang do hai xử lý đến")

    offers = detail.get_by_test_id("offers")
    await detail.get_by_label("Đội cứu hộ").select_option(label="Đội Kim Long")
    await detail.get_by_role("button", name="Giao cho đội này").click()
    await expect(offers.get_by_role("listitem").filter(has_text="Đội Kim Long")).to_have_attribute(
        "data-status", "pending"
    )
    await detail.get_by_role("button", name="Ghi nhận: đội đã nhận").click()
    await expect(offers.get_by_role("listitem").filter(has_text="Đội Kim Long")).to_have_attribute(
        "data-status", "accepted"
    )
    await expect(detail.get_by_test_id("request-state")).to_have_text("Đội đã nhận")

    # Reassign: Kim Long is released, Phú Xuân offered, in one step.
    await detail.get_by_label("Đội cứu hộ").select_option(label="Đội Phú Xuân")
    await detail.get_by_role("button", name="Giao lại cho đội này").click()
    await expect(offers.get_by_role("listitem").filter(has_text="Đội Phú Xuân")).to_have_attribute(
        "data-status", "pending"
    )
    await expect(
        offers.get_by_role("listitem").filter(has_text="Đội Kim Long")
    ).not_to_have_attribute("data-status", re.compile("^(pending|accepted)$"))
    await expect(detail.get_by_test_id("request-state")).to_have_text("Đã giao, chờ đội nhận")

    # The duplicate: merged into the earlier request, which stays; the list loses one.
    await duplicates.get_by_role("button", name=f"Gộp {third} vào {first}").click()
    await expect(hai.get_by_test_id("duplicates")).to_have_count(0)
    await expect(requests.locator("tbody tr")).to_have_count(2)
    await expect(requests).not_to_contain_text(third)
    await _check(hai, artifacts, "rescue")

    for link, name in (
        ("Tổng đài", "hotline-idle"),
        ("Trạm đo", "stations"),
        ("Điện thoại (mô phỏng)", "phone-empty"),
        ("Gọi thử (mô phỏng)", "call-idle"),
        ("Tình hình", "situation-rescue"),
    ):
        await _go(hai, link)
        await expect(hai.get_by_role("heading", level=1)).to_be_visible()
        await expect(hai.locator(".loading")).to_have_count(0)
        await _check(hai, artifacts, name)

    an = await open_console(browser, service, "/console/cameras")
    await log_in(an, "an")
    wall = an.get_by_test_id("camera-wall")
    await expect(wall.get_by_test_id("camera")).to_have_count(2)
    flagged = wall.get_by_test_id("camera").first  # flagged cameras come first
    await expect(flagged).to_have_attribute("data-flagged", "true")
    await expect(flagged).to_contain_text("Đập Đá")
    await expect(flagged).to_contain_text("Không kết nối được")
    still = wall.get_by_role("img", name="Cầu Trường Tiền: mực nước sông Hương")
    await expect(still).to_be_visible()
    assert await still.evaluate("(img) => img.complete && img.naturalWidth > 0")
    await expect(wall.get_by_test_id("camera").last).to_contain_text(
        re.compile(r"Ảnh chụp cách đây \d+ giây")
    )
    await _check(an, artifacts, "cameras")

    await _go(an, "Quản trị")
    users = an.get_by_test_id("users")
    for username in ("lan", "minh", "hai", "an"):
        await expect(users).to_contain_text(f"({username})")
    await an.get_by_label("Tên đăng nhập").fill("tuan")
    await an.get_by_label("Họ tên").fill("Võ Minh Tuấn")
    await an.get_by_label("Mật khẩu").fill("mật-khẩu-của-tuấn-đủ-dài")
    new_roles = an.get_by_role("group", name="Vai trò", exact=True)
    await new_roles.get_by_label("soạn cảnh báo").uncheck()
    await new_roles.get_by_label("điện thoại viên").check()
    await an.get_by_role("button", name="Tạo", exact=True).click()
    await expect(users).to_contain_text("Võ Minh Tuấn (tuan)")
    tuan = an.get_by_test_id("roles-tuan")
    await expect(tuan.get_by_label("điện thoại viên")).to_be_checked()
    await tuan.get_by_label("điều phối cứu hộ").check()
    await tuan.get_by_role("button", name="Lưu vai trò của tuan").click()
    await expect(tuan.get_by_role("button", name="Lưu vai trò của tuan")).to_be_disabled()
    status, answer = service.call("GET", "/api/v1/users", headers=service.login("an"))
    assert status == 200, answer
    (row,) = [u for u in answer["items"] if u["username"] == "tuan"]
    assert sorted(row["roles"]) == ["dispatcher", "operator"]
    await an.get_by_role("button", name="Khoá tuan").click()
    await expect(an.get_by_role("button", name="Mở lại tuan")).to_be_visible()
    await _check(an, artifacts, "admin")

    # A 10-inch tablet, both ways up: every view fits, and keeps its contrast.
    for viewport, suffix in (
        (TABLET_LANDSCAPE, "tablet-landscape"),
        (TABLET_PORTRAIT, "tablet-portrait"),
    ):
        tablet = await open_console(browser, service, "/console/", viewport=viewport)
        await log_in(tablet, "an")
        await expect(tablet.get_by_test_id("situation-map")).to_have_attribute("data-ready", "true")
        await _check(tablet, artifacts, f"situation-{suffix}")
        for path in ("/rescue", "/hotline", "/cameras", "/warnings", "/admin", "/call"):
            await tablet.goto(service.base + "/console" + path)
            await expect(tablet.get_by_role("heading", level=1)).to_be_visible()
            await expect(tablet.locator(".loading")).to_have_count(0)
            await _check(tablet, artifacts, f"{path.strip('/')}-{suffix}")
        await tablet.context.close()

    # The keyboard, on a page just opened: the skip link comes first and lands on the content;
    # a link of the navigation opens its page with Enter.
    await an.goto(service.base + "/console/admin")
    await expect(an.get_by_role("heading", level=1)).to_be_visible()
    await an.keyboard.press("Tab")
    skip = an.get_by_role("link", name="Bỏ qua điều hướng")
    await expect(skip).to_be_focused()
    await an.keyboard.press("Enter")
    await expect(an.locator("main")).to_be_focused()
    await an.get_by_role("navigation").get_by_role("link", name="Camera").focus()
    await an.keyboard.press("Enter")
    await expect(an).to_have_url(service.base + "/console/cameras")
    await expect(an.get_by_role("heading", name="Camera", level=1)).to_be_visible()

    for page in (hai, an):
        assert page.elsewhere == []  # type: ignore[attr-defined]  # nothing from another host
