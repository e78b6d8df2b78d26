"""The recommendation: who is skipped and why, where distance is measured from, and the
vectorised round agreeing with the plain loop on any teams and requests (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.recommend import (
    OpenRequest,
    TeamTable,
    haversine_m,
    needs_for,
    recommend,
    recommend_naive,
)
from dispatch.teams import Coverage, Team

NOW = datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
FRESH = timedelta(minutes=15)
POINT = (16.4637, 107.5909)


def team(
    team_id: int,
    lat: float,
    lon: float,
    *,
    capabilities: tuple[str, ...] = ("boat",),
    capacity: int = 1,
    active: int = 0,
    on_duty: bool = True,
    coverage: Coverage | None = None,
    last: tuple[float, float, timedelta] | None = None,
) -> Team:
    return Team(
        id=team_id,
        name=f"Đội {team_id}",
        base_lat=lat,
        base_lon=lon,
        capabilities=frozenset(capabilities),
        capacity=capacity,
        coverage=coverage or Coverage(),
        on_duty=on_duty,
        members=(),
        push_token=None,
        last_lat=None if last is None else last[0],
        last_lon=None if last is None else last[1],
        last_seen_at=None if last is None else NOW - last[2],
        token_id=None,
        created_at=NOW,
        updated_at=NOW,
        active_jobs=active,
    )


def ask(
    *,
    needs: frozenset[str] = frozenset({"boat"}),
    ward: str | None = None,
    excluded: frozenset[int] = frozenset(),
) -> OpenRequest:
    return OpenRequest(1, "1001", POINT[0], POINT[1], ward, needs, excluded)


def box(lat: float, lon: float, d: float) -> dict[str, object]:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def best(teams: list[Team], request: OpenRequest) -> tuple[int | None, str]:
    found = recommend([request], TeamTable(teams, NOW, FRESH))[request.id]
    return found.team_id, found.reason


def test_the_nearest_capable_team_with_room_is_chosen_and_the_reason_says_why() -> None:
    teams = [
        team(1, 16.4640, 107.5910, capabilities=("truck",)),  # nearest, but no boat
        team(2, 16.4660, 107.5930, active=1),  # full
        team(3, 16.4650, 107.5920, on_duty=False),
        team(4, 16.4750, 107.6050, capacity=2, active=1),
        team(5, 16.4590, 107.5450),
    ]
    chosen, reason = best(teams, ask())
    assert chosen == 4
    assert reason.startswith("Đội 4: gần nhất (2,0 km từ trụ sở của đội), có boat")
    assert "còn 1/2 chỗ" in reason
    assert "1 đội khác cũng phù hợp" in reason


def test_a_fresh_position_counts_a_stale_one_does_not() -> None:
    far_base = (16.60, 107.70)
    moving = team(1, *far_base, last=(16.4640, 107.5910, timedelta(minutes=5)))
    other = team(2, 16.4750, 107.6050)
    chosen, reason = best([moving, other], ask())
    assert chosen == 1
    assert "vị trí báo gần đây" in reason
    stale = team(1, *far_base, last=(16.4640, 107.5910, timedelta(minutes=16)))
    assert best([stale, other], ask())[0] == 2


def test_coverage_by_ward_or_polygon_excludes_points_outside() -> None:
    by_ward = team(1, 16.4640, 107.5910, coverage=Coverage(("hue.vy-da",)))
    by_polygon = team(2, 16.4650, 107.5920, coverage=Coverage((), box(16.60, 107.70, 0.05)))
    anywhere = team(3, 16.4750, 107.6050)
    assert best([by_ward, by_polygon, anywhere], ask(ward="hue.phu-hoi"))[0] == 3
    assert best([by_ward, by_polygon, anywhere], ask(ward="hue.vy-da"))[0] == 1
    # The ward not known: a ward list cannot exclude the point, a polygon still can.
    assert best([by_ward, by_polygon, anywhere], ask(ward=None))[0] == 1
    inside = team(2, 16.4650, 107.5920, coverage=Coverage((), box(*POINT, 0.05)))
    assert best([inside, anywhere], ask())[0] == 2


def test_nobody_fits_and_the_reason_counts_each_kind() -> None:
    teams = [
        team(1, 16.46, 107.59, on_duty=False),
        team(2, 16.46, 107.59, active=1),
        team(3, 16.46, 107.59, capabilities=("truck",)),
        team(4, 16.46, 107.59, coverage=Coverage(("hue.vy-da",))),
        team(5, 16.46, 107.59),
    ]
    chosen, reason = best(teams, ask(ward="hue.phu-hoi", excluded=frozenset({5})))
    assert chosen is None
    assert reason == (
        "không có đội phù hợp: 1 đội nghỉ trực, 1 đội đã kín việc, 1 đội thiếu boat,"
        " 1 đội ngoài vùng phụ trách, 1 đội đã được mời trước đó"
    )


def test_a_request_without_a_location_waits_for_a_dispatcher() -> None:
    request = OpenRequest(1, "1001", None, None)
    found = recommend([request], TeamTable([team(1, 16.46, 107.59)], NOW, FRESH))[1]
    assert found.team_id is None
    assert "chọn đội bằng tay" in found.reason


def test_the_water_decides_whether_a_boat_is_needed() -> None:
    assert needs_for("roof") == {"boat"}
    assert needs_for("in_water") == {"boat"}
    assert needs_for("chest") == {"boat"}
    assert needs_for("ground_floor") == frozenset()
    assert needs_for("unknown") == frozenset()


lat = st.floats(min_value=16.3, max_value=16.7)
lon = st.floats(min_value=107.4, max_value=107.8)
words = st.frozensets(st.sampled_from(["boat", "medical", "truck"]), max_size=3)
wards = st.sampled_from(["hue.a", "hue.b", "hue.c"])


@st.composite
def teams_strategy(draw: st.DrawFn) -> list[Team]:
    count = draw(st.integers(min_value=0, max_value=12))
    found = []
    for index in range(count):
        kind = draw(st.integers(min_value=0, max_value=2))
        a, b = draw(lat), draw(lon)
        coverage = (
            Coverage()
            if kind == 0
            else Coverage(tuple(draw(st.sets(wards, min_size=1))))
            if kind == 1
            else Coverage((), box(a, b, draw(st.floats(min_value=0.01, max_value=0.2))))
        )
        last = None
        if draw(st.booleans()):
            last = (draw(lat), draw(lon), timedelta(minutes=draw(st.integers(0, 30))))
        found.append(
            team(
                index + 1,
                a,
                b,
                capabilities=tuple(draw(words)),
                capacity=draw(st.integers(1, 3)),
                active=draw(st.integers(0, 3)),
                on_duty=draw(st.booleans()),
                coverage=coverage,
                last=last,
            )
        )
    return found


@settings(max_examples=60, deadline=None)
@given(
    teams_strategy(),
    st.lists(
        st.tuples(lat, lon, st.none() | wards, words, st.frozensets(st.integers(1, 12))),
        min_size=1,
        max_size=20,
    ),
)
def test_the_vectorised_round_agrees_with_the_plain_loop(
    teams: list[Team], asks: list[tuple[float, float, str | None, frozenset[str], frozenset[int]]]
) -> None:
    requests = [
        OpenRequest(i, str(1000 + i), a, b, ward, needs, excluded)
        for i, (a, b, ward, needs, excluded) in enumerate(asks)
    ]
    fast = recommend(requests, TeamTable(teams, NOW, FRESH))
    slow = recommend_naive(requests, teams, NOW, FRESH)
    by_id = {t.id: t for t in teams}

    def distance(request: OpenRequest, team_id: int | None) -> float:
        assert team_id is not None
        place = by_id[team_id].position(NOW, FRESH)
        return haversine_m(request.lat or 0.0, request.lon or 0.0, place[0], place[1])

    for request in requests:
        chosen, plain = fast[request.id].team_id, slow[request.id]
        assert (chosen is None) == (plain is None)
        if chosen != plain:  # a tie at equal distance may pick either
            assert abs(distance(request, chosen) - distance(request, plain)) < 0.01
