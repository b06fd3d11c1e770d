"""GPIO inputs on gpiozero's MockFactory: debounce, minimum pulse, levels, SQLite first;
the Jetson adapter through a stand-in ``Jetson.GPIO`` module (no Jetson hardware here)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from edge.config import GpioConfig, parse_config
from edge.gpio import EdgeTracker, GpioInputs
from edge.pins.jetson import JetsonBackend
from edge.store import Store
from tests.helpers import wait_for
from wire.errors import ConfigError


def config(**spec: Any) -> GpioConfig:
    base = {"name": "md", "pin": 17, "kind": "metal_detector_reject"}
    return GpioConfig.model_validate({"backend": "mock", "inputs": [{**base, **spec}]})


def events(store: Store) -> list[Any]:
    items = [store.event(i.item_id) for i in store.outbox_items() if i.item_kind == "event"]
    return [e for e in items if e is not None]


def settled(gpio: GpioInputs) -> bool:
    """No re-check is due and no activation waits for its minimum pulse."""
    with gpio._lock:
        return not gpio._due and all(t.pending_ns is None for t in gpio.trackers.values())


def test_bounce_inside_the_debounce_window_gives_one_event(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.db") as store, GpioInputs(config(debounce_ms=80), store) as gpio:
        gpio.start()
        for _ in range(5):  # contact bounce: 10 edges within a few ms
            gpio.drive("md", True)
            gpio.drive("md", False)
        gpio.drive("md", True)
        wait_for(lambda: settled(gpio), 5, "the debounce window to end")
        gpio.drive("md", False)
        gpio.drive("md", True)  # release bounce
        gpio.drive("md", False)
        wait_for(lambda: settled(gpio) and not gpio.levels()["md"], 5, "release settled")
        assert len(events(store)) == 1
        assert not gpio.trackers["md"].active  # the final level was not missed
        gpio.pulse("md", 0.1)  # a new, clean activation after the window is a new event
        wait_for(lambda: len(events(store)) == 2, 5, "the second event")


def test_pulse_shorter_than_min_pulse_is_ignored(tmp_path: Path) -> None:
    cfg = config(debounce_ms=5, min_pulse_ms=150)
    with Store(tmp_path / "edge.db") as store, GpioInputs(cfg, store) as gpio:
        gpio.start()
        gpio.pulse("md", 0.02)
        wait_for(lambda: settled(gpio), 5, "the short pulse to be judged")
        assert events(store) == []
        before = time.monotonic_ns()
        gpio.pulse("md", 0.3)
        wait_for(lambda: len(events(store)) == 1, 5, "the long pulse's event")
        (event,) = events(store)
        # timestamped at the activating edge, not when the pulse qualified
        assert before <= event.monotonic_ns < before + 100_000_000
        assert event.occurred_at.utcoffset() is not None


@pytest.mark.parametrize("active_high", [False, True])
def test_active_low_and_active_high_commit_before_acting(tmp_path: Path, active_high: bool) -> None:
    acted: list[str] = []
    with Store(tmp_path / "edge.db") as store:

        def on_event(name: str, event_id: str) -> None:
            assert store.event(event_id) is not None  # committed first
            acted.append(event_id)

        with GpioInputs(config(active_high=active_high), store, on_event=on_event) as gpio:
            gpio.start()
            assert gpio.levels() == {"md": False}  # idle: pulled away from the active level
            pin = gpio.backend.factory.pin(17)  # type: ignore[union-attr]
            assert pin.state is (not active_high)
            (pin.drive_high if active_high else pin.drive_low)()
            wait_for(lambda: acted, 5, "the activation")
            assert gpio.levels() == {"md": True}
            (pin.drive_low if active_high else pin.drive_high)()
        (event,) = events(store)
        assert (event.kind, event.source, event.data) == (
            "metal_detector_reject",
            "md",
            {"pin": 17},
        )


def test_tracker_rechecks_the_level_when_the_window_ends() -> None:
    tracker = EdgeTracker(debounce_ms=10, min_pulse_ms=0)
    assert tracker.update(True, 0) == (0, None)
    assert tracker.update(False, 1_000_000) == (None, 10_000_000)  # inside the window
    assert tracker.update(False, 10_000_000) == (None, None)  # accepted at the re-check
    assert not tracker.active


class FakeJetsonGPIO:
    """Records the calls ``Jetson.GPIO`` would get; levels are set by the test."""

    BCM, BOARD, IN, OUT, BOTH = "BCM", "BOARD", "IN", "OUT", "BOTH"
    PUD_UP, PUD_DOWN, PUD_OFF = "PUD_UP", "PUD_DOWN", "PUD_OFF"
    HIGH, LOW = 1, 0

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.levels: dict[int, int] = {}
        self.callbacks: dict[int, Any] = {}

    def setwarnings(self, flag: bool) -> None:
        self.calls.append(("setwarnings", flag))

    def setmode(self, mode: str) -> None:
        self.calls.append(("setmode", mode))

    def setup(self, pin: int, direction: str, **kw: Any) -> None:
        self.calls.append(("setup", pin, direction, kw))

    def add_event_detect(self, pin: int, edge: str, callback: Any, bouncetime: Any) -> None:
        self.calls.append(("add_event_detect", pin, edge, bouncetime))
        self.callbacks[pin] = callback

    def input(self, pin: int) -> int:
        return self.levels.get(pin, 1)

    def output(self, pin: int, value: int) -> None:
        self.calls.append(("output", pin, value))

    def remove_event_detect(self, pin: int) -> None:
        self.calls.append(("remove_event_detect", pin))

    def cleanup(self, pin: int) -> None:
        self.calls.append(("cleanup", pin))


def test_jetson_adapter_sets_up_pins_with_numbering_pull_and_bouncetime(tmp_path: Path) -> None:
    fake = FakeJetsonGPIO()
    cfg = GpioConfig.model_validate({"backend": "jetson", "numbering": "board", "inputs": [
        {"name": "md", "pin": 7, "kind": "metal_detector_reject", "debounce_ms": 30},
        {"name": "seal", "pin": 11, "kind": "seal_broken", "active_high": True,
         "pull": "none", "debounce_ms": 0},
    ]})  # fmt: skip
    backend = JetsonBackend(numbering=cfg.numbering, gpio=fake)
    with Store(tmp_path / "edge.db") as store, GpioInputs(cfg, store, backend=backend) as gpio:
        gpio.start()
        assert ("setmode", "BOARD") in fake.calls
        assert ("setup", 7, "IN", {"pull_up_down": "PUD_UP"}) in fake.calls
        assert ("setup", 11, "IN", {"pull_up_down": "PUD_OFF"}) in fake.calls
        assert ("add_event_detect", 7, "BOTH", 30) in fake.calls
        assert ("add_event_detect", 11, "BOTH", None) in fake.calls
        fake.levels[7] = 0  # active low
        fake.callbacks[7](7)
        wait_for(lambda: len(events(store)) == 1, 5, "the Jetson edge's event")
        led = backend.open_output(13)
        led.set(True)
        assert ("output", 13, 1) in fake.calls
    backend.close()
    assert ("remove_event_detect", 7) in fake.calls and ("cleanup", 13) in fake.calls


def test_bcm_numbering_and_jetson_needs_the_library() -> None:
    fake = FakeJetsonGPIO()
    JetsonBackend(gpio=fake).close()
    assert ("setmode", "BCM") in fake.calls
    with pytest.raises(ConfigError, match="Jetson.GPIO"):
        JetsonBackend()  # not a Jetson: a clear message, not an ImportError


def test_input_config_keys_and_errors() -> None:
    spec = config(pull="none", debounce_ms=5, min_pulse_ms=40).inputs[0]
    assert (spec.pull_mode, spec.debounce_ms, spec.min_pulse_ms) == ("none", 5, 40)
    assert (
        config().inputs[0].pull_mode == "up"
        and config(active_high=True).inputs[0].pull_mode == "down"
    )
    base = {"site": {"id": "s", "device": "d", "location_code": "X-1"}, "cameras": [{"id": "c"}]}
    with pytest.raises(ConfigError, match="gpio.inputs.0.pull"):
        parse_config({**base, "gpio": {"inputs": [{"name": "a", "pin": 1, "kind": "custom",
                                                   "pull": "sideways"}]}}, "t")  # fmt: skip
    with pytest.raises(ConfigError, match="numbering = 'board'"):
        parse_config({**base, "gpio": {"numbering": "board"}}, "t")
    with pytest.raises(ConfigError, match="clips.kinds.seal_broken.cameras: no camera"):
        parse_config({**base, "clips": {"kinds": {"seal_broken": {"cameras": ["x"]}}}}, "t")
    with pytest.raises(ConfigError, match="clips.kinds.sealbroken"):
        parse_config({**base, "clips": {"kinds": {"sealbroken": {}}}}, "t")


def test_a_pulse_handled_after_it_ended_still_counts(tmp_path: Path) -> None:
    """The backend reports the level at the edge; a late callback must not read 'inactive'."""
    with Store(tmp_path / "edge.db") as store, GpioInputs(config(debounce_ms=5), store) as gpio:
        gpio.start()
        assert not gpio.levels()["md"]
        gpio.evaluate("md", True)  # the activation edge, processed when the pin is low again
        assert [e.kind for e in events(store)] == ["metal_detector_reject"]
        gpio.evaluate("md", False)  # its release, inside the debounce window: re-checked
        wait_for(lambda: not gpio.trackers["md"].active, 5, "the release after the window")
