"""The ``run`` process: recorder, clip worker, GPIO, health, retention and sync.

Everything is opened in an ``ExitStack`` so a failure half-way closes what was opened,
and the ffmpeg children are stopped before the process exits.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import ExitStack

from edge.clipworker import ClipWorker
from edge.config import EdgeConfig
from edge.faults import Faults
from edge.gpio import GpioInputs
from edge.health.monitor import HealthMonitor
from edge.health.report import build_health_message
from edge.recorder import Recorder
from edge.retention import Retention
from edge.store import Store
from edge.sync import SyncClient

log = logging.getLogger(__name__)


def sd_notify(state: str) -> None:
    """Tell systemd (``Type=notify``) about our state, if it is listening."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)


def run(config: EdgeConfig, stop: threading.Event) -> None:
    """Run every part of the edge until ``stop`` is set."""
    with ExitStack() as stack:
        store = stack.enter_context(Store(config.db_path))
        recorder = stack.enter_context(Recorder(config, store))
        recorder.start()
        worker = stack.enter_context(ClipWorker(config, store))
        worker.start()
        gpio = stack.enter_context(GpioInputs(config.gpio, store))
        gpio.start()
        faults = Faults(store)
        health = stack.enter_context(HealthMonitor(config, store, faults))
        health.start()
        retention = stack.enter_context(Retention(config, store, faults))
        retention.start()
        sync = stack.enter_context(SyncClient(config, store))
        sync.health.build = lambda: build_health_message(
            config,
            store,
            recording=lambda: {s.camera: s.running for s in recorder.status()},
            temperature=lambda: health.temperature_c,
        )
        sync.start()
        log.info(
            "edge %s/%s running: %d camera(s), data in %s",
            config.site.id,
            config.site.device,
            len(config.cameras),
            config.data_dir,
        )
        sd_notify("READY=1")
        while not stop.wait(10):
            sd_notify("WATCHDOG=1")
        sd_notify("STOPPING=1")
        log.info("edge: shutting down")
    log.info("edge: stopped")
