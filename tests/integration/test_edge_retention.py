"""Retention under a tiny quota: oldest unpinned first, pinned never deleted, recording goes on."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import EdgeConfig, parse_config
from edge.events import record_event
from edge.faults import DEVICE, Faults
from edge.recorder import Recorder
from edge.retention import Retention, add_hold, holds, pinned_bytes, remove_hold
from edge.store import Store
from edge.timeutil import now
from tests.helpers import wait_for
from wire.hashing import sha256_file

pytestmark = pytest.mark.slow

SEG = 4  # seconds per indexed segment


def make_config(tmp_path: Path, max_bytes: int, **retention: float) -> EdgeConfig:
    return parse_config(
        {
            "site": {"id": "s1", "device": "d1", "location_code": "LC-1"},
            "storage": {"data_dir": str(tmp_path / "data")},
            "recording": {"segment_seconds": 1},
            "cameras": [{"id": "c1", "width": 160, "height": 120, "fps": 5}, {"id": "c2"}],
            "clips": {"pre_seconds": 1, "post_seconds": 1},
            "retention": {"max_bytes": max_bytes, "max_percent": 100, **retention},
        },
        "test",
    )


@pytest.fixture(scope="module")
def sample_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed (the README's test command installs it)")
    path = tmp_path_factory.mktemp("media") / "seg.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "testsrc2=size=160x120:rate=5", "-t", "1", "-c:v", "libx264",
         "-preset", "ultrafast", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


class Site:
    """Ten real (small) mp4 segments per camera, an hour old, indexed in the store."""

    def __init__(self, store: Store, root: Path, media: Path) -> None:
        self.store = store
        self.t0 = now() - timedelta(hours=1)
        self.size = media.stat().st_size
        for cam in ("c1", "c2"):
            for i in range(10):
                path = root / cam / f"{i:02d}.mp4"
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(media, path)
                start = self.at(i)
                self.store.add_segment(
                    cam, path, start, start + timedelta(seconds=SEG), self.size, sha256_file(path)
                )

    def at(self, i: float) -> datetime:
        return self.t0 + timedelta(seconds=SEG * i)

    def present(self) -> set[tuple[str, int]]:
        return {(s.camera, int(s.path.stem)) for s in self.store.segments()}

    def clip(self, event_id: str, camera: str, path: Path, start: float, end: float) -> str:
        path.write_bytes(b"clip" * 100)
        file_id = f"F{event_id}"
        self.store.add_clip(
            file_id, event_id, camera, path, self.at(start), self.at(end), 400, "0" * 64, [], 20
        )
        self.store.set_clip_state(event_id, "cut")
        return file_id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "data" / "edge.db") as s:
        yield s


def test_only_unpinned_segments_go_oldest_first_and_pinned_over_quota_is_critical(
    tmp_path: Path, store: Store, sample_mp4: Path
) -> None:
    site = Site(store, tmp_path / "segments", sample_mp4)
    size = site.size
    # c1 #2: an event whose clip is cut but not delivered (the event itself is delivered)
    undelivered = record_event(store, "mark", camera="c1", occurred_at=site.at(2.5))
    site.clip(undelivered, "c1", tmp_path / "u.mp4", 2.25, 2.75)
    store.mark_delivered("event", undelivered)
    # c2 #3: an event and its clip both delivered -> nothing pinned there
    done = record_event(store, "mark", camera="c2", occurred_at=site.at(3.5))
    store.mark_delivered("file", site.clip(done, "c2", tmp_path / "d.mp4", 3.25, 3.75))
    store.mark_delivered("event", done)
    # c1 #6: an anomaly (delivered), pinned for anomaly_keep_hours
    reject = record_event(store, "metal_detector_reject", camera="c1", occurred_at=site.at(6.5))
    store.mark_delivered("event", reject)
    # c2 #1 and #4: a hold on c2
    hold = add_hold(store, site.at(1.1), site.at(1.9), "legal hold 42", camera="c2")
    add_hold(store, site.at(4.2), site.at(4.3), "expired", camera="c2", until=now())
    assert [h.reason for h in holds(store)] == ["legal hold 42"]

    pinned = {("c1", 2), ("c1", 6), ("c2", 1)}
    config = make_config(tmp_path, max_bytes=16 * size, clip_grace_seconds=3600)
    with Retention(config, store) as retention:
        report = retention.run_once()
        # 20 segments + 2 clip files (800 bytes) against 16 segments: 5 go, oldest first
        gone = {("c1", 0), ("c2", 0), ("c1", 1), ("c2", 2), ("c1", 3)}
        assert site.present() == {(c, i) for c in ("c1", "c2") for i in range(10)} - gone
        assert report.deleted_segments == 5
        assert report.usage.used_bytes <= report.usage.quota_bytes
        assert not (tmp_path / "segments" / "c1" / "00.mp4").exists()
        assert all(s.path.exists() for s in store.segments())  # index never names a lost file
        deleted = store.query("SELECT camera, path, unlinked FROM deleted_segments")
        assert {(r["camera"], int(Path(r["path"]).stem)) for r in deleted} == gone
        assert all(r["unlinked"] == 1 for r in deleted)
        assert Faults(store).active() == []

        # quota below what is pinned: every unpinned segment goes, pinned ones stay, critical
        small = make_config(tmp_path, max_bytes=2 * size)
        critical = Retention(small, store, retention.faults).run_once()
        assert site.present() == pinned
        assert critical.usage.pinned_bytes == 3 * size + 400  # + the undelivered clip file
        assert critical.usage.over_quota
        [fault] = Faults(store).active()
        assert (fault.scope, fault.name) == (DEVICE, "storage_critical")
        assert fault.detail["quota_bytes"] == 2 * size
        assert (tmp_path / "u.mp4").exists()  # undelivered clip never deleted

        # once pinned data fits again the fault clears with an event
        assert remove_hold(store, hold)
        assert pinned_bytes(small, store) == 2 * size + 400
        Retention(make_config(tmp_path, max_bytes=10 * size), store).run_once()
        assert Faults(store).active() == []
        kinds = [store.event(r["id"]).kind for r in store.query("SELECT id FROM events")]  # type: ignore[union-attr]
        assert kinds[-2:] == ["device_fault", "fault_cleared"]


def test_delivered_clips_expire_after_the_grace_undelivered_never(
    tmp_path: Path, store: Store, sample_mp4: Path
) -> None:
    site = Site(store, tmp_path / "segments", sample_mp4)
    old = record_event(store, "mark", camera="c1", occurred_at=site.at(1))
    kept = record_event(store, "mark", camera="c1", occurred_at=site.at(2))
    store.mark_delivered("file", site.clip(old, "c1", tmp_path / "old.mp4", 0.9, 1.1))
    pending = site.clip(kept, "c1", tmp_path / "kept.mp4", 1.9, 2.1)
    config = make_config(tmp_path, max_bytes=10**9, clip_grace_seconds=0)
    report = Retention(config, store).run_once()
    assert report.deleted_clips == 1 and report.deleted_segments == 0
    assert not (tmp_path / "old.mp4").exists() and (tmp_path / "kept.mp4").exists()
    gone = store.query("SELECT deleted_at FROM clips WHERE file_id = ?", (f"F{old}",))
    assert gone[0]["deleted_at"]
    assert store.clip(pending) is not None


def test_recording_continues_while_storage_is_critical(tmp_path: Path, ffmpeg: str) -> None:
    config = make_config(tmp_path, max_bytes=1, check_seconds=0.5)
    config = config.model_copy(update={"cameras": config.cameras[:1]})
    with Store(config.db_path) as store, Recorder(config, store) as recorder:
        recorder.start()
        first = wait_for(lambda: store.last_segment("c1"), 30, "a first segment")
        add_hold(store, first.start - timedelta(seconds=60), first.end, "keep the first")
        with Retention(config, store) as retention:
            retention.start()
            faults = Faults(store)
            wait_for(lambda: faults.is_active(DEVICE, "storage_critical"), 20, "storage_critical")
            count = len(store.segments())
            # the recorder is not stopped: new segments keep arriving and old unpinned ones go
            wait_for(
                lambda: store.query("SELECT COUNT(*) FROM deleted_segments")[0][0] > 0,
                30,
                "an unpinned segment to be deleted",
            )
            newest = store.last_segment("c1")
            wait_for(lambda: store.last_segment("c1") != newest, 20, "recording to go on")
            assert recorder.status()[0].running
            assert any(s.path == first.path for s in store.segments())
            assert first.path.exists()
            assert count >= 1


def test_status_shows_faults_disk_use_and_pinned_bytes(
    tmp_path: Path, sample_mp4: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(
        '[site]\nid = "s1"\ndevice = "d1"\nlocation_code = "LC-1"\n'
        '[storage]\ndata_dir = "data"\n[[cameras]]\nid = "c1"\n[[cameras]]\nid = "c2"\n'
        "[retention]\nmax_bytes = 1000000\n"
    )
    with Store(tmp_path / "data" / "edge.db") as store:
        site = Site(store, tmp_path / "segments", sample_mp4)
        add_hold(store, site.at(0), site.at(1), "hold", camera="c1")
        Faults(store).raise_fault("c2", "blurred", {"laplacian_variance": 1.5})
    assert main(["status", "--config", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["disk_used_bytes"] == 20 * site.size
    assert report["disk_quota_bytes"] == 1_000_000
    assert report["pinned_bytes"] == site.size
    assert [(f["scope"], f["name"]) for f in report["faults"]] == [("c2", "blurred")]
    assert main(["status", "--config", str(path)]) == 0
    text = capsys.readouterr().out
    assert "quota" in text and "pinned" in text and "c2 blurred since" in text
