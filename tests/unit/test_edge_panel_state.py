"""The panel state machine and LED patterns: pure, checked exhaustively."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest

from edge.panel.patterns import COLOURS, OFF, Pattern, render
from edge.panel.state import BLINK_CODES, PRIORITY, PanelInputs, State, compute_state

BASE = PanelInputs(recording={"cam1": True, "cam2": True}, connected=True)

# Ways to make each state's condition hold, alone.
SCENARIOS: dict[State, list[dict[str, Any]]] = {
    State.SELFTEST: [{"selftest": True}],
    State.ACK: [{"ack": True}],
    State.CAMERA_OFFLINE: [{"faults": (("cam1", "offline"),), "recording": {"cam1": False}}],
    State.STORAGE_CRITICAL: [{"faults": (("device", "storage_critical"),)}],
    State.BROKER_UNREACHABLE: [{"connected": False, "offline_seconds": 601.0}],
    State.CLOCK_UNSYNCHRONISED: [{"faults": (("device", "clock_unsynchronised"),)}],
    State.OVERHEATING: [{"faults": (("device", "temperature_high"),)}],
    State.STARTING: [{"starting": True, "recording": {"cam1": False}, "connected": False}],
    State.DEGRADED: [
        {"faults": (("cam2", "frozen"),)},
        {"faults": (("cam1", "dark"), ("cam1", "blurred"))},
        {"faults": (("device", "disk_low"),)},
        {"faults": (("device", "a_fault_nobody_mapped"),)},
        {"recording": {"cam2": False}},
    ],
    State.LOADING: [{"loading": True}],
    State.UPLOADING: [
        {"backlog_items": 3, "backlog_bytes": 1000},
        {"connected": False, "offline_seconds": 30.0},
    ],
    State.OK: [{}],
}


def build(*changes: dict[str, Any]) -> PanelInputs:
    """BASE with every change applied; conditions combine (faults add up, any camera down)."""
    inputs = BASE
    for change in changes:
        merged: dict[str, Any] = {}
        for key, value in change.items():
            if key == "faults":
                merged[key] = inputs.faults + value
            elif key == "recording":
                merged[key] = {**inputs.recording, **value}
                merged[key] = {
                    cam: inputs.recording.get(cam, True) and ok for cam, ok in merged[key].items()
                }
            elif key == "connected":
                merged[key] = inputs.connected and value
            elif key in ("offline_seconds", "backlog_items", "backlog_bytes"):
                merged[key] = max(getattr(inputs, key), value)
            else:
                merged[key] = getattr(inputs, key) or value
        inputs = replace(inputs, **merged)
    return inputs


def test_every_state_has_a_scenario_and_a_place_in_the_priority() -> None:
    assert set(SCENARIOS) == set(State) == set(PRIORITY)
    assert PRIORITY[0] is State.SELFTEST and PRIORITY[-1] is State.OK


@pytest.mark.parametrize(
    ("state", "change"), [(s, c) for s, cs in SCENARIOS.items() for c in cs], ids=str
)
def test_each_condition_alone(state: State, change: dict[str, Any]) -> None:
    assert compute_state(build(change)) is state


def test_every_pair_of_simultaneous_conditions_shows_the_more_severe() -> None:
    rank = {state: n for n, state in enumerate(PRIORITY)}
    checked = 0
    for (a, changes_a), (b, changes_b) in itertools.combinations(SCENARIOS.items(), 2):
        winner = a if rank[a] < rank[b] else b
        for ca, cb in itertools.product(changes_a, changes_b):
            assert compute_state(build(ca, cb)) is winner, (a, ca, b, cb)
            assert compute_state(build(cb, ca)) is winner, (b, cb, a, ca)
            checked += 1
    assert checked > 66


def test_fault_beats_uploading_beats_ok() -> None:
    assert compute_state(build({"backlog_items": 1})) is State.UPLOADING
    both = build({"backlog_items": 1}, {"faults": (("device", "storage_critical"),)})
    assert compute_state(both) is State.STORAGE_CRITICAL
    assert compute_state(BASE) is State.OK


def test_broker_alarm_threshold_is_a_parameter() -> None:
    offline = build({"connected": False, "offline_seconds": 61.0})
    assert compute_state(offline, broker_alarm_seconds=60) is State.BROKER_UNREACHABLE
    assert compute_state(offline, broker_alarm_seconds=600) is State.UPLOADING


def test_red_codes_fewer_blinks_are_more_severe() -> None:
    by_code = sorted(BLINK_CODES, key=lambda s: BLINK_CODES[s])
    assert [BLINK_CODES[s] for s in by_code] == [2, 3, 4, 5, 6]
    assert by_code == [s for s in PRIORITY if s in BLINK_CODES]


# -- patterns ---------------------------------------------------------------------------
PERSISTENT = [s for s in State if s not in (State.SELFTEST, State.ACK)]
SUBSETS = [frozenset(combo) for n in range(1, 5) for combo in itertools.combinations(COLOURS, n)]


def on_steps(pattern: Pattern) -> list[frozenset[str]]:
    return [lit for _, lit in pattern.steps if lit]


@pytest.mark.parametrize("wired", SUBSETS, ids=lambda w: "+".join(sorted(w)))
def test_states_stay_distinguishable_with_any_subset_of_leds(wired: frozenset[str]) -> None:
    patterns = {state: render(state, wired) for state in State}
    for state, pattern in patterns.items():
        assert pattern.colours <= wired, state
        assert pattern.colours, state  # every state lights something
    for a, b in itertools.combinations(PERSISTENT, 2):
        assert patterns[a] != patterns[b], (a, b)


def test_primary_patterns_with_all_four_leds() -> None:
    wired = frozenset(COLOURS)
    assert render(State.OK, wired).steps[0][1] == {"green"}
    assert len(render(State.OK, wired).steps) == 1  # solid
    assert render(State.DEGRADED, wired).steps[0][1] == {"amber"}
    assert render(State.STARTING, wired).steps == ((0.5, {"green"}), (0.5, OFF))
    uploading = render(State.UPLOADING, wired)
    assert uploading.colours == {"blue"} and len(uploading.steps) == 2
    for state, n in BLINK_CODES.items():
        pattern = render(state, wired)
        assert on_steps(pattern) == [frozenset({"red"})] * n
        assert pattern.steps[-1] == (2.0, OFF)  # the pause that separates the codes
    assert render(State.LOADING, wired).colours == {"green"}
    assert len(on_steps(render(State.LOADING, wired))) == 2  # heartbeat
    assert on_steps(render(State.SELFTEST, wired)) == [{c} for c in COLOURS]
    ack = render(State.ACK, wired)
    assert ack.steps[0][1] == wired and not ack.repeat


def test_fallbacks() -> None:
    red_green = frozenset({"red", "green"})
    assert render(State.DEGRADED, red_green).steps[0][1] == red_green  # reads as amber
    assert render(State.UPLOADING, red_green).colours == {"green"}  # blue → green fast blink
    green = frozenset({"green"})
    wink = render(State.DEGRADED, green)
    assert wink.colours == green and wink.steps[0][0] > wink.steps[1][0]
    red = frozenset({"red"})
    assert render(State.OK, red).colours == red
    assert on_steps(render(State.CAMERA_OFFLINE, green)) == [green, green]
    assert render(State.OK, frozenset()).colours == frozenset()
