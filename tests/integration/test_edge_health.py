"""Health checks on real ffmpeg-made H.264 segments: frozen, dark, blurred, bitrate/size drops."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from edge.config import EdgeConfig, parse_config
from edge.faults import Faults
from edge.health.monitor import HealthMonitor
from edge.store import Store
from edge.timeutil import now
from wire.hashing import sha256_file

pytestmark = pytest.mark.slow

SECONDS = 4
SOURCES = {
    "normal": "testsrc2=size=640x360:rate=15",
    "frozen": "testsrc2=size=640x360:rate=15,trim=end_frame=1,loop=loop=-1:size=1",
    "dark": "color=black:size=640x360:rate=15",
    "blurred": "testsrc2=size=640x360:rate=15,boxblur=20",
    "small": "testsrc2=size=320x180:rate=15",
    "starved": "testsrc2=size=640x360:rate=15",
}
BITRATE = {"starved": "40k"}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed (the README's test command installs it)")
    folder = tmp_path_factory.mktemp("media")
    out = {}
    for name, source in SOURCES.items():
        path = folder / f"{name}.mp4"
        rate = ["-b:v", BITRATE[name]] if name in BITRATE else ["-crf", "18"]
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
             "-t", str(SECONDS), "-c:v", "libx264", "-preset", "ultrafast", *rate,
             "-pix_fmt", "yuv420p", "-g", "15", str(path)],
            check=True, timeout=60,
        )  # fmt: skip
        out[name] = path
    return out


def make_config(tmp_path: Path, cameras: list[str]) -> EdgeConfig:
    return parse_config(
        {
            "site": {"id": "s1", "device": "d1", "location_code": "LC-1"},
            "storage": {"data_dir": str(tmp_path / "data")},
            "cameras": [{"id": c} for c in cameras],
            "health": {"frozen_seconds": 3, "clock_check": False},
        },
        "test",
    )


class Feed:
    """Indexes copies of the generated files as consecutive segments of each camera."""

    def __init__(self, store: Store, folder: Path) -> None:
        self.store = store
        self.folder = folder
        self.t0 = now() - timedelta(hours=1)
        self.next: dict[str, int] = {}

    def add(self, camera: str, media: Path) -> None:
        i = self.next.get(camera, 0)
        self.next[camera] = i + 1
        dest = self.folder / camera / f"{i:04d}.mp4"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(media, dest)
        start = self.t0 + timedelta(seconds=SECONDS * i)
        end = start + timedelta(seconds=SECONDS)
        self.store.add_segment(camera, dest, start, end, dest.stat().st_size, sha256_file(dest))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "edge.db") as s:
        yield s


def active(faults: Faults) -> set[tuple[str, str]]:
    return {(f.scope, f.name) for f in faults.active()}


def fault_events(store: Store) -> list[tuple[str, str | None, str]]:
    rows = store.query("SELECT id FROM events ORDER BY rowid")
    events = [store.event(r["id"]) for r in rows]
    return [(e.kind, e.camera, e.data["fault"]) for e in events if e is not None]


def test_frozen_dark_and_blurred_are_flagged_and_clear(
    tmp_path: Path, store: Store, media: dict[str, Path]
) -> None:
    cams = ["normal", "frozen", "dark", "blurred"]
    config = make_config(tmp_path, cams)
    faults = Faults(store)
    monitor = HealthMonitor(config, store, faults, clock=lambda: True)
    feed = Feed(store, tmp_path / "segments")
    for cam in cams:
        feed.add(cam, media[cam])
    assert monitor.check_once() == 4
    assert active(faults) == {("frozen", "frozen"), ("dark", "dark"), ("blurred", "blurred")}
    # each fault is an event in the outbox
    assert sorted(fault_events(store)) == [
        ("camera_fault", "blurred", "blurred"),
        ("camera_fault", "dark", "dark"),
        ("camera_fault", "frozen", "frozen"),
    ]
    assert store.backlog()[0] == 3

    # a normal segment follows on every camera: each fault clears with an event
    for cam in cams:
        feed.add(cam, media["normal"])
    assert monitor.check_once() == 4
    assert active(faults) == set()
    assert sorted(e for e in fault_events(store) if e[0] == "fault_cleared") == [
        ("fault_cleared", "blurred", "blurred"),
        ("fault_cleared", "dark", "dark"),
        ("fault_cleared", "frozen", "frozen"),
    ]
    assert store.backlog()[0] == 6


def test_bitrate_and_resolution_drops_against_the_baseline(
    tmp_path: Path, store: Store, media: dict[str, Path]
) -> None:
    config = make_config(tmp_path, ["c1", "c2"])
    faults = Faults(store)
    monitor = HealthMonitor(config, store, faults, clock=lambda: True)
    feed = Feed(store, tmp_path / "segments")
    for _ in range(3):
        feed.add("c1", media["normal"])
        feed.add("c2", media["normal"])
    monitor.check_once()
    assert active(faults) == set()
    feed.add("c1", media["starved"])
    feed.add("c2", media["small"])
    monitor.check_once()
    assert active(faults) == {("c1", "bitrate_drop"), ("c2", "resolution_drop")}
    feed.add("c1", media["normal"])
    feed.add("c2", media["normal"])
    monitor.check_once()
    assert active(faults) == set()


def test_an_undecodable_segment_is_skipped_not_fatal(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, ["c1"])
    monitor = HealthMonitor(config, store, clock=lambda: True)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 4096)
    t = now()
    store.add_segment("c1", bad, t - timedelta(seconds=4), t, 4096, sha256_file(bad))
    store.add_segment("c1", tmp_path / "gone.mp4", t, t + timedelta(seconds=4), 1, "0" * 64)
    assert monitor.check_once() == 0
    assert Faults(store).active() == []
