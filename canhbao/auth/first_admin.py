"""First run: while no admin exists, a one-time link creates the first one (no default password).

At start-up, if no enabled admin exists, the service makes a random secret, valid for
LINK_LIFETIME and for one use, and logs the link (`canhbao serve` also prints it). The link's
path carries the secret (no JavaScript is needed to read it, unlike a fragment); the page is a
plain form, Vietnamese first and English second. Once an admin exists, by this page or any
other way, the link answers 410. The secret lives only in memory: a restart makes a new link
and kills the old one. Pages are sent with `Referrer-Policy: no-referrer` so the secret in the
path never leaves in a Referer header.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from aiohttp import web

from canhbao import keys
from canhbao.auth.grants import active_admins
from canhbao.auth.middleware import accounts_for
from canhbao.auth.models import USERNAME_PATTERN, AuthError, Role
from canhbao.auth.passwords import digest
from canhbao.clock import to_local

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(hours=24)
LINK_PATH = "/setup/first-admin/{secret}"
ACTOR = "setup:first-admin-link"
_LINK_KEY_PATTERN = "[A-Za-z0-9_-]{20,100}"  # what token_urlsafe makes


@dataclass
class FirstAdminLink:
    """The live one-time link, if any: only the secret's digest is kept after it is shown."""

    url: str
    secret_digest: str
    expires_at: datetime
    used: bool = field(default=False)


FIRST_ADMIN_LINK = web.AppKey("auth_first_admin_link", FirstAdminLink)


async def first_admin_ctx(app: web.Application) -> AsyncIterator[None]:
    """Make the link at start-up when no enabled admin exists (after the database context)."""
    if not await active_admins(app[keys.DB].reader):
        secret = secrets.token_urlsafe(32)
        base = app[keys.CONFIG].server.public_base_url.rstrip("/")
        expires_at = app[keys.CLOCK].now() + LINK_LIFETIME
        url = base + LINK_PATH.format(secret=secret)
        app[FIRST_ADMIN_LINK] = FirstAdminLink(url, digest(secret), expires_at)
        log.warning(
            "no admin yet: open the one-time link to create the first one",
            extra={"url": url, "expires_at": expires_at.isoformat()},
        )
    yield


def announcement(link: FirstAdminLink) -> str:
    """The one line `canhbao serve` prints: Vietnamese, then English."""
    until = f"{to_local(link.expires_at):%H:%M %d/%m}"
    return (
        f"Chưa có quản trị viên — tạo tài khoản đầu tiên (dùng một lần, hết hạn {until}):"
        f" {link.url} | No admin yet — create the first one (one use, expires {until}):"
        f" {link.url}"
    )


class _Refused(Exception):
    """Answer with this page instead (the link is wrong, used or expired)."""

    def __init__(self, page: web.Response) -> None:
        super().__init__(page.status)
        self.page = page


async def show_form(request: web.Request) -> web.Response:
    try:
        await _live_link(request)
    except _Refused as refused:
        return refused.page
    return _page(_form(), status=200)


async def create_admin(request: web.Request) -> web.Response:
    try:
        link = await _live_link(request)
    except _Refused as refused:
        return refused.page
    form = await request.post()
    username = str(form.get("username", "")).strip().lower()
    display_name = str(form.get("display_name", "")).strip()
    password = str(form.get("password", ""))
    again = str(form.get("password_again", ""))
    config = request.app[keys.CONFIG].auth
    problem = _problem(username, password, again, config.password_min_length)
    if problem is not None:
        return _page(_form(problem, username, display_name), status=400)
    try:
        # Used before the slow hash: a second submit racing this one finds the link dead.
        link.used = True
        await accounts_for(request.app).create_user(
            username, password, [Role.admin], display_name=display_name, actor=ACTOR
        )
    except AuthError as err:
        link.used = False
        message = (f"Không tạo được tài khoản: {err}", f"Could not create the account: {err}")
        return _page(_form(message, username, display_name), status=400)
    log.info("first admin created through the one-time link", extra={"username": username})
    return _page(
        "<h1>Đã tạo quản trị viên</h1>"
        f"<p>Tài khoản <b>{escape(username)}</b> đã được tạo. Liên kết này không dùng được"
        " nữa. Đăng nhập qua <code>POST /api/v1/auth/login</code>.</p>"
        "<h2>Admin created</h2>"
        f"<p>The account <b>{escape(username)}</b> exists now. This link no longer works."
        " Log in with <code>POST /api/v1/auth/login</code>.</p>",
        status=201,
    )


def setup_routes(app: web.Application) -> None:
    path = LINK_PATH.replace("{secret}", "{secret:" + _LINK_KEY_PATTERN + "}")
    app.router.add_get(path, show_form)
    app.router.add_post(path, create_admin)


async def _live_link(request: web.Request) -> FirstAdminLink:
    """The link this request names, or an error page: 404 wrong, 410 used or expired."""
    link = request.app.get(FIRST_ADMIN_LINK)
    sent = digest(request.match_info["secret"])
    if link is None or not hmac.compare_digest(sent, link.secret_digest):
        raise _error_page(404, "Liên kết không đúng.", "This link is not valid.")
    if link.used or await _an_admin_exists(request):
        link.used = True
        raise _error_page(
            410,
            "Liên kết đã được dùng: đã có quản trị viên.",
            "This link has been used: an admin exists.",
        )
    if request.app[keys.CLOCK].now() >= link.expires_at:
        raise _error_page(
            410,
            "Liên kết đã hết hạn. Khởi động lại dịch vụ để có liên kết mới.",
            "This link has expired. Restart the service for a new one.",
        )
    return link


async def _an_admin_exists(request: web.Request) -> bool:
    return bool(await active_admins(request.app[keys.DB].reader))


def _problem(username: str, password: str, again: str, min_length: int) -> tuple[str, str] | None:
    if not USERNAME_PATTERN.fullmatch(username):
        return (
            "Tên đăng nhập chỉ gồm chữ thường không dấu, số, '.', '_' hoặc '-' (tối đa 64).",
            "The username takes lower-case letters, digits, '.', '_' or '-' (up to 64).",
        )
    if len(password) < min_length:
        return (
            f"Mật khẩu cần ít nhất {min_length} ký tự.",
            f"The password needs at least {min_length} characters.",
        )
    if password != again:
        return ("Hai mật khẩu không khớp.", "The two passwords differ.")
    return None


def _form(problem: tuple[str, str] | None = None, username: str = "", name: str = "") -> str:
    shown = (
        f'<p class="problem">{escape(problem[0])}<br><i>{escape(problem[1])}</i></p>'
        if problem
        else ""
    )
    return (
        "<h1>Tạo quản trị viên đầu tiên</h1>"
        "<p>Liên kết này chỉ dùng được một lần. <i>Create the first admin: this link works"
        " once.</i></p>"
        f"{shown}"
        '<form method="post">'
        '<label>Tên đăng nhập <i>(username)</i><br><input name="username" required'
        f' maxlength="64" autocomplete="username" value="{escape(username)}"></label>'
        '<label>Họ và tên <i>(display name)</i><br><input name="display_name"'
        f' maxlength="200" value="{escape(name)}"></label>'
        '<label>Mật khẩu <i>(password)</i><br><input name="password" type="password"'
        ' required autocomplete="new-password"></label>'
        '<label>Nhập lại mật khẩu <i>(password again)</i><br><input name="password_again"'
        ' type="password" required autocomplete="new-password"></label>'
        '<button type="submit">Tạo tài khoản <i>(create)</i></button>'
        "</form>"
    )


def _page(body: str, *, status: int) -> web.Response:
    html = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>canhbao — quản trị viên đầu tiên / first admin</title>"
        "<style>body{font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}"
        "label{display:block;margin:.8rem 0}input{width:100%;padding:.4rem}"
        ".problem{color:#a00}</style></head>"
        f"<body>{body}</body></html>"
    )
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    )
    return response


def _error_page(status: int, vietnamese: str, english: str) -> _Refused:
    return _Refused(
        _page(f"<h1>{escape(vietnamese)}</h1><p><i>{escape(english)}</i></p>", status=status)
    )
