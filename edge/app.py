"""The ``run`` process: recorder, clip worker, GPIO, health, retention, sync and panel.

Everything is opened in an ``ExitStack`` so a failure half-way closes what was opened,
and the ffmpeg children are stopped before the process exits. The main loop pings systemd's
watchdog only while every worker thread is alive and recent (``edge.liveness``), so a stuck
recorder, clip worker, sync drain, GPIO, health, retention or panel thread gets the service
restarted, not just a stuck main loop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import ExitStack

from edge.clipworker import ClipWorker
from edge.config import EdgeConfig
from edge.events import record_event
from edge.faults import Faults
from edge.gpio import GpioInputs
from edge.health.monitor import HealthMonitor
from edge.health.report import build_health_message
from edge.liveness import TICK_S, Heartbeat, Monitored, Watchdog
from edge.manifests import ManifestSigner
from edge.panel.panel import Panel, PanelActions, PanelSources
from edge.pins import PinBackend
from edge.recorder import Recorder
from edge.retention import Retention
from edge.selftest import run_selftest
from edge.sessions import LoadingSessions
from edge.store import Store
from edge.sync import SyncClient
from wire.manifest import load_or_create_private_key

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


def _panel(
    config: EdgeConfig,
    store: Store,
    recorder: Recorder,
    faults: Faults,
    sync: SyncClient,
    gpio: GpioInputs,
    backend: PinBackend,
) -> Panel:
    """The status panel on the inputs' pin backend, fed about 4×/s from the parts of ``run``."""
    sessions = LoadingSessions(config, store)
    sources = PanelSources(
        recording=lambda: {s.camera: s.running for s in recorder.status()},
        backlog=store.backlog,
        connected=sync.connected.is_set,
        faults=lambda: [(f.scope, f.name) for f in faults.active()],
        loading=lambda: sessions.active() is not None,
    )
    panel: Panel | None = None

    def selftest() -> object:
        walk = panel.led_walk if panel is not None else None
        report = run_selftest(config, store=store, pins=gpio, led_walk=walk)
        if not report.ok:
            log.error("self-test failed: %s", ", ".join(report.failed()))
        return "passed" if report.ok else f"failed: {', '.join(report.failed())}"

    actions = PanelActions(
        on_loading_toggle=lambda: sessions.toggle(source="button"),
        on_mark=lambda: record_event(store, "mark", source="button"),
        on_selftest=selftest,
    )
    panel = Panel(config.panel, sources, actions, backend)
    return panel


def device_signer(config: EdgeConfig) -> ManifestSigner:
    """The manifest signer of this box; its key is made on first run if there is none."""
    path = config.signing_key_path
    signer = ManifestSigner(load_or_create_private_key(path), config.site.id, config.site.device)
    log.info("clip manifests signed with %s (public key %s)", path, signer.public_key)
    return signer


def heartbeats(parts: list[Monitored]) -> list[Heartbeat]:
    """Every heartbeat of ``parts``: the threads the watchdog requires alive."""
    return [beat for part in parts for beat in part.heartbeats()]


def run(config: EdgeConfig, stop: threading.Event) -> None:
    """Run every part of the edge until ``stop`` is set."""
    with ExitStack() as stack:
        store = stack.enter_context(Store(config.db_path, signer=device_signer(config)))
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
        parts: list[Monitored] = [recorder, worker, gpio, health, retention, sync]
        if config.panel.enabled and gpio.backend is not None:
            panel = stack.enter_context(
                _panel(config, store, recorder, faults, sync, gpio, gpio.backend)
            )
            panel.start()
            parts.append(panel)
        log.info(
            "edge %s/%s running: %d camera(s), data in %s",
            config.site.id,
            config.site.device,
            len(config.cameras),
            config.data_dir,
        )
        watchdog = Watchdog(heartbeats(parts), sd_notify)
        sd_notify("READY=1")
        while not stop.wait(TICK_S):
            watchdog.tick()
        sd_notify("STOPPING=1")
        log.info("edge: shutting down")
    log.info("edge: stopped")
