"""The level state machine: confirmation on two readings or corroboration, hysteresis on the way
down, and no movement from readings that do not drive alarms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from feeds.models import Thresholds
from feeds.thresholds import LevelState, river_levels, step

KIM_LONG = Thresholds(1.0, 2.0, 3.5, 5.81)
T0 = datetime(2025, 11, 16, 0, 0, tzinfo=UTC)


def run(
    values: list[float | None],
    *,
    drives: list[bool] | None = None,
    support: list[int] | None = None,
    state: LevelState | None = None,
) -> tuple[LevelState, list[tuple[int, int, int]]]:
    """Feed hourly water levels; returns the final state and (index, from, to) changes."""
    state = state or LevelState()
    changes = []
    for i, value in enumerate(values):
        raw, held = river_levels(value or 0.0, KIM_LONG, 0.10)
        state, change = step(
            state,
            raw=raw,
            held=held,
            observed_at=T0 + timedelta(hours=i),
            drives=(drives[i] if drives else True) and value is not None,
            support=support[i] if support else 0,
        )
        if change:
            changes.append((i, *change))
    return state, changes


def test_one_reading_above_a_threshold_is_not_enough() -> None:
    state, changes = run([0.9, 1.05])
    assert changes == []
    assert state.level == 0


def test_two_consecutive_readings_confirm_a_band() -> None:
    _, changes = run([0.9, 1.05, 1.1])
    assert changes == [(2, 0, 1)]


def test_a_jump_enters_the_lower_of_the_two_bands_then_the_higher() -> None:
    # 2.1 (band 2) then 3.6 (band 3): both above band 0, the lower of them is confirmed first.
    _, changes = run([0.9, 2.1, 3.6, 3.7])
    assert changes == [(2, 0, 2), (3, 2, 3)]


def test_a_failing_reading_breaks_the_run() -> None:
    _, changes = run([0.9, 1.2, 1.3, 1.4], drives=[True, True, False, True])
    assert changes == []
    _, changes = run([0.9, 1.2, 1.3, 1.4, 1.5], drives=[True, True, False, True, True])
    assert changes == [(4, 0, 1)]


def test_a_corroborated_reading_confirms_at_once() -> None:
    _, changes = run([0.9, 2.2], support=[0, 2])
    assert changes == [(1, 0, 2)]


def test_corroboration_vouches_only_up_to_its_own_band() -> None:
    _, changes = run([0.9, 3.6], support=[0, 1])
    assert changes == [(1, 0, 1)]


def test_leaving_a_band_needs_the_hysteresis_margin_twice() -> None:
    up = [0.5, 2.1, 2.2]
    # 1.95 and 1.91 are under BĐ II but within 0.10 m: band 2 holds.
    _, changes = run([*up, 1.95, 1.91, 1.95])
    assert changes == [(2, 0, 2)]
    _, changes = run([*up, 1.85, 1.95, 1.85])
    assert changes == [(2, 0, 2)]
    _, changes = run([*up, 1.85, 1.84])
    assert changes == [(2, 0, 2), (4, 2, 1)]


def test_a_fall_through_two_bands_steps_to_the_higher_of_the_two() -> None:
    _, changes = run([3.6, 3.7, 1.5, 0.5, 0.4])
    assert changes == [(1, 0, 3), (3, 3, 1), (4, 1, 0)]


def test_old_readings_never_move_the_level() -> None:
    state, _ = run([1.2, 1.3])
    assert state.level == 1
    # A backfilled reading from before the last one is ignored, whatever it says.
    later, change = step(state, raw=3, held=3, observed_at=T0, drives=True, support=3)
    assert later == state
    assert change is None


def test_a_reading_that_does_not_drive_never_moves_the_clock() -> None:
    state, _ = run([1.2])
    # A failed reading dated a year ahead breaks the run, and nothing more.
    state, change = step(state, raw=0, held=0, observed_at=T0 + timedelta(days=365), drives=False)
    assert (change, state.previous, state.last_at) == (None, None, T0)
    # The genuine readings after it still confirm their band.
    state, _ = step(state, raw=1, held=1, observed_at=T0 + timedelta(hours=1), drives=True)
    state, change = step(state, raw=1, held=1, observed_at=T0 + timedelta(hours=2), drives=True)
    assert change == (0, 1)


@given(st.lists(st.one_of(st.none(), st.floats(0, 7, allow_nan=False)), max_size=60))
def test_every_change_is_confirmed(values: list[float | None]) -> None:
    _, changes = run(values)
    level = 0
    for index, before, after in changes:
        assert before == level
        assert before != after
        raw_now, held_now = river_levels(values[index] or 0, KIM_LONG, 0.10)
        previous = values[index - 1]
        assert index >= 1
        assert previous is not None
        raw_before, held_before = river_levels(previous, KIM_LONG, 0.10)
        if after > before:
            assert min(raw_now, raw_before) == after
        else:
            assert max(held_now, held_before) == after
        level = after
