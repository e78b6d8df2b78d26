"""The public pages' AppKeys."""

from __future__ import annotations

from aiohttp import web

from public.pages import Pages

PAGES = web.AppKey("public_pages", Pages)
