"""The hotline offers a caller the location the geofences registry holds for their number."""

from __future__ import annotations

from geofences.keys import GEOFENCES
from geofences.models import ContactDraft
from tests.geofences.conftest import PHU_XUAN, fcm_token, load_hue
from tests.hotline.conftest import CALLER, Line, StartLine


async def _line_with_real_locations(start_line: StartLine) -> Line:
    line = await start_line()
    app = line.client.app
    assert app is not None
    line.hotline.ports.locations = line.real_ports.locations
    await load_hue(line.client)
    return line


async def test_a_registered_phone_is_offered_its_ward(start_line: StartLine) -> None:
    line = await _line_with_real_locations(start_line)
    registration = {
        "token": fcm_token(),
        "platform": "android",
        "language": "vi",
        "phone": CALLER,
        "location": {"lon": PHU_XUAN[0], "lat": PHU_XUAN[1], "accuracy_m": 20},
    }
    assert (await line.client.post("/api/v1/devices", json=registration)).status == 201

    call = await line.sim.incoming(CALLER)
    await call.press("1")
    assert "Hệ thống có vị trí của số điện thoại này: khu vực Phú Xuân" in call.transcript
    await call.press("1")
    await call.press("2#")
    await call.press("#")
    request = (await line.rows("SELECT * FROM dispatch_requests"))[0]
    assert (request["lon"], request["lat"]) == PHU_XUAN
    assert request["location_source"] == "device"


async def test_a_phone_only_contact_is_offered_their_address(start_line: StartLine) -> None:
    line = await _line_with_real_locations(start_line)
    app = line.client.app
    assert app is not None
    contact = ContactDraft(
        name="Bà Lê Thị Hoa",
        phone=CALLER,
        address="kiệt 12 Đoàn Thị Điểm",
        lon=PHU_XUAN[0],
        lat=PHU_XUAN[1],
        vulnerable=True,
    )
    await app[GEOFENCES].save_contacts([(contact, None)], actor="test", action="add")

    call = await line.sim.incoming(CALLER)
    await call.press("1")
    assert "kiệt 12 Đoàn Thị Điểm, Phú Xuân" in call.transcript


async def test_an_unknown_number_is_asked_for_an_address(start_line: StartLine) -> None:
    line = await _line_with_real_locations(start_line)
    call = await line.sim.incoming(CALLER)
    await call.press("1")
    assert "Hệ thống có vị trí" not in call.transcript
    assert "Xin nói rõ địa chỉ" in call.transcript
