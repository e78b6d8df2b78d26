"""Phone-only contacts from a CSV file as ward staff keep it: every bad row is reported by number.

Headers may be English or Vietnamese, with or without tone marks (`họ tên`, `số điện thoại`,
`địa chỉ`, `vĩ độ`, `kinh độ`, `phường xã`, `dễ bị tổn thương`); columns we do not know (an
`STT` row number, notes) are ignored and listed. The separator may be `,`, `;` or a tab (Excel
in a Vietnamese locale writes `;`). Row numbers are the spreadsheet's: the header is row 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from canhbao.csvfile import read_rows
from geofences.errors import InvalidContacts
from geofences.models import LANGUAGES, ContactDraft, Language, normalize_phone, slugify

_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "name": ("name", "ho-ten", "ho-va-ten", "ten"),
    "phone": ("phone", "so-dien-thoai", "sdt", "dien-thoai"),
    "address": ("address", "dia-chi"),
    "lat": ("lat", "latitude", "vi-do"),
    "lon": ("lon", "lng", "longitude", "kinh-do"),
    "area": ("area", "area-code", "ward", "phuong-xa", "xa-phuong", "phuong"),
    "vulnerable": ("vulnerable", "de-bi-ton-thuong", "uu-tien", "yeu-the"),
    "language": ("language", "ngon-ngu"),
}
_YES = {"1", "true", "yes", "y", "x", "co"}
_NO = {"", "0", "false", "no", "n", "khong"}


@dataclass(frozen=True)
class ContactRow:
    """One good row: its spreadsheet row number, the contact, and its area as written."""

    row: int
    contact: ContactDraft
    area: str | None


@dataclass(frozen=True)
class ParsedContacts:
    rows: tuple[ContactRow, ...]
    errors: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()


def parse_contacts_csv(raw: bytes, max_rows: int) -> ParsedContacts:
    """Every row checked; good rows and per-row errors are both returned."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidContacts({1: ("the file is not UTF-8: save it as 'CSV UTF-8'",)}) from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise InvalidContacts({1: ("the file is empty: a header row is required",)})
    delimiter = max(",;\t", key=lines[0].count)
    # The header on top of the rows (and one more, for the check below to name the row).
    reader = read_rows(text, delimiter=delimiter, max_rows=max_rows + 2)
    header = next(reader)
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for position, title in enumerate(header):
        key = next((k for k, names in _COLUMNS.items() if slugify(title) in names), None)
        if key is None or key in columns:
            ignored.append(title)
        else:
            columns[key] = position
    missing = [key for key in ("name", "phone") if key not in columns]
    if missing:
        raise InvalidContacts({1: (f"missing column(s): {', '.join(missing)}",)})
    if "area" not in columns and not {"lat", "lon"} <= columns.keys():
        raise InvalidContacts({1: ("a contact needs a location (lat, lon) or an area column",)})
    rows: list[ContactRow] = []
    errors: dict[int, list[str]] = {}
    phones: dict[str, int] = {}
    for number, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(rows) + len(errors) >= max_rows:
            raise InvalidContacts({number: (f"more than {max_rows:,} rows in one file",)})
        problems: list[str] = []
        row = _read_row(record, columns, problems)
        if row is not None and row.phone in phones:
            problems.append(f"phone {row.phone} is also on row {phones[row.phone]}")
        if problems or row is None:
            errors[number] = problems
            continue
        phones[row.phone] = number
        area = _cell(record, columns, "area") or None
        rows.append(ContactRow(number, row, area))
    return ParsedContacts(
        rows=tuple(rows),
        errors={row: tuple(reasons) for row, reasons in errors.items()},
        ignored_columns=tuple(ignored),
    )


def _cell(record: list[str], columns: Mapping[str, int], key: str) -> str:
    position = columns.get(key)
    if position is None or position >= len(record):
        return ""
    return record[position].strip()


def _read_row(
    record: list[str], columns: Mapping[str, int], problems: list[str]
) -> ContactDraft | None:
    name = _cell(record, columns, "name")
    if not name:
        problems.append("name is empty")
    phone = ""
    try:
        phone = normalize_phone(_cell(record, columns, "phone"))
    except ValueError as err:
        problems.append(str(err))
    lat_text, lon_text = _cell(record, columns, "lat"), _cell(record, columns, "lon")
    lat = _coordinate(lat_text, "lat", 90.0, problems)
    lon = _coordinate(lon_text, "lon", 180.0, problems)
    if bool(lat_text) != bool(lon_text):
        problems.append("lat and lon go together: give both or neither")
    area = _cell(record, columns, "area")
    if lat is None and lon is None and not area:
        problems.append("no location and no area: give lat and lon, or the ward")
    flag = slugify(_cell(record, columns, "vulnerable"))
    if flag not in _YES | _NO:
        problems.append(
            f"vulnerable must be yes or no, not {_cell(record, columns, 'vulnerable')!r}"
        )
    language = _cell(record, columns, "language").lower() or "vi"
    if language not in LANGUAGES:
        problems.append(f"language must be one of {', '.join(LANGUAGES)}")
    if problems:
        return None
    chosen: Language = "en" if language == "en" else "vi"
    return ContactDraft(
        name=name,
        phone=phone,
        address=_cell(record, columns, "address"),
        lon=lon,
        lat=lat,
        area_code=area or None,
        vulnerable=flag in _YES,
        language=chosen,
    )


def _coordinate(text: str, what: str, limit: float, problems: list[str]) -> float | None:
    if not text:
        return None
    try:
        # Vietnamese spreadsheets often write a decimal comma: 16,4637.
        value = float(text.replace(",", "."))
    except ValueError:
        problems.append(f"{what} {text!r} is not a number")
        return None
    if not math.isfinite(value) or abs(value) > limit:
        problems.append(f"{what} {text!r} is out of range (±{limit:g})")
        return None
    return value
