"""Phone-only contacts: CSV import as ward staff keep it, with every bad row reported."""

from __future__ import annotations

import json

import pytest

from canhbao import keys
from geofences.contacts import parse_contacts_csv
from geofences.errors import InvalidContacts
from tests.conftest import StaffFactory
from tests.geofences.conftest import PHU_XUAN, Client, registry

# As Excel saves "CSV UTF-8" in a Vietnamese locale: a BOM, ';' between fields, decimal commas.
SHEET = (
    "\ufeffSTT;Họ tên;Số điện thoại;Địa chỉ;Vĩ độ;Kinh độ;Phường xã;Dễ bị tổn thương\n"
    "1;Nguyễn Thị Hoa;0905 123 456;12 Lê Lợi;16,4800;107,5775;;có\n"
    "2;Trần Văn Bình;+84 234 3822 111;Thôn 3;;;hue.thuan-an;không\n"
    "3;Lê Văn Cường;0912.345.678;;;;Vỹ Dạ;x\n"
)
BAD_ROWS = (
    "4;;0905 000 001;;;;hue.vy-da;\n"
    "5;Phạm Thị Dung;12345;;;;hue.vy-da;\n"
    "6;Hồ Văn Em;0905 000 003;;16,48;;;\n"
    "7;Võ Thị Gấm;0905 000 004;;;;hue.atlantis;\n"
    "8;Đặng Văn Hải;0905 123 456;;;;hue.vy-da;\n"
    "9;Bùi Thị Inh;0905 000 006;;;;hue.vy-da;có lẽ\n"
    "10;Ngô Văn Khoa;0905 000 007;;;;;\n"
)


def test_the_sheet_is_read_with_vietnamese_headers() -> None:
    parsed = parse_contacts_csv(SHEET.encode(), 1000)
    assert parsed.errors == {}
    assert parsed.ignored_columns == ("STT",)
    hoa, binh, cuong = (row.contact for row in parsed.rows)
    assert (hoa.name, hoa.phone, hoa.lat, hoa.lon, hoa.vulnerable) == (
        "Nguyễn Thị Hoa",
        "+84905123456",
        16.48,
        107.5775,
        True,
    )
    assert (binh.phone, binh.area_code, binh.vulnerable) == ("+842343822111", "hue.thuan-an", False)
    assert (cuong.phone, cuong.area_code, cuong.vulnerable) == ("+84912345678", "Vỹ Dạ", True)


def test_each_bad_row_is_reported_by_its_spreadsheet_row_number() -> None:
    parsed = parse_contacts_csv((SHEET + BAD_ROWS).encode(), 1000)
    assert len(parsed.rows) == 4  # three good rows, and row 7 (its ward is checked later)
    assert parsed.errors == {
        5: ("name is empty",),
        6: ("not a phone number: '12345'",),
        7: ("lat and lon go together: give both or neither",),
        9: ("phone +84905123456 is also on row 2",),
        10: ("vulnerable must be yes or no, not 'có lẽ'",),
        11: ("no location and no area: give lat and lon, or the ward",),
    }


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "the file is empty"),
        ("Họ tên;Địa chỉ\nA;B\n".encode(), "missing column(s): phone"),
        (b"name,phone\nA,0905123456\n", "a contact needs a location (lat, lon) or an area"),
        ("name,phone\n".encode("utf-16"), "not UTF-8"),
    ],
)
def test_an_unusable_file_is_refused_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidContacts) as refused:
        parse_contacts_csv(raw, 1000)
    assert reason in refused.value.rows[1][0]


def test_the_row_cap_is_enforced() -> None:
    rows = "name,phone,area\n" + "".join(f"P{i},090500{i:04d},hue\n" for i in range(11))
    with pytest.raises(InvalidContacts, match="row"):
        parse_contacts_csv(rows.encode(), 10)


async def test_an_import_with_bad_rows_imports_nothing_unless_told_to_skip_them(
    hue: Client, staff: StaffFactory
) -> None:
    admin = await staff(hue, "admin", roles=["admin"])
    body = (SHEET + BAD_ROWS).encode()
    refused = await admin.post("/api/v1/contacts/import", data=body)
    assert refused.status == 422
    error = (await refused.json())["error"]
    assert error["code"] == "invalid_contacts"
    assert set(error["rows"]) == {"5", "6", "7", "8", "9", "10", "11"}
    assert error["rows"]["8"] == ["unknown area code(s): hue.atlantis"]
    assert "nothing was imported" in error["message"]
    assert len(registry(hue).contacts) == 0

    partial = await admin.post("/api/v1/contacts/import?skip_invalid=true", data=body)
    assert partial.status == 200, await partial.text()
    report = await partial.json()
    assert (report["added"], report["updated"]) == (3, 0)
    assert set(report["skipped"]) == {"5", "6", "7", "8", "9", "10", "11"}
    assert report["ignored_columns"] == ["STT"]

    again = await (await admin.post("/api/v1/contacts/import", data=SHEET.encode())).json()
    assert (again["added"], again["updated"]) == (0, 3)

    # Located contacts by their point, the others by their ward.
    catalog = registry(hue).catalog
    phu_xuan = catalog.geometry[catalog.by_code["hue.phu-xuan"].id]
    vy_da = catalog.geometry[catalog.by_code["hue.vy-da"].id]
    assert registry(hue).plan(phu_xuan).contact_ids.size == 1
    routes = {r.code: r for r in registry(hue).plan(vy_da).areas}
    assert routes["hue.vy-da"].by_sms == 1

    assert hue.app is not None
    audit = await hue.app[keys.DB].fetch_all(
        "SELECT actor, action, \"after\" FROM audit_log WHERE entity = 'contacts'"
    )
    assert [row["action"] for row in audit] == ["contacts.import", "contacts.import"]
    # Counts only: no names or numbers of vulnerable people in the audit log.
    assert "Hoa" not in audit[0]["after"]
    assert json.loads(audit[0]["after"]) == {"saved": 3, "added": 3}


async def test_contacts_are_listed_added_and_deleted_by_staff_only(
    hue: Client, staff: StaffFactory
) -> None:
    admin = await staff(hue, "admin", roles=["admin"])
    operator = await staff(hue, "minh", roles=["operator"])
    issuer = await staff(hue, "lan", roles=["issuer"])
    contact = {
        "name": "Trương Thị Lụa",
        "phone": "0905 999 888",
        "location": {"lat": PHU_XUAN[1], "lon": PHU_XUAN[0]},
        "vulnerable": True,
    }
    assert (await issuer.post("/api/v1/contacts", json=contact)).status == 403
    assert (await hue.post("/api/v1/contacts", json=contact)).status == 401
    created = await admin.post("/api/v1/contacts", json=contact)
    assert created.status == 201, await created.text()
    listing = await (await operator.get("/api/v1/contacts?area=hue.phu-xuan")).json()
    (row,) = listing["contacts"]
    assert (row["name"], row["phone"], row["area"], row["vulnerable"]) == (
        "Trương Thị Lụa",
        "+84905999888",
        "hue.phu-xuan",
        True,
    )
    assert (await issuer.get("/api/v1/contacts")).status == 403
    assert (await admin.delete(f"/api/v1/contacts/{row['id']}")).status == 204
    assert (await admin.delete(f"/api/v1/contacts/{row['id']}")).status == 404
    assert len(registry(hue).contacts) == 0
    no_place = await admin.post("/api/v1/contacts", json={"name": "A", "phone": "0905111222"})
    assert no_place.status == 400
