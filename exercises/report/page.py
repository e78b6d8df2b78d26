"""The report as one self-contained HTML page: inline CSS, charts drawn here as inline SVG, no
script, no outside file; Vietnamese first, English second; times in Asia/Ho_Chi_Minh. Every
string that came from the database is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from canhbao.clock import parse_utc, to_local
from exercises.report.compare import BAND_NAMES, VERDICT_TEXT, Line
from exercises.report.figures import PRIORITIES

Figures = Mapping[str, Any]
PRIORITY_NAMES = {
    "emergency": "Khẩn cấp / emergency",
    "high": "Cao / high",
    "medium": "Trung bình / medium",
    "low": "Thấp / low",
}
# Colour and dash per station: told apart without colour too.
STROKES = (("#1f5fa8", ""), ("#b3541e", "6 3"), ("#2e7d32", "2 3"), ("#6a1b9a", "10 4 2 4"))
CSS = """
body{font:15px/1.45 system-ui,'Noto Sans',sans-serif;margin:1.5rem auto;max-width:60rem;
color:#1b1b1b;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:2px solid #1f5fa8}
.en{color:#555;font-weight:normal}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #bbb;padding:.25rem .45rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef2f7}
.better{background:#e3f2e1}.worse{background:#fbe4e0}
.empty{font-style:italic;color:#555}
svg{width:100%;height:auto;border:1px solid #ccc}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,svg{break-inside:avoid}}
"""


def local(text: str | None) -> str:
    """A stored UTC time as staff read it: local (+07:00), to the second."""
    if not text:
        return "—"
    return to_local(parse_utc(text)).strftime("%d/%m/%Y %H:%M:%S")


def decimal(value: float, places: int) -> str:
    """A number as Vietnamese writes it: a decimal comma, dots between thousands."""
    text = f"{value:,.{places}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def duration(seconds: float | None) -> str:
    """'2 phút 05 giây' style; '—' when not reached."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} giờ {minutes:02d} phút"
    if minutes:
        return f"{minutes} phút {secs:02d} giây"
    return f"{decimal(seconds, 1)} giây" if seconds < 10 else f"{whole} giây"


def share(value: float | None) -> str:
    return "—" if value is None else f"{decimal(value * 100, 1)} %"


def count(value: int | float) -> str:
    return decimal(value, 0)


def _heading(vi: str, en: str) -> str:
    return f'<h2>{escape(vi)} <span class="en">/ {escape(en)}</span></h2>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _td(text: str, number: bool | int = False) -> str:
    return f'<td class="n">{escape(text)}</td>' if number else f"<td>{escape(text)}</td>"


def _crossings(figures: Figures) -> str:
    rows = []
    for row in figures["crossings"]:
        band = int(row["band"])
        rows.append(
            [
                _td(f"{row['station']} ({row['station_id']})"),
                _td(f"{BAND_NAMES.get(band, str(band))} ({decimal(row['value_m'], 2)} m)"),
                _td(local(row["observed_at"])),
                _td(row["warning"] or "không có cảnh báo / no warning"),
                *(
                    _td(duration(row[c]), number=True)
                    for c in (
                        "to_draft_s",
                        "to_approval_s",
                        "to_issue_s",
                        "to_90_percent_s",
                        "to_100_percent_s",
                    )
                ),
                _td(count(row["targeted_devices"]), number=True),
            ]
        )
    return _heading("Mực nước vượt báo động và cảnh báo", "Band crossings and warnings") + _table(
        (
            "Trạm / station",
            "Mức / band",
            "Lúc vượt / crossed at",
            "Cảnh báo / warning",
            "Đến bản nháp / to draft",
            "Đến phê duyệt / to approval",
            "Đến ban hành / to issue",
            "90 % thiết bị / devices",
            "100 % thiết bị / devices",
            "Thiết bị nhắm tới / targeted",
        ),
        rows,
        "Không có lần vượt báo động nào trong khoảng này. / No band crossing in this window.",
    )


def _calls(figures: Figures) -> str:
    calls = figures["calls"]
    wait = calls["time_to_callback"]
    lines = [
        ("Cuộc gọi đến / calls offered", count(calls["offered"])),
        (
            "Cần gặp điều hành viên / asked for an operator",
            count(calls["queued_for_operator"]),
        ),
        (
            "Điều hành viên trả lời trong 15 giây / answered by an operator within 15 s"
            " (NENA: 90 %)",
            f"{count(calls['answered_within_15s'])} ({share(calls['answered_within_15s_share'])})",
        ),
        (
            "Bỏ dở / abandoned",
            f"{count(calls['abandoned'])} ({share(calls['abandoned_share'])})",
        ),
        ("Đã gọi lại / called back", count(calls["called_back"])),
        ("Gọi lại gặp được / callback reached", count(calls["callback_reached"])),
        ("Bỏ dở chưa gọi lại / not called back", count(calls["abandoned_not_called_back"])),
        (
            "Thời gian đến khi gọi lại / time to callback (trung vị / median; p90)",
            f"{duration(wait['median_s'])}; {duration(wait['p90_s'])}",
        ),
    ]
    return _heading("Đường dây nóng 1900 1075", "Hotline") + _table(
        ("Chỉ số / figure", "Giá trị / value"),
        [[_td(a), _td(b, number=True)] for a, b in lines],
        "",
    )


def _rescue(figures: Figures) -> str:
    rescue = figures["rescue"]
    rows = []
    for key in (*PRIORITIES, "total"):
        group = rescue["total"] if key == "total" else rescue["by_priority"][key]
        cells = [_td(PRIORITY_NAMES.get(key, "Tất cả / all")), _td(str(group["requests"]), True)]
        for stage in ("to_accept", "to_on_scene", "to_resolved"):
            s = group[stage]
            cells.append(
                _td(
                    f"{duration(s['median_s'])} · p90 {duration(s['p90_s'])} (n={s['count']})", True
                )
            )
        rows.append(cells)
    missed = ", ".join(f"#{n}" for n in rescue["missed_escalation_requests"]) or "—"
    return (
        _heading("Cứu hộ theo mức ưu tiên", "Rescue requests by priority")
        + _table(
            (
                "Ưu tiên / priority",
                "Yêu cầu / requests",
                "Đến khi nhận / to accept (trung vị / median)",
                "Đến hiện trường / on scene",
                "Đến khi xong / resolved",
            ),
            rows,
            "",
        )
        + f"<p>Chuyển cấp / escalations: <b>{rescue['escalations']}</b>; "
        f"bị bỏ sót (khi hết khoảng, chưa ai xử lý cũng chưa đội nào nhận) / missed (neither"
        f" cleared nor accepted by the window's end): "
        f"<b>{rescue['missed_escalations']}</b> — {escape(missed)}</p>"
    )


def _x(moment: datetime, start: datetime, span: float, left: float, width: float) -> float:
    return left + width * (moment - start).total_seconds() / span


def timeline_svg(figures: Figures) -> str:
    """River levels per station (with their báo động lines), warnings issued as vertical
    lines, and calls per hour as bars below, on one time axis."""
    timeline = figures["timeline"]
    start, end = parse_utc(figures["window"]["from"]), parse_utc(figures["window"]["to"])
    span = max((end - start).total_seconds(), 1.0)
    left, width, top, height, bars = 60.0, 880.0, 20.0, 260.0, 90.0
    values = [p[1] for s in timeline["stations"] for p in s["points"]]
    values += [b for s in timeline["stations"] for b in s["bao_dong"] if b is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    high = high if high > low else low + 1.0
    pad = (high - low) * 0.08
    low, high = low - pad, high + pad

    def y(value: float) -> float:
        return top + height * (high - value) / (high - low)

    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 960 445" role="img"'
        ' aria-labelledby="tl-title"><title id="tl-title">Mực nước, cảnh báo và cuộc gọi theo'
        " giờ / River level, warnings and calls per hour</title>",
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="#fafafa"'
        ' stroke="#999"/>',
    ]
    base = top + height + 20 + bars
    for i in range(1, 6):
        moment = start + (end - start) * i / 6
        x = left + width * i / 6
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{base}" stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{base + 16}" font-size="10" text-anchor="middle">'
            f"{to_local(moment):%H:%M %d/%m}</text>"
        )
    for i in range(5):
        value = low + (high - low) * i / 4
        parts.append(
            f'<text x="{left - 6}" y="{y(value) + 4:.1f}" font-size="11"'
            f' text-anchor="end">{decimal(value, 1)} m</text>'
        )
    for index, station in enumerate(timeline["stations"]):
        colour, dash = STROKES[index % len(STROKES)]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        for level, bao_dong in enumerate(station["bao_dong"], start=1):
            if bao_dong is None or not low <= bao_dong <= high:
                continue
            parts.append(
                f'<line x1="{left}" x2="{left + width}" y1="{y(bao_dong):.1f}"'
                f' y2="{y(bao_dong):.1f}" stroke="{colour}" stroke-opacity=".45"'
                f' stroke-dasharray="1 4"/><text x="{left + width - 4}" y="{y(bao_dong) - 3:.1f}"'
                f' font-size="10" text-anchor="end" fill="{colour}">BĐ{level}'
                f" {escape(station['id'])}</text>"
            )
        points = " ".join(
            f"{_x(parse_utc(at), start, span, left, width):.1f},{y(v):.1f}"
            for at, v in station["points"]
        )
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"'
            f"{dashes}><title>{escape(station['name'])}</title></polyline>"
        )
    for warning in figures["warnings"]:
        if not warning["issued_at"]:
            continue
        x = _x(parse_utc(warning["issued_at"]), start, span, left, width)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + height + bars + 20}"'
            ' stroke="#c62828" stroke-width="1.5"><title>'
            f"{escape(warning['identifier'])}: {escape(warning['headline'])}</title></line>"
            f'<text x="{x + 2:.1f}" y="{top + 10}" font-size="10" fill="#c62828">▼ '
            f"{escape(warning['msg_type'])}</text>"
        )
    counts = timeline["calls_per_slot"]
    most = max(counts, default=0) or 1
    slot = width * timeline["step_s"] / span
    for moment, count in zip(timeline["slots"], counts, strict=True):
        x = _x(parse_utc(moment), start, span, left, width)
        if count and x >= left - slot:
            h = bars * count / most
            parts.append(
                f'<rect x="{max(x, left):.1f}" y="{base - h:.1f}" width="{max(slot - 1, 1):.1f}"'
                f' height="{h:.1f}" fill="#607d8b"><title>{count}</title></rect>'
            )
    parts.append(
        f'<text x="{left - 6}" y="{base - bars + 8}" font-size="11" text-anchor="end">'
        f"{most}</text>"
        f'<text x="{left - 6}" y="{base}" font-size="11" text-anchor="end">0</text>'
        f'<text x="{left}" y="{base + 32}" font-size="11">'
        f"{escape(local(figures['window']['from']))}</text>"
        f'<text x="{left + width}" y="{base + 32}" font-size="11" text-anchor="end">'
        f"{escape(local(figures['window']['to']))}</text></svg>"
    )
    hours = timeline["step_s"] // 3600
    step = "giờ" if hours == 1 else f"{hours} giờ"
    step_en = "hour" if hours == 1 else f"{hours} hours"
    legend = "".join(
        f"<li>{'— — ' if STROKES[i % len(STROKES)][1] else '——— '}{escape(s['name'])}"
        f" ({escape(s['id'])})</li>"
        for i, s in enumerate(timeline["stations"])
    )
    return (
        "".join(parts)
        + "<ul>"
        + legend
        + "<li>Đường đỏ dọc ▼: cảnh báo được ban hành / red vertical line: warning issued</li>"
        + f"<li>Cột xám: cuộc gọi mỗi {step} / grey bars: calls per {step_en}</li></ul>"
    )


def _comparison(lines: Sequence[Line]) -> str:
    def show(line: Line, value: float | None) -> str:
        if value is None:
            return "—"
        if line.unit == "s":
            return duration(value)
        if line.unit == "share":
            return share(value)
        return count(value)

    rows = [
        [
            _td(line.label),
            _td(show(line, line.before), True),
            _td(show(line, line.now), True),
            f'<td class="{line.verdict if line.verdict in ("better", "worse") else ""}">'
            f"<b>{escape(VERDICT_TEXT[line.verdict])}</b></td>",
        ]
        for line in lines
    ]
    return _heading("So với lần trước", "Compared with the previous run") + _table(
        ("Chỉ số / figure", "Lần trước / before", "Lần này / now", "Đánh giá / verdict"),
        rows,
        "Hai lần không có chỉ số chung. / The two runs share no figure.",
    )


def render(figures: Figures, *, title: str = "", comparison: Sequence[Line] | None = None) -> str:
    """The whole page."""
    window = figures["window"]
    name = escape(title) if title else "Báo cáo sau diễn tập"
    empty = not (
        figures["crossings"] or figures["warnings"] or figures["calls"]["offered"]
        or figures["rescue"]["total"]["requests"] or figures["timeline"]["stations"]
    )  # fmt: skip
    notice = (
        '<p class="empty">Không có sự kiện nào trong khoảng thời gian này. / Nothing happened'
        " in this window.</p>"
        if empty
        else ""
    )
    return (
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{name} — After-action report</title><style>{CSS}</style></head><body>"
        f'<h1>{name} <span class="en">/ After-action report</span></h1>'
        f"<p>Từ / from <b>{escape(local(window['from']))}</b> đến / to"
        f" <b>{escape(local(window['to']))}</b> (giờ Việt Nam, UTC+07:00)</p>"
        + notice
        + (_comparison(comparison) if comparison is not None else "")
        + _crossings(figures)
        + _heading("Diễn biến", "Timeline")
        + timeline_svg(figures)
        + _calls(figures)
        + _rescue(figures)
        + "</body></html>"
    )
