"""The panel on gpiozero's MockFactory: LED sequences from pin history, buttons, ack, close."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from edge.config import PanelConfig
from edge.panel.leds import Leds
from edge.panel.panel import Panel, PanelActions, PanelSources
from edge.panel.patterns import render
from edge.panel.state import State
from edge.pins.gpiozero_backend import GpiozeroBackend
from tests.helpers import wait_for

PINS = {"green": 5, "amber": 6, "red": 13, "blue": 19}
LOADING_PIN, MARK_PIN = 20, 21


@pytest.fixture
def backend() -> Iterator[GpiozeroBackend]:
    with_backend = GpiozeroBackend(mock=True)
    yield with_backend
    with_backend.close()


def history(backend: GpiozeroBackend, pin: int) -> list[tuple[float, bool]]:
    """(seconds the pin stayed in the state, state) for every completed state so far."""
    states = backend.factory.pin(pin).states
    return [(states[i + 1].timestamp, bool(states[i].state)) for i in range(len(states) - 1)]


def changes(backend: GpiozeroBackend, pin: int) -> int:
    return len(backend.factory.pin(pin).states) - 1


def assert_durations(seen: list[tuple[float, bool]], expected: list[tuple[float, bool]]) -> None:
    assert [s for _, s in seen] == [s for _, s in expected], seen
    for (got, _), (want, _) in zip(seen, expected, strict=True):
        assert got == pytest.approx(want, abs=0.08), (seen, expected)


def test_red_code_two_blinks_then_pause(backend: GpiozeroBackend) -> None:
    with Leds(PINS, backend) as leds:
        leds.start()
        leds.show(render(State.CAMERA_OFFLINE, leds.wired))
        wait_for(lambda: changes(backend, 13) >= 6, 8, "a full code cycle", interval=0.02)
        seen = history(backend, 13)[1:6]  # skip the initial off
        code = [(0.4, True), (0.4, False), (0.4, True), (2.0, False), (0.4, True)]
        assert_durations(seen, code)  # 2 blinks, the pause, and the code starts again
        for colour in ("green", "amber", "blue"):
            assert changes(backend, PINS[colour]) == 0  # never lit


def test_starting_blinks_green_and_uploading_blinks_blue(backend: GpiozeroBackend) -> None:
    with Leds(PINS, backend) as leds:
        leds.start()
        leds.show(render(State.STARTING, leds.wired))
        wait_for(lambda: changes(backend, 5) >= 4, 5, "green blinks", interval=0.02)
        assert_durations(history(backend, 5)[1:3], [(0.5, True), (0.5, False)])
        leds.show(render(State.UPLOADING, leds.wired))
        wait_for(lambda: changes(backend, 19) >= 4, 5, "blue blinks", interval=0.02)
        assert_durations(history(backend, 19)[1:3], [(0.15, True), (0.15, False)])
        assert not backend.factory.pin(5).state  # green went off with the change


def test_subset_fallbacks_on_the_pins(backend: GpiozeroBackend) -> None:
    with Leds({"red": 13, "green": 5}, backend) as leds:
        leds.start()
        leds.show(render(State.DEGRADED, leds.wired))  # amber → red + green together
        wait_for(lambda: backend.factory.pin(13).state and backend.factory.pin(5).state, 3, "r+g")
        leds.show(render(State.UPLOADING, leds.wired))  # blue → green fast blink
        wait_for(lambda: changes(backend, 5) >= 6, 5, "green fast blink", interval=0.02)
        fast = history(backend, 5)[2:]  # after the initial off and the solid red + green
        assert len(fast) >= 3
        assert all(seconds == pytest.approx(0.15, abs=0.08) for seconds, _ in fast), fast


def test_close_leaves_leds_off(backend: GpiozeroBackend) -> None:
    leds = Leds(PINS, backend)
    leds.start()
    leds.show(render(State.SELFTEST, leds.wired))
    wait_for(lambda: backend.factory.pin(5).state, 3, "walk starts")
    leds.show(render(State.ACK, leds.wired))
    wait_for(lambda: all(backend.factory.pin(p).state for p in PINS.values()), 3, "all lit")
    leds.close()
    leds.close()  # idempotent
    assert not any(backend.factory.pin(p).state for p in PINS.values())


def test_active_low_leds_are_off_when_high(backend: GpiozeroBackend) -> None:
    with Leds({"green": 5}, backend, active_high=False) as leds:
        leds.start()
        assert backend.factory.pin(5).state  # off = high
        leds.show(render(State.OK, leds.wired))
        wait_for(lambda: not backend.factory.pin(5).state, 3, "green on (low)")
    assert backend.factory.pin(5).state


# -- the panel -------------------------------------------------------------------------
class World:
    """Mutable sources for a panel under test, and what its actions were asked to do."""

    def __init__(self) -> None:
        self.recording = {"cam1": True}
        self.backlog = (0, 0)
        self.connected = True
        self.faults: list[tuple[str, str]] = []
        self.loading = False
        self.calls: list[str] = []

    def sources(self) -> PanelSources:
        return PanelSources(
            recording=lambda: self.recording,
            backlog=lambda: self.backlog,
            connected=lambda: self.connected,
            faults=lambda: list(self.faults),
            loading=lambda: self.loading,
        )

    def actions(self) -> PanelActions:
        def toggle() -> str:
            self.calls.append("toggle")
            self.loading = not self.loading
            return "started" if self.loading else "stopped"

        return PanelActions(
            on_loading_toggle=toggle,
            on_mark=lambda: self.calls.append("mark"),
            on_selftest=lambda: self.calls.append("selftest"),
        )


def panel_config(**extra: Any) -> PanelConfig:
    return PanelConfig.model_validate(
        {
            "leds": PINS,
            "buttons": {"loading": LOADING_PIN, "mark": MARK_PIN, "hold_seconds": 0.4},
            "refresh_seconds": 0.05,
            "ack_seconds": 0.5,
            **extra,
        }
    )


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def panel(backend: GpiozeroBackend, world: World) -> Iterator[Panel]:
    with Panel(panel_config(), world.sources(), world.actions(), backend) as running:
        running.start()
        yield running


def press(backend: GpiozeroBackend, pin: int) -> None:
    backend.factory.pin(pin).drive_low()
    backend.factory.pin(pin).drive_high()


def test_priority_on_the_leds(panel: Panel, world: World, backend: GpiozeroBackend) -> None:
    wait_for(lambda: panel.state is State.OK, 3, "ok")
    wait_for(lambda: backend.factory.pin(5).state, 2, "green solid")
    world.backlog = (4, 1000)
    wait_for(lambda: panel.state is State.UPLOADING, 3, "uploading")
    world.faults = [("device", "storage_critical")]
    wait_for(lambda: panel.state is State.STORAGE_CRITICAL, 3, "fault beats uploading")
    wait_for(lambda: backend.factory.pin(13).state, 3, "red blinks")
    world.faults, world.backlog = [], (0, 0)
    wait_for(lambda: panel.state is State.OK, 3, "back to ok")


def test_short_press_toggles_once_and_is_acknowledged(
    panel: Panel, world: World, backend: GpiozeroBackend
) -> None:
    wait_for(lambda: panel.state is State.OK, 3, "ok")
    press(backend, LOADING_PIN)
    assert world.calls == ["toggle"]
    wait_for(lambda: panel.state is State.ACK, 2, "ack", interval=0.01)
    wait_for(lambda: all(backend.factory.pin(p).state for p in PINS.values()), 2, "ack flash")
    wait_for(lambda: panel.state is State.LOADING, 3, "loading after the ack")
    press(backend, MARK_PIN)
    assert world.calls == ["toggle", "mark"]


def test_hold_runs_the_selftest_and_not_the_short_press(
    panel: Panel, world: World, backend: GpiozeroBackend
) -> None:
    backend.factory.pin(LOADING_PIN).drive_low()
    wait_for(lambda: "selftest" in world.calls, 3, "self-test after the hold")
    backend.factory.pin(LOADING_PIN).drive_high()
    wait_for(lambda: not panel.selftest_running, 3, "self-test finished")
    assert world.calls == ["selftest"]
    assert not world.loading


def test_led_walk_shows_the_selftest_state(panel: Panel, backend: GpiozeroBackend) -> None:
    panel.led_walk()
    lit = [p for p in PINS.values() if changes(backend, p) > 0]
    assert sorted(lit) == sorted(PINS.values())


def test_starting_then_broker_alarm(backend: GpiozeroBackend, world: World) -> None:
    world.connected = False
    config = panel_config(starting_seconds=0.3, broker_alarm_minutes=0.01)  # 0.6 s
    with Panel(config, world.sources(), world.actions(), backend) as p:
        p.start()
        wait_for(lambda: p.state is State.STARTING, 2, "starting")
        wait_for(lambda: p.state is State.UPLOADING, 2, "not connected after the start")
        wait_for(lambda: p.state is State.BROKER_UNREACHABLE, 3, "red 4")
        world.connected = True
        wait_for(lambda: p.state is State.OK, 2, "connected")
    assert not any(backend.factory.pin(pin).state for pin in PINS.values())
