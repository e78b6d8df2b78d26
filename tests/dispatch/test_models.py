"""The state machine and priority as pure functions."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.errors import InvalidInput, InvalidTransition
from dispatch.models import (
    CLOSED_STATES,
    OPEN_STATES,
    TRANSITIONS,
    NewRequest,
    Priority,
    State,
    Vulnerability,
    Water,
    check_transition,
    checked,
    priority_of,
    priority_points,
    request_id_of,
    request_number,
)

HAPPY_PATH = [
    State.new,
    State.triaged,
    State.offered,
    State.accepted,
    State.en_route,
    State.on_scene,
    State.resolved,
]


def test_the_happy_path_is_allowed_step_by_step() -> None:
    for current, target in itertools.pairwise(HAPPY_PATH):
        check_transition("1001", current, target)


@given(st.sampled_from(list(State)), st.sampled_from(list(State)))
def test_a_refused_transition_names_exactly_the_allowed_states(
    current: State, target: State
) -> None:
    if target in TRANSITIONS[current]:
        check_transition("1001", current, target)
        return
    with pytest.raises(InvalidTransition) as refused:
        check_transition("1001", current, target)
    assert refused.value.allowed == tuple(s.value for s in TRANSITIONS[current])


def test_closed_states_go_nowhere_and_every_open_state_can_close() -> None:
    assert set(CLOSED_STATES) == {
        State.resolved,
        State.cancelled,
        State.unfounded,
        State.duplicate,
    }
    for state in OPEN_STATES:
        assert set(TRANSITIONS[state]) & set(CLOSED_STATES)


@pytest.mark.parametrize(
    ("flags", "water", "people", "severe", "waited", "expected"),
    [
        ((), Water.none, 2, False, timedelta(0), Priority.low),
        ((), Water.unknown, 2, False, timedelta(0), Priority.low),
        ((), Water.ground_floor, 2, False, timedelta(minutes=30), Priority.medium),
        ((Vulnerability.elderly,), Water.chest, 2, False, timedelta(0), Priority.high),
        ((), Water.roof, 2, True, timedelta(0), Priority.high),
        ((Vulnerability.injured,), Water.roof, 2, False, timedelta(0), Priority.emergency),
        ((), Water.in_water, 1, False, timedelta(0), Priority.emergency),
        # Waiting raises a low request, but at most three steps.
        ((), Water.none, 2, False, timedelta(hours=10), Priority.medium),
        ((), Water.roof, 12, True, timedelta(0), Priority.emergency),
    ],
)
def test_priority_from_flags_water_warning_and_waiting(
    flags: tuple[Vulnerability, ...],
    water: Water,
    people: int,
    severe: bool,
    waited: timedelta,
    expected: Priority,
) -> None:
    assert priority_of(priority_points(flags, water, people, severe, waited)) is expected


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (NewRequest("app", lat=48.85, lon=2.35), "lat"),
        (NewRequest("app", lat=16.4, lon=2.35), "lon"),
        (NewRequest("app", lat=16.4, lon=None), "lon"),
        (NewRequest("app", lat=float("nan"), lon=107.5), "lat"),
        (NewRequest("app", people=0), "people"),
        (NewRequest("app", people=1001), "people"),
        (NewRequest("app", lat=16.4, lon=107.5, accuracy_m=-1), "accuracy_m"),
    ],
)
def test_bad_drafts_name_their_field(draft: NewRequest, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        checked(draft)
    assert refused.value.field == field


@given(st.text(max_size=20))
def test_request_numbers_read_back_or_not_at_all(text: str) -> None:
    row_id = request_id_of(text)
    if row_id is not None:
        assert request_number(row_id) == str(int(text.strip()))


def test_request_numbers_round_trip() -> None:
    assert request_id_of(request_number(7)) == 7
    assert request_id_of(" 1007 ") == 7
    assert request_id_of("999") is None
    assert request_id_of("\u0661\u0660\u0660\u0667") is None  # Arabic-Indic digits
