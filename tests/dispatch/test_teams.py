"""The team registry: the staff API (audited, bad input named), the team app's own token
(position and its age, push token), and `canhbao teams import` of CSV and GeoJSON rosters."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from canhbao.cli import main
from canhbao.clock import ManualClock
from tests.conftest import AppClient, StaffFactory, make_config
from tests.dispatch.teams_support import API, TEAMS, rows_of

TEAM = TEAMS[0]


async def test_a_team_is_registered_read_changed_and_audited(
    app_client: AppClient, staff: StaffFactory
) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    response = await minh.post(f"{API}/teams", json=TEAM)
    assert response.status == 201, await response.text()
    team = await response.json()
    assert team["name"] == "Đội xuồng Phú Hội"
    assert team["capabilities"] == ["boat", "medical"]
    assert team["push_token_set"] is True
    assert team["last_position"] is None
    lan = await staff(client, "lan", roles=["operator"])
    listed = await (await lan.get(f"{API}/teams")).json()
    assert [t["id"] for t in listed["teams"]] == [team["id"]]
    response = await minh.post(f"{API}/teams/{team['id']}/duty", json={"on_duty": False})
    assert (await response.json())["on_duty"] is False
    response = await lan.post(f"{API}/teams", json=TEAM)
    assert response.status == 403  # operators read, dispatchers write
    response = await minh.post(f"{API}/teams", json=TEAM)
    assert response.status == 409
    audit = await rows_of(client, "SELECT actor, action FROM audit_log WHERE entity = 'team'")
    assert audit == [
        {"actor": "user:minh", "action": "team.create"},
        {"actor": "user:minh", "action": "team.update"},
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"base_lat": 48.85, "base_lon": 2.35}, "base"),
        ({"capacity": 0}, "capacity"),
        ({"capabilities": ["boat", "Xuồng máy!"]}, "capabilities"),
        ({"members": [{"name": "An", "phone": "12"}]}, "members.0.phone"),
        ({"coverage": {"polygon": {"type": "Point", "coordinates": [107.5, 16.4]}}}, "coverage"),
        ({"name": "   "}, "name"),
        ({"push_token": "short"}, "push_token"),
        ({"base_lat": "16.4"}, "base_lat"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_team_input_is_a_422_naming_the_field(
    app_client: AppClient, staff: StaffFactory, change: dict[str, object], field: str
) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    response = await minh.post(f"{API}/teams", json={**TEAM, **change})
    assert response.status == 422, await response.text()
    assert (await response.json())["error"]["field"] == field


async def test_unknown_team_ids_are_404(app_client: AppClient, staff: StaffFactory) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    for path in ("teams/99", "teams/99999999999999999999", "teams/abc"):
        assert (await minh.get(f"{API}/{path}")).status == 404
    response = await minh.post(f"{API}/teams/99/duty", json={"on_duty": True})
    assert response.status == 404


async def test_the_team_app_reports_its_position_with_its_own_token(
    app_client: AppClient, staff: StaffFactory, clock: ManualClock
) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    team = await (await minh.post(f"{API}/teams", json=TEAM)).json()
    issued = await (await minh.post(f"{API}/teams/{team['id']}/token")).json()
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    response = await client.post(
        f"{API}/team/position", json={"lat": 16.47, "lon": 107.60}, headers=bearer
    )
    assert response.status == 200, await response.text()
    clock.advance(timedelta(minutes=4))
    mine = await (await client.get(f"{API}/team", headers=bearer)).json()
    assert mine["last_position"]["lat"] == 16.47
    assert mine["last_position"]["age_s"] == 240.0
    # An older report does not move it back; one from the future is refused; Paris is refused.
    old = (clock.now() - timedelta(hours=1)).isoformat()
    await client.post(
        f"{API}/team/position", json={"lat": 16.40, "lon": 107.50, "at": old}, headers=bearer
    )
    mine = await (await client.get(f"{API}/team", headers=bearer)).json()
    assert mine["last_position"]["lat"] == 16.47
    future = (clock.now() + timedelta(hours=1)).isoformat()
    response = await client.post(
        f"{API}/team/position", json={"lat": 16.4, "lon": 107.5, "at": future}, headers=bearer
    )
    assert response.status == 422
    response = await client.post(
        f"{API}/team/position", json={"lat": 48.85, "lon": 2.35}, headers=bearer
    )
    assert response.status == 422
    response = await client.put(
        f"{API}/team/push-token", json={"token": "fcm-" + "y" * 40}, headers=bearer
    )
    assert response.status == 200
    # A staff login is not a team; a new token revokes the old one.
    assert (await minh.get(f"{API}/team")).status == 403
    await minh.post(f"{API}/teams/{team['id']}/token")
    assert (await client.get(f"{API}/team", headers=bearer)).status == 401


ROSTER_CSV = (
    "name,base_lat,base_lon,capabilities,capacity,ward_codes,on_duty,members\n"
    "Đội xuồng Phú Hội,16.4660,107.5930,boat;medical,2,hue.phu-hoi;hue.vy-da,có,"
    "Nguyễn Văn An:0911 000 001;Lê Thị Bình:+84911000002\n"
    "Đội xe tải Kim Long,16.4590,107.5450,truck,1,,no,Phạm Dung:0913000001\n"
)


def _config_file(tmp_path: Path) -> Path:
    make_config(tmp_path)  # the defaults the tests use
    path = tmp_path / "config.toml"
    database = tmp_path / "canhbao.sqlite3"
    path.write_text(
        f'[database]\npath = "{database}"\n[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 8\n'
        "argon2_parallelism = 1\n",
        encoding="utf-8",
    )
    return path


def test_a_csv_roster_is_imported_then_reimported_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_file(tmp_path)
    roster = tmp_path / "doi.csv"
    roster.write_text(ROSTER_CSV, encoding="utf-8")
    assert main(["--config", str(config), "teams", "import", str(roster)]) == 0
    assert "2 teams created, 0 updated" in capsys.readouterr().out
    assert main(["--config", str(config), "teams", "import", str(roster)]) == 0
    assert "0 teams created, 2 updated" in capsys.readouterr().out


def test_a_geojson_roster_gives_base_and_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_file(tmp_path)
    ring = [[107.55, 16.44], [107.62, 16.44], [107.62, 16.49], [107.55, 16.49], [107.55, 16.44]]
    roster = tmp_path / "doi.geojson"
    roster.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {
                            "type": "GeometryCollection",
                            "geometries": [
                                {"type": "Point", "coordinates": [107.593, 16.466]},
                                {"type": "Polygon", "coordinates": [ring]},
                            ],
                        },
                        "properties": {
                            "name": "Đội xuồng Phú Hội",
                            "capabilities": ["boat"],
                            "members": [{"name": "An", "phone": "+84911000001"}],
                        },
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    assert main(["--config", str(config), "teams", "import", str(roster)]) == 0
    assert "1 teams created" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "the file is empty"),
        ("name,base_lat\nA,16.4\n", "line 1: the column 'base_lon' is missing"),
        ("name,base_lat,base_lon,colour\nA,16.4,107.5,red\n", "unknown column 'colour'"),
        ("name,base_lat,base_lon\nA,16.4,107.5\nB,91,107.5\n", "line 3: base: 91.0, 107.5"),
        ("name,base_lat,base_lon,capacity\nA,16.4,107.5,many\n", "line 2: capacity"),
        ("name,base_lat,base_lon\nA,16.4,107.5\nA,16.5,107.5\n", "listed twice"),
        ('name,base_lat,base_lon\n"A,16.4,107.5\n', "line"),
        ('{"type": "Feature"}', "FeatureCollection"),
        ("\xff\xfe", "not UTF-8"),
    ],
)
def test_a_bad_roster_exits_2_with_one_line_and_stores_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, reason: str
) -> None:
    config = _config_file(tmp_path)
    roster = tmp_path / "doi.csv"
    roster.write_bytes(content.encode("latin-1") if content == "\xff\xfe" else content.encode())
    assert main(["--config", str(config), "teams", "import", str(roster)]) == 2
    err = capsys.readouterr().err
    assert reason in err
    assert err.count("\n") == 1
    assert main(["--config", str(config), "teams", "import", str(tmp_path / "none.csv")]) == 2


async def test_the_api_imports_a_roster_too(app_client: AppClient, staff: StaffFactory) -> None:
    client = await app_client()
    minh = await staff(client, "minh", roles=["dispatcher"])
    response = await minh.post(
        f"{API}/teams/import", data=ROSTER_CSV.encode(), headers={"Content-Type": "text/csv"}
    )
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "created": ["Đội xuồng Phú Hội", "Đội xe tải Kim Long"],
        "updated": [],
    }
    response = await minh.post(
        f"{API}/teams/import", data=b"name\n", headers={"Content-Type": "text/csv"}
    )
    assert response.status == 422
