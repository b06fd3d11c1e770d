"""``reeferwatch-edge selftest`` against a real Mosquitto: passes when up, names the broker
when it is down; ``--dry-run`` checks only local prerequisites."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import EdgeConfig, load_config
from edge.selftest import run_selftest
from edge.store import Store
from edge.timeutil import now
from tests.helpers import Broker

pytestmark = pytest.mark.slow


def edge_config(tmp_path: Path, port: int) -> EdgeConfig:
    path = tmp_path / "edge.toml"
    path.write_text(
        '[site]\nid = "s"\ndevice = "d"\nlocation_code = "X-1"\n[storage]\ndata_dir = "data"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n[recording]\nsegment_seconds = 2\n'
        '[health]\nclock_check = false\n[[cameras]]\nid = "dock1"\n'
        '[gpio]\nbackend = "mock"\n[[gpio.inputs]]\nname = "md"\npin = 17\n'
        'kind = "metal_detector_reject"\n'
    )
    return load_config(path)


def fresh_segment(config: EdgeConfig) -> None:
    """Index a segment that just closed, as the recorder of a running edge would."""
    with Store(config.db_path) as store:
        end = now()
        store.add_segment("dock1", config.data_dir / "seg.mp4", end - timedelta(seconds=2), end,
                          1, "0" * 64)  # fmt: skip


def test_selftest_passes_with_the_broker_up_and_names_it_when_down(
    tmp_path: Path, broker: Broker, capsys: pytest.CaptureFixture[str]
) -> None:
    config = edge_config(tmp_path, broker.port)
    fresh_segment(config)
    walked: list[bool] = []
    report = run_selftest(config, led_walk=lambda: walked.append(True))
    assert report.ok, report.checks
    names = [c.name for c in report.checks]
    assert {"camera:dock1", "input:md", "leds", "broker", "clock"} <= set(names)
    assert walked == [True]
    assert main(["selftest", "--config", str(tmp_path / "edge.toml"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    broker.stop()
    report = run_selftest(config)
    assert report.failed() == ["broker"]
    assert main(["selftest", "--config", str(tmp_path / "edge.toml")]) == 1
    out = capsys.readouterr()
    assert "FAIL broker" in out.out and "selftest failed: broker" in out.err
    # --dry-run: configuration and local prerequisites only, so the broker does not matter
    assert main(["selftest", "--config", str(tmp_path / "edge.toml"), "--dry-run"]) == 0


def test_selftest_names_a_stale_camera_and_a_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = edge_config(tmp_path, 1)
    report = run_selftest(config)
    assert {"camera:dock1", "broker"} <= set(report.failed())
    (tmp_path / "bad.toml").write_text('[site]\nid = "s"\ndevice = "d"\nlocation_code = "X"\n'
                                       '[[cameras]]\nid = "c"\nfsp = 3\n')  # fmt: skip
    assert main(["selftest", "--config", str(tmp_path / "bad.toml"), "--dry-run"]) == 2
    assert "cameras.0.fsp: unknown key" in capsys.readouterr().err
