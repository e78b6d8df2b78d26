"""GET /api/v1/exercises/report.{json,html,pdf}?from=&to=: the after-action report of this
service's own database over a window, for staff."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from aiohttp import web
from pydantic import Field

from canhbao.api import QueryModel, ResponseModel, endpoint
from canhbao.auth import Role, require_roles
from canhbao.clock import Clock
from canhbao.http import ApiError
from exercises.report.models import ReportError
from exercises.report.pdf import PdfPrinter
from exercises.report.ports import ReportSources
from exercises.report.service import build_report, choose_window

STAFF = (Role.issuer, Role.approver, Role.operator, Role.dispatcher)


@dataclass(frozen=True)
class ReportSetup:
    """Its ports over the app's database (built once the database is open), and the clock."""

    sources: Callable[[], ReportSources]
    clock: Clock
    printer: PdfPrinter


REPORT: web.AppKey[ReportSetup] = web.AppKey("exercises_report", ReportSetup)


class AfterActionReport(ResponseModel):
    """The report's figures (README, "After-action report"): what `canhbao exercise report`
    writes as report.json, comparable between two runs of the same scenario."""

    format: str
    window: dict[str, str]
    crossings: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    calls: dict[str, Any]
    rescue: dict[str, Any]
    timeline: dict[str, Any]


class WindowQuery(QueryModel):
    """ISO-8601 times; without an offset, Vietnam's (+07:00). Default: from the first to the
    last river reading held, at most 31 days."""

    # "from" is a Python keyword: the fields read the query's `from` and `to` by alias.
    start: Annotated[str | None, Field(alias="from", max_length=64)] = None
    end: Annotated[str | None, Field(alias="to", max_length=64)] = None


async def _figures(request: web.Request, query: WindowQuery) -> tuple[dict[str, object], str]:
    setup = request.app[REPORT]
    sources = setup.sources()
    try:
        window = await choose_window(sources, setup.clock, query.start, query.end)
        return await build_report(sources, window)
    except ReportError as err:
        raise ApiError(400, "invalid_window", str(err)) from None


@require_roles(*STAFF)
@endpoint(responses={200: AfterActionReport})
async def report_json(request: web.Request, query: WindowQuery) -> web.Response:
    """The report's figures as JSON (the same as `canhbao exercise report` writes)."""
    figures, _ = await _figures(request, query)
    return web.json_response(figures)


@require_roles(*STAFF)
@endpoint(response_types={200: "text/html"})
async def report_html(request: web.Request, query: WindowQuery) -> web.Response:
    """The report as one self-contained HTML page (no script, nothing fetched)."""
    _, page = await _figures(request, query)
    return web.Response(text=page, content_type="text/html")


@require_roles(*STAFF)
@endpoint(response_types={200: "application/pdf"})
async def report_pdf(request: web.Request, query: WindowQuery) -> web.Response:
    """The report printed by Chromium; 503 when this machine has no Chromium or Playwright."""
    _, page = await _figures(request, query)
    try:
        body = await request.app[REPORT].printer.print(page)
    except ReportError as err:
        raise ApiError(503, "pdf_unavailable", str(err)) from None
    response = web.Response(body=body, content_type="application/pdf")
    response.headers["Content-Disposition"] = 'attachment; filename="after-action-report.pdf"'
    return response


async def _printer_ctx(app: web.Application) -> AsyncIterator[None]:
    """The PDF printer's Chromium (started at the first PDF asked for) ends with the app."""
    yield
    await app[REPORT].printer.close()


def setup(app: web.Application, sources: Callable[[], ReportSources], clock: Clock) -> None:
    """Serve the report; `sources` gives its ports over the app's database once it is open."""
    app[REPORT] = ReportSetup(sources, clock, PdfPrinter())
    app.cleanup_ctx.append(_printer_ctx)
    base = "/api/v1/exercises"
    app.router.add_get(f"{base}/report.json", report_json)
    app.router.add_get(f"{base}/report.html", report_html)
    app.router.add_get(f"{base}/report.pdf", report_pdf)
