"""The public pages rendered from a test database: content, escaping, 404s, language choice,
search without diacritics, ETag revalidation, rebuilding when a warning is issued."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from pathlib import Path

import pytest

from alerting.keys import ALERTING
from canhbao.clock import ManualClock
from geofences.areas import ImportOptions, prepare_import, read_document
from public.keys import PAGES
from tests.conftest import AppClient, make_config
from tests.geofences.conftest import registry
from tests.public.conftest import (
    KIM_LONG,
    PHU_XUAN,
    Client,
    app_of,
    info,
    issue,
    warning,
    world,
)

HEADLINE = "Cảnh báo lũ: sông Hương tại Kim Long vượt báo động III"


async def started(app_client: AppClient, clock: ManualClock) -> tuple[Client, str]:
    client = await app_client()
    return client, (await world(client, clock))["warning"]


async def page(client: Client, path: str, status: int = 200, **headers: str) -> str:
    response = await client.get(path, headers=headers)
    text = await response.text()
    assert response.status == status, text[:500]
    return text


async def test_home_shows_warnings_wards_stations_and_the_hotline(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, identifier = await started(app_client, clock)

    html = await page(client, "/")

    assert '<html lang="vi">' in html
    assert HEADLINE in html
    assert f'href="/canh-bao/{identifier}"' in html
    assert "Nguy hiểm" in html  # severity in words, not only a colour
    assert 'href="/phuong/hue.phu-xuan"' in html
    assert "Phú Xuân" in html
    assert 'class="Severe"' in html  # the ward is shaded on the map ...
    assert html.count("<path") >= 40  # ... drawn by us from the 40 wards' outlines
    assert "Kim Long" in html
    assert "3,61 m" in html
    assert "Báo động III" in html
    assert "Phú Ốc" in html
    assert "Chưa có số liệu mới" in html
    assert 'href="tel:19001075"' in html
    assert "10:00 ngày 16/11/2025" in html  # 03:00 UTC shown in Asia/Ho_Chi_Minh
    assert "<script" not in html  # readable with JavaScript off: there is none


async def test_a_warning_page_is_shareable_and_links_its_cap_document(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, identifier = await started(app_client, clock)

    html = await page(client, f"/canh-bao/{identifier}")

    assert f'<meta property="og:title" content="{HEADLINE}">' in html
    assert f'content="http://127.0.0.1:8080/canh-bao/{identifier}"' in html
    assert f'href="/cap/alerts/{identifier}.xml"' in html
    assert "Di chuyển ngay đến nơi an toàn." in html
    assert "Phát lúc" in html
    assert "10:00 ngày 16/11/2025" in html
    assert "Hết hiệu lực lúc 16:00 ngày 16/11/2025" in html
    cap = await client.get(f"/cap/alerts/{identifier}.xml")
    assert cap.status == 200


async def test_an_update_links_the_chain_both_ways(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, identifier = await started(app_client, clock)
    workflow = app_of(client)[ALERTING]
    clock.advance(timedelta(minutes=30))
    update = await workflow.derive(identifier, "Update", "user:lan")
    await workflow.submit(update.identifier, "user:lan")
    await workflow.approve(update.identifier, "user:minh")
    await workflow.issue(update.identifier, "user:minh")

    old = await page(client, f"/canh-bao/{identifier}")
    new = await page(client, f"/canh-bao/{update.identifier}")

    assert "Cảnh báo này đã được thay thế." in old
    assert f'href="/canh-bao/{update.identifier}"' in old
    assert f'href="/canh-bao/{identifier}"' in new
    assert "Cập nhật" in new


async def test_a_station_page_charts_the_day_with_its_alarm_lines_and_gives_the_csv(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, _ = await started(app_client, clock)

    html = await page(client, "/tram/71520")
    response = await client.get("/tram/71520.csv")

    assert "<polyline" in html
    assert "BĐ III 3,5 m" in html
    assert "BĐ II 2,0 m" in html
    assert "đang lên" in html
    assert "còn 2,20 m nữa đến mức lũ lịch sử" in html
    assert response.status == 200
    assert response.content_type == "text/csv"
    rows = (await response.text()).splitlines()
    assert rows[0] == "station_id,observed_at_utc,observed_at_local,water_level_m"
    assert len(rows) == 25
    assert rows[-1].endswith("+07:00,3.610")


async def test_a_ward_page_lists_its_warnings_and_nearest_stations(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, identifier = await started(app_client, clock)

    covered = await page(client, f"/phuong/{KIM_LONG}")
    elsewhere = await page(client, "/phuong/hue.thuan-an")

    assert "<h1>Kim Long</h1>" in covered
    assert f"/canh-bao/{identifier}" in covered
    assert "Kim Long" in covered
    assert "cách" in covered
    assert f"/canh-bao/{identifier}" not in elsewhere
    assert "Hiện không có cảnh báo nào" in elsewhere


async def test_the_camera_page_answers_without_cameras(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, _ = await started(app_client, clock)

    assert "Chưa có camera nào." in await page(client, "/camera")


@pytest.mark.parametrize(
    "query", ["Phu Xuan", "phú xuân", "PHUONG PHU XUAN", "  phu   xuan  ", "phu\x00 xuan"]
)
async def test_search_finds_a_ward_with_or_without_diacritics(
    app_client: AppClient, clock: ManualClock, query: str
) -> None:
    client, _ = await started(app_client, clock)

    html = await page(client, "/tim?" + _query(query))

    assert f'href="/phuong/{PHU_XUAN}">Phú Xuân</a>' in html


async def test_search_answers_any_text_trimmed(app_client: AppClient, clock: ManualClock) -> None:
    client, _ = await started(app_client, clock)

    long = await page(client, "/tim?" + _query("x" * 10_000))
    controls = await page(client, "/tim?" + _query("\x1b\u202ephu\r\n\txuan\x7f\x00"))

    assert 'value="' + "x" * 100 + '"' in long
    assert "x" * 101 not in long
    assert "Không tìm thấy" in long
    assert "\x1b" not in controls
    assert "\u202e" not in controls
    assert 'value="phu xuan"' in controls
    assert f'href="/phuong/{PHU_XUAN}"' in controls


@pytest.mark.parametrize(
    "path", ["/canh-bao/2.49.0.1.704.nope", "/tram/99999", "/tram/99999.csv", "/phuong/nowhere",
             "/canh-bao/" + "9" * 5000]
)  # fmt: skip
async def test_unknown_things_answer_a_vietnamese_404_page_with_a_link_home(
    app_client: AppClient, clock: ManualClock, path: str
) -> None:
    client, _ = await started(app_client, clock)

    response = await client.get(path)
    html = await response.text()

    assert response.status == 404
    assert response.content_type == "text/html"
    assert "Không tìm thấy trang" in html
    assert '<a class="button" href="/">' in html
    english = await client.get(path, headers={"Cookie": "lang=en"})
    html = await english.text()
    assert english.status == 404
    assert '<html lang="vi">' in html  # Vietnamese first whatever was chosen ...
    assert '<div lang="en">' in html  # ... English under it
    assert "Page not found" in html


async def test_test_and_exercise_warnings_never_appear(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, _ = await started(app_client, clock)
    hidden = []
    for status in ("Test", "Exercise"):
        hidden.append(await issue(client, warning(f"Diễn tập {status} bí mật", status=status)))

    pages = [await page(client, path) for path in ("/", f"/phuong/{KIM_LONG}")]

    for html in pages:
        assert "bí mật" not in html
    for identifier in hidden:
        html = await page(client, f"/canh-bao/{identifier}", 404)
        assert "bí mật" not in html


async def test_user_supplied_text_is_escaped_everywhere(
    app_client: AppClient, clock: ManualClock, tmp_path: Path
) -> None:
    client, _ = await started(app_client, clock)
    # A ward imported with a script for a name, and an upstream headline with one.
    attack = '<script>alert("x")</script>'
    document = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": f"Xã {attack}"},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[107.0, 16.0], [107.1, 16.0], [107.1, 16.1], [107.0, 16.1], [107.0, 16.0]]
                    ],
                },
            }
        ],
    }
    plan = prepare_import(
        read_document(json.dumps(document).encode(), 10**6),
        ImportOptions(name_property="name"),
    )
    await registry(client).import_areas(plan, source="attack.geojson", actor="test")
    wards = app_of(client)[PAGES].ports.wards.wards()
    (code,) = [w.code for w in wards if "script" in w.name]
    identifier = await issue(
        client,
        warning(
            f"Lũ {attack}",
            f"Flood {attack}",
            infos=(
                info("vi-VN", f"Lũ {attack}", description=attack, instruction=attack),
                info("en-US", f"Flood {attack}"),
            ),
        ),
    )

    paths = ["/", f"/canh-bao/{identifier}", f"/phuong/{code}", "/tim?q=script", "/tim?q=" + attack]
    for path in paths:
        html = await page(client, path)
        assert "<script" not in html, path
        assert "&lt;script&gt;" in html, path


async def test_a_page_is_revalidated_with_its_strong_etag(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, identifier = await started(app_client, clock)
    for path in ("/", f"/canh-bao/{identifier}"):
        for coding in ("gzip", "br", "identity"):
            first = await client.get(path, headers={"Accept-Encoding": coding})
            await first.read()
            etag = first.headers["ETag"]
            assert etag.startswith('"')
            assert not etag.startswith("W/")
            assert first.headers["Cache-Control"] == "public, max-age=30"
            assert "Accept-Encoding" in first.headers["Vary"]

            again = await client.get(
                path, headers={"Accept-Encoding": coding, "If-None-Match": etag}
            )

            assert again.status == 304, (path, coding)
            assert again.headers["ETag"] == etag
            assert await again.read() == b""


async def test_pages_are_built_once_and_rebuilt_when_a_warning_is_issued(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, _ = await started(app_client, clock)
    pages = app_of(client)[PAGES]
    first = await client.get("/")
    await first.read()
    builds = pages.cache.builds

    for _ in range(5):
        repeat = await client.get("/")
        assert repeat.headers["ETag"] == first.headers["ETag"]
    assert pages.cache.builds == builds

    await issue(client, warning("Cảnh báo mưa lớn ở Phú Xuân", "Heavy rain in Phú Xuân"))
    after = await page(client, "/")

    assert "Cảnh báo mưa lớn ở Phú Xuân" in after
    assert pages.cache.builds == builds + 1


async def test_the_inputs_are_read_at_most_once_per_recheck(
    app_client: AppClient, clock: ManualClock, tmp_path: Path
) -> None:
    config = make_config(tmp_path, {"public": {"recheck_s": 3600.0}})
    client = await app_client(config=config)
    await world(client, clock)
    first = await page(client, "/")

    await issue(client, warning("Cảnh báo mưa lớn ở Phú Xuân", "Heavy rain in Phú Xuân"))
    again = await page(client, "/")

    assert again == first  # a crowd costs one read of the inputs per recheck_s, not one each


async def test_every_page_is_under_60_kb_compressed(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, identifier = await started(app_client, clock)
    paths = ["/", f"/canh-bao/{identifier}", "/tram/71520", f"/phuong/{PHU_XUAN}", "/camera"]
    for path in paths:
        response = await client.get(
            path, headers={"Accept-Encoding": "gzip"}, auto_decompress=False
        )
        body = await response.read()
        assert response.headers["Content-Encoding"] == "gzip"
        assert len(body) < 60_000, (path, len(body))
        assert gzip.decompress(body).startswith(b"<!doctype html>")


@pytest.mark.parametrize(
    ("url", "headers", "expected"),
    [
        ("/", {}, "vi"),
        ("/", {"Accept-Language": "en-GB,en;q=0.9"}, "en"),
        ("/", {"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"}, "vi"),
        ("/", {"Cookie": "lang=en", "Accept-Language": "vi"}, "en"),
        ("/?lang=vi", {"Cookie": "lang=en"}, "vi"),
        ("/?lang=xx", {"Accept-Language": "en"}, "en"),
    ],
)
async def test_the_language_is_chosen_by_query_cookie_then_accept_language(
    app_client: AppClient, clock: ManualClock, url: str, headers: dict[str, str], expected: str
) -> None:
    client, _ = await started(app_client, clock)

    response = await client.get(url, headers=headers)
    html = await response.text()

    assert f'<html lang="{expected}">' in html
    assert response.headers["Content-Language"] == expected
    words = {"vi": "Cảnh báo đang có hiệu lực", "en": "Warnings in force"}[expected]
    assert words in html


async def test_choosing_english_is_remembered_in_a_cookie(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, identifier = await started(app_client, clock)

    chosen = await client.get("/?lang=en")
    await chosen.read()
    later = await page(client, f"/canh-bao/{identifier}")  # the client's jar sends the cookie

    assert chosen.cookies["lang"].value == "en"
    assert chosen.headers["Cache-Control"].startswith("private")
    assert '<html lang="en">' in later
    assert "Flood warning: Hương river at Kim Long above alarm level III" in later
    assert '<a class="lang" href="?lang=vi" lang="vi"' in later


def _query(text: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"q": text})


async def test_made_up_addresses_do_not_push_real_pages_out(
    app_client: AppClient, clock: ManualClock
) -> None:
    client, identifier = await started(app_client, clock)
    await page(client, f"/canh-bao/{identifier}")
    cache = app_of(client)[PAGES].cache
    kept = len(cache)

    for n in range(50):
        await page(client, f"/canh-bao/made-up-{n}", 404)

    assert len(cache) == kept
