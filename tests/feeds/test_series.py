"""A series in memory keeps HISTORY before its newest point, however many points fall out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from feeds.series import HISTORY, trim

T0 = datetime(2025, 11, 16, 0, 0, tzinfo=UTC)


@given(st.lists(st.integers(min_value=0, max_value=200), min_size=1, unique=True))
def test_trim_keeps_exactly_the_points_within_history_of_the_newest(minutes: list[int]) -> None:
    # Points every few minutes to hours apart: none, a few or very many fall out at once.
    points = [(T0 + timedelta(minutes=15 * m), float(m)) for m in sorted(minutes)]
    newest = points[-1][0]

    start = trim(kept := list(points))

    assert start == newest - HISTORY
    assert kept == [point for point in points if point[0] >= start]
