"""A kill -9 of ``reeferwatch-edge run`` loses at most the segment being written.

After a restart every segment closed before the kill is indexed with a matching sha256,
no ffmpeg outlives the killed process, and the index shows the hole as a ``restart`` gap.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from edge.config import load_config
from edge.gaps import gaps
from edge.store import Store
from tests.helpers import Broker, wait_for
from tests.integration.test_edge_run import alive, cli, ffmpeg_children

pytestmark = pytest.mark.slow

CONFIG = """
[site]
id = "site01"
device = "edge01"
location_code = "370200-QD-01"
[storage]
data_dir = "data"
[mqtt]
port = {port}
[recording]
segment_seconds = 2
[[cameras]]
id = "cam1"
width = 320
height = 240
fps = 10
"""


def closed_in_list(work: Path) -> list[str]:
    names = []
    for listing in work.glob("list-*.csv"):
        for line in listing.read_text().splitlines():
            if line.strip():
                names.append(line.split(",", 1)[0].strip('"'))
    return names


def test_kill_9_loses_at_most_the_segment_being_written(
    tmp_path: Path, broker: Broker, ffmpeg: str
) -> None:
    config_path = tmp_path / "edge.toml"
    config_path.write_text(CONFIG.format(port=broker.port))
    config = load_config(config_path)
    work = config.data_dir / "work" / "cam1"
    log = (tmp_path / "edge.log").open("ab")
    proc = subprocess.Popen(cli("run", "--config", str(config_path)), stdout=log, stderr=log)
    try:
        with Store(config.db_path) as store:
            wait_for(lambda: len(store.segments("cam1")) >= 3, 40, "three segments")
        kids = ffmpeg_children(proc.pid)
        assert kids
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: not any(alive(k) for k in kids), 10, "no orphaned ffmpeg")
        closed = closed_in_list(work)  # what the segmenter had finished when it died
        assert closed
        proc = subprocess.Popen(cli("run", "--config", str(config_path)), stdout=log, stderr=log)
        with Store(config.db_path) as store:
            before = {s.path.name for s in store.segments("cam1")}
            wait_for(lambda: {s.path.name for s in store.segments("cam1")} >= set(closed)
                     and len(store.segments("cam1")) > len(before), 40,
                     "every closed segment indexed, and new ones")  # fmt: skip
            for seg in store.segments("cam1"):
                assert hashlib.sha256(seg.path.read_bytes()).hexdigest() == seg.sha256
            restart = wait_for(
                lambda: [g for g in gaps(store, "cam1") if g.reason == "restart"], 20,
                "a restart gap",
            )  # fmt: skip
            assert (restart[0].end - restart[0].start).total_seconds() > 0.5
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        log.close()
