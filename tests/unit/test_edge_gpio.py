"""GPIO through gpiozero's MockFactory: activations become events with source = input name."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import GpioConfig
from edge.gpio import GpioInputs
from edge.store import Store
from tests.helpers import wait_for
from wire.errors import ConfigError


def gpio_config(simulate: bool = False) -> GpioConfig:
    data: dict[str, object] = {
        "backend": "mock",
        "inputs": [
            {"name": "line1_md", "pin": 17, "kind": "metal_detector_reject"},
            {"name": "seal", "pin": 27, "kind": "seal_broken", "active_high": True},
        ],
    }
    if simulate:
        data["simulation"] = {"pulse_input": "seal", "every_seconds": 0.3}
    return GpioConfig.model_validate(data)


def kinds(store: Store) -> list[tuple[str, str | None]]:
    events = [store.event(i.item_id) for i in store.outbox_items() if i.item_kind == "event"]
    return [(e.kind, e.source) for e in events if e is not None]


def test_active_low_and_active_high_inputs_record_events(tmp_path: Path) -> None:
    seen: list[str] = []
    with Store(tmp_path / "edge.db") as store:
        with GpioInputs(gpio_config(), store, on_event=lambda name, _: seen.append(name)) as gpio:
            gpio.start()
            assert kinds(store) == []  # idle levels do not trigger
            gpio.pulse("line1_md")
            gpio.pulse("seal")
            wait_for(lambda: len(seen) == 2, 5, "two activations")
            with pytest.raises(ConfigError):
                gpio.pulse("nope")
        assert sorted(kinds(store)) == [
            ("metal_detector_reject", "line1_md"),
            ("seal_broken", "seal"),
        ]


def test_simulation_pulses_the_mock_pin(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.db") as store:
        with GpioInputs(gpio_config(simulate=True), store) as gpio:
            gpio.start()
            wait_for(lambda: len(kinds(store)) >= 2, 10, "simulated pulses")
        assert set(kinds(store)) == {("seal_broken", "seal")}
