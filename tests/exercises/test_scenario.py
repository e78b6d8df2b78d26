"""Scenario files: the shipped November 2025 scenario reads as the real river ran; every bad
value is refused before anything starts, naming the file and line; any text at all gets a
ScenarioInvalid, never another error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canhbao.adapters.exercises import scenario_context
from canhbao.cli import main
from exercises.errors import ScenarioInvalid
from exercises.scenario import ScenarioContext, load_scenario, parse_scenario
from exercises.tomllines import key_line
from tests.conftest import make_config

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "scenarios" / "hue-2025-11.toml"
DATA = REPO / "scenarios" / "data" / "vn_vndms_kimlong_phuoc_2025-11_derived.csv"


@pytest.fixture(scope="module")
def context() -> ScenarioContext:
    return scenario_context(make_config(Path("/nonexistent")))


def variant(tmp_path: Path, old: str, new: str) -> Path:
    """The shipped scenario with `old` replaced once, written beside an absolute replay path."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text, old
    text = text.replace(old, new, 1).replace(
        'file = "data/vn_vndms_kimlong_phuoc_2025-11_derived.csv"', f'file = "{DATA}"'
    )
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    """The last line holding `needle` (a value repeated is refused where it repeats)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return max(n for n, line in enumerate(lines, start=1) if needle in line)


def test_the_shipped_scenario_follows_the_real_flood(context: ScenarioContext) -> None:
    scenario = load_scenario(SHIPPED, context)

    assert scenario.name == "hue-2025-11"
    assert scenario.start == datetime(2025, 11, 15, 23, 0, tzinfo=UTC)  # 06:00 on the 16th, +07
    assert scenario.speed == 60
    assert scenario.wall_time.total_seconds() == 72 * 60
    [replay] = scenario.replays
    phu_oc = {p.observed_at: p.value for p in replay.points if p.station_id == "71518"}
    # Báo động III (4.5 m) crossed at 03:00 local on the 17th; the peak 4.96 m at 08:00.
    assert phu_oc[datetime(2025, 11, 16, 20, 0, tzinfo=UTC)] == 4.57
    assert max(v for v in phu_oc.values() if v is not None) == 4.96
    assert len(scenario.teams) == 6
    assert [t.id for t in scenario.teams if t.answers_after_s is None] == ["tn-quang-dien"]
    assert [s.at for s in scenario.script] == sorted(s.at for s in scenario.script)


@pytest.mark.parametrize(
    ("old", "new", "needle", "reason"),
    [
        ('stations = ["71520", "71518"]', 'stations = ["71520", "99999"]', "stations =",
         "unknown station '99999'"),
        ("speed = 60", "speed = 0", "speed =", "speed = 0: must be over 0"),
        ("speed = 60", "speed = -5", "speed =", "must be over 0"),
        ("speed = 60", 'speed = "fast"', "speed =", "speed must be a number"),
        ('ward = "hue.kim-long"', 'ward = "hue.atlantis"', "hue.atlantis",
         "unknown ward 'hue.atlantis'"),
        ("at = 2025-11-17T09:00:00+07:00", "at = 2025-11-17T01:00:00+07:00",
         "at = 2025-11-17T01:00", "time goes backwards"),
        ("at = 2025-11-16T22:30:00+07:00", "at = 2025-11-20T22:30:00+07:00",
         "at = 2025-11-20", "outside the exercise's start and end"),
        ("end = 2025-11-19T06:00:00+07:00", "end = 2025-11-15T06:00:00+07:00", "end =",
         "end must come after start"),
        ("seed = 20251117", "seed = 20251117\ncolour = 'red'", "colour",
         "unknown key 'colour'"),
        ("rescue = 0.35,", "rescue = 0.55,", "mix =", "must add up to 1"),
        ("languages = { vi = 0.97, en = 0.03 }", "languages = { vi = 0.97, fr = 0.03 }",
         "languages =", "unknown key 'fr'"),
        ("base = [16.5553, 107.6398]", "base = [107.6398, 16.5553]", "base = [107",
         "outside Vietnam (is it [lat, lon]?)"),
        ('follows = "71518"', 'follows = "71519"', "follows =", "not a replayed station"),
        ('id = "qs-kim-long"', 'id = "ca-phu-xuan"', 'id = "ca-phu-xuan"', "used twice"),
        ('text = "Cuu voi', 'text = "" # "Cuu voi', 'text = ""', "an SMS needs its text"),
        ("people = 2\n", "people = 0\n", "people = 0", "people = 0: must be at least 1"),
        ('vulnerable = ["injured"]', 'vulnerable = ["tired"]', '"tired"', "unknown flag 'tired'"),
        ("capacity = 3", "capacity = 2.5", "capacity = 2.5", "capacity must be a whole number"),
    ],
)  # fmt: skip
def test_a_bad_value_is_refused_naming_its_line(
    tmp_path: Path, context: ScenarioContext, old: str, new: str, needle: str, reason: str
) -> None:
    path = variant(tmp_path, old, new)

    with pytest.raises(ScenarioInvalid) as refused:
        load_scenario(path, context)

    assert reason in refused.value.reason
    assert refused.value.line == line_of(path, needle)
    assert str(refused.value).startswith(f"{path}:{refused.value.line}: ")


def test_a_replay_file_that_is_missing_or_not_a_replay_is_refused(
    tmp_path: Path, context: ScenarioContext
) -> None:
    missing = variant(tmp_path, "seed = 20251117", "seed = 1")
    missing.write_text(
        missing.read_text(encoding="utf-8").replace(str(DATA), "nowhere.csv"), encoding="utf-8"
    )
    with pytest.raises(ScenarioInvalid, match=r"nowhere\.csv: cannot read") as refused:
        load_scenario(missing, context)
    assert refused.value.line == line_of(missing, "nowhere.csv")

    (tmp_path / "bad.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    other = tmp_path / "other.toml"
    other.write_text(
        missing.read_text(encoding="utf-8").replace("nowhere.csv", "bad.csv"), encoding="utf-8"
    )
    with pytest.raises(ScenarioInvalid, match="missing columns"):
        load_scenario(other, context)


def test_broken_toml_names_its_line(tmp_path: Path, context: ScenarioContext) -> None:
    path = variant(tmp_path, "speed = 60", "speed = = 60")

    with pytest.raises(ScenarioInvalid, match="not valid TOML") as refused:
        load_scenario(path, context)

    assert refused.value.line == line_of(path, "speed = = 60")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_is_a_scenario_or_a_refusal(text: str) -> None:
    context = ScenarioContext(frozenset({"71520"}), {}, lambda path: [])
    try:
        parse_scenario(text, "fuzz.toml", Path("."), context)
    except ScenarioInvalid as refused:
        assert refused.reason  # noqa: PT017  # any refusal will do; other errors fail the test


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["name", "speed", "start", "end", "seed", "title", "x"]),
        st.one_of(
            st.integers(), st.floats(), st.text(max_size=20), st.booleans(),
            st.datetimes(), st.lists(st.integers(), max_size=3),
        ),
    )
)  # fmt: skip
def test_any_exercise_table_is_a_scenario_or_a_refusal(values: dict[str, object]) -> None:
    context = ScenarioContext(frozenset({"71520"}), {}, lambda path: [])
    text = "[exercise]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items())
    try:
        parse_scenario(text, "fuzz.toml", Path("."), context)
    except ScenarioInvalid as refused:
        assert refused.reason  # noqa: PT017  # any refusal will do; other errors fail the test


def toml_value(value: object) -> str:
    """A value as TOML writes it (what the fuzzing above needs of a TOML writer)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:
        return "nan"
    if isinstance(value, float) and abs(value) == float("inf"):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def test_key_line_finds_tables_arrays_dotted_and_inline_keys() -> None:
    text = "\n".join(
        [
            "# top",  # 1
            "[exercise]",  # 2
            'name = "x"  # [not a header]',  # 3
            "[[teams]]",  # 4
            'id = "a"',  # 5
            "[[teams]]",  # 6
            "base = [",  # 7
            "  16.5, [107.6]",  # 8
            "]",  # 9
            'capabilities = ["boat"]',  # 10
            "[population]",  # 11
            "languages = { vi = 1.0 }",  # 12
            'a."b c".d = 1',  # 13
        ]
    )
    assert key_line(text, ("exercise", "name")) == 3
    assert key_line(text, ("teams", 1, "capabilities")) == 10
    assert key_line(text, ("teams", 1, "base")) == 7
    assert key_line(text, ("teams", 0, "base")) == 4  # not written: its table's line
    assert key_line(text, ("population", "languages", "vi")) == 12
    assert key_line(text, ("population", "a", "b c", "d")) == 13
    assert key_line(text, ("nowhere",)) is None


def test_the_command_says_what_a_scenario_holds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exercise", "check", str(SHIPPED)]) == 0

    out = capsys.readouterr().out
    assert "hue-2025-11: Lũ giữa tháng 11/2025" in out
    assert "1 h 12 min of wall time" in out
    assert "2,000 app devices, 300 phone-only contacts" in out


def test_the_command_refuses_in_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = variant(tmp_path, "speed = 60", "speed = 0")

    assert main(["exercise", "check", str(path)]) == 2

    err = capsys.readouterr().err.strip()
    line = line_of(path, "speed = 0")
    assert err == f"canhbao: {path}:{line}: speed = 0: must be over 0 and at most 3600"
