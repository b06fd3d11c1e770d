"""Device health (injected clock and thermal zones), image metrics and the config sections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import EdgeConfig, parse_config
from edge.faults import DEVICE, Faults
from edge.health.device import DeviceChecker, read_temperature
from edge.health.image import laplacian_variance, mean_abs_diff, mean_luma
from edge.health.publisher import HealthPublisher
from edge.store import Store
from edge.timeutil import now
from wire import codec
from wire.errors import ConfigError
from wire.models import HealthMessage


def make_config(tmp_path: Path, **health: object) -> EdgeConfig:
    return parse_config(
        {
            "site": {"id": "s1", "device": "d1", "location_code": "LC-1"},
            "storage": {"data_dir": str(tmp_path / "data")},
            "cameras": [{"id": "c1"}],
            "health": health,
        },
        "test",
    )


def kinds_and_faults(store: Store) -> list[tuple[str, str]]:
    rows = store.query("SELECT id FROM events ORDER BY rowid")
    return [(e.kind, e.data["fault"]) for e in (store.event(r["id"]) for r in rows) if e]


def test_unsynchronised_clock_is_a_device_fault_that_clears(tmp_path: Path) -> None:
    synced = [False]
    with Store(tmp_path / "edge.db") as store:
        faults = Faults(store)
        patient = DeviceChecker(make_config(tmp_path), faults, lambda: False, tmp_path)
        assert "clock_unsynchronised" not in patient.check()  # within the grace after start
        checker = DeviceChecker(
            make_config(tmp_path, clock_grace_seconds=0),
            faults,
            clock=lambda: synced[0],
            thermal_root=tmp_path,
        )
        assert checker.check()["clock_unsynchronised"] is True
        checker.check()  # still unsynchronised: no second event
        assert [(f.scope, f.name) for f in faults.active()] == [(DEVICE, "clock_unsynchronised")]
        synced[0] = True
        checker.check()
        assert faults.active() == []
        assert kinds_and_faults(store) == [
            ("device_fault", "clock_unsynchronised"),
            ("fault_cleared", "clock_unsynchronised"),
        ]


def test_temperature_is_read_where_present_and_skipped_where_absent(tmp_path: Path) -> None:
    assert read_temperature(tmp_path) is None
    for i, milli in enumerate(["45000", "91500", "garbage"]):
        zone = tmp_path / f"thermal_zone{i}"
        zone.mkdir()
        (zone / "temp").write_text(milli + "\n")
    assert read_temperature(tmp_path) == 91.5
    with Store(tmp_path / "edge.db") as store:
        faults = Faults(store)
        checker = DeviceChecker(make_config(tmp_path), faults, lambda: True, tmp_path)
        assert checker.check()["temperature_high"] is True
        assert checker.temperature_c == 91.5
        absent = DeviceChecker(make_config(tmp_path), faults, lambda: True, tmp_path / "none")
        assert "temperature_high" not in absent.check()  # absent: skipped, not a fault


def test_disk_low_follows_the_free_space_threshold(tmp_path: Path) -> None:
    with Store(tmp_path / "edge.db") as store:
        faults = Faults(store)
        full = DeviceChecker(make_config(tmp_path, min_free_percent=100), faults, lambda: True)
        assert full.check()["disk_low"] is True
        fine = DeviceChecker(make_config(tmp_path, min_free_percent=0), faults, lambda: True)
        assert fine.check()["disk_low"] is False
        assert kinds_and_faults(store) == [
            ("device_fault", "disk_low"),
            ("fault_cleared", "disk_low"),
        ]


def test_image_metrics() -> None:
    flat = np.full((40, 60), 100.0, dtype=np.float32)
    edges = flat.copy()
    edges[:, ::2] = 0.0
    assert mean_luma(flat) == 100.0
    assert laplacian_variance(flat) == 0.0
    assert laplacian_variance(edges) > 1000
    assert laplacian_variance(np.zeros((2, 2), dtype=np.float32)) == 0.0
    assert mean_abs_diff(flat, flat) == 0.0
    assert mean_abs_diff(flat, edges) == 50.0
    assert mean_abs_diff(flat, flat[:10]) == float("inf")


def test_retention_and_health_sections_are_validated(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert config.health.publish_seconds == 60 and config.retention.max_percent == 80
    with pytest.raises(ConfigError, match="health.blur_treshold: unknown key"):
        make_config(tmp_path, blur_treshold=3)
    with pytest.raises(ConfigError, match="health.bitrate_drop_ratio"):
        make_config(tmp_path, bitrate_drop_ratio=1.5)
    with pytest.raises(ConfigError, match="retention.max_percent"):
        parse_config(
            {
                "site": {"id": "s1", "device": "d1", "location_code": "LC-1"},
                "cameras": [{"id": "c1"}],
                "retention": {"max_percent": 0},
            },
            "test",
        )


def test_health_is_charged_to_the_uplink_but_never_waits() -> None:
    message = HealthMessage(sent_at=now(), clock_synced=False, disk_used_bytes=1,
                            disk_quota_bytes=2, backlog_items=0, backlog_bytes=0)  # fmt: skip
    charged: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)  # not connected
    publisher = HealthPublisher(client, "t/health", lambda: message, 60.0, charge=charged.append)
    assert publisher.maybe_publish() and not publisher.maybe_publish()  # once per period
    assert charged == [len(codec.encode(message))]
