"""``reeferwatch-edge selftest``: the installer's checks, each named, with a verdict.

Full run: configuration and local prerequisites, then every camera (a recent segment in the
store, or the source answers), the live level of every input, an LED walk (a callback the
panel supplies), the broker (TCP, then an MQTT CONNECT under a client id of its own so the
running edge is not disturbed) and the clock. ``dry_run`` checks only the configuration and
local prerequisites (ffmpeg, a writable data directory, the GPIO library) — the appliance
image build runs it inside a chroot.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edge import ffmpeg
from edge.clock import clock_synced
from edge.config import EdgeConfig
from edge.pins import open_backend
from edge.sources import make_source
from edge.sources.config import Picamera2Camera
from edge.store import Store
from edge.timeutil import now
from wire.errors import ExternalProgramMissing, ReeferWatchError

BROKER_TIMEOUT_S = 5.0
_SOFT_ERRORS = (ReeferWatchError, OSError, RuntimeError, ValueError)


class InputLevels(Protocol):
    def levels(self) -> dict[str, bool]: ...


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class SelfTestReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failed": self.failed(),
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


def run_selftest(
    config: EdgeConfig,
    *,
    store: Store | None = None,
    pins: InputLevels | None = None,
    led_walk: Callable[[], None] | None = None,
    dry_run: bool = False,
) -> SelfTestReport:
    """Run the checks; ``pins`` gives live input levels (else the pins are opened here)."""
    report = SelfTestReport()
    report.add("config", True, f"{len(config.cameras)} camera(s), {len(config.gpio.inputs)} "
               f"input(s), broker {config.mqtt.host}:{config.mqtt.port}")  # fmt: skip
    _local(config, report)
    if dry_run:
        return report
    if store is None:
        with Store(config.db_path) as own:
            _cameras(config, own, report)
    else:
        _cameras(config, store, report)
    _inputs(config, pins, report)
    _leds(led_walk, report)
    _broker(config, report)
    _clock(config, report)
    return report


def _local(config: EdgeConfig, report: SelfTestReport) -> None:
    try:
        report.add("ffmpeg", True, ffmpeg.binary("ffmpeg"))
    except ExternalProgramMissing as exc:
        report.add("ffmpeg", False, str(exc))
    report.add("data_dir", *_writable(config.data_dir))
    for key in ("ca_file", "cert_file", "key_file"):
        value = getattr(config.mqtt, key)
        if value and not os.access(value, os.R_OK):
            report.add(f"mqtt.{key}", False, f"{value} is not readable")
    module = "Jetson.GPIO" if config.gpio.backend == "jetson" else "gpiozero"
    if config.gpio.inputs:
        found = _importable(module)
        report.add("gpio_library", found, module if found else f"{module} is not installed")
    if any(isinstance(c, Picamera2Camera) for c in config.cameras):
        found = _importable("picamera2")
        report.add("picamera2", found, "ok" if found else "apt install python3-picamera2")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _writable(folder: Path) -> tuple[bool, str]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".selftest-") as fh:
            fh.write(b"ok")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return False, f"{folder} is not writable ({exc.strerror or exc})"
    return True, f"{folder} is writable"


def _cameras(config: EdgeConfig, store: Store, report: SelfTestReport) -> None:
    fresh = 2 * config.recording.segment_seconds + 5
    for cam in config.cameras:
        name = f"camera:{cam.id}"
        last = store.last_segment(cam.id)
        age = (now() - last.end).total_seconds() if last else None
        if age is not None and age <= fresh:
            report.add(name, True, f"recording (last segment {age:.1f} s ago)")
            continue
        seen = "no segment yet" if age is None else f"last segment {age:.0f} s ago"
        try:
            with tempfile.TemporaryDirectory(prefix="rw-selftest-") as runtime:
                reachable = make_source(cam, Path(runtime)).reachable()
        except _SOFT_ERRORS as exc:
            report.add(name, False, f"not recording ({seen}); {exc}")
            continue
        if reachable:
            report.add(name, True, f"reachable, not recording yet ({seen}): is `run` running?")
        else:
            state = "does not answer" if reachable is False else "cannot be probed"
            report.add(name, False, f"not recording ({seen}) and the source {state}")


def _inputs(config: EdgeConfig, pins: InputLevels | None, report: SelfTestReport) -> None:
    if not config.gpio.inputs:
        return
    try:
        levels = pins.levels() if pins is not None else _read_levels(config)
    except _SOFT_ERRORS as exc:
        report.add("inputs", False, f"cannot read the inputs ({exc})")
        return
    for spec in config.gpio.inputs:
        level = levels.get(spec.name)
        if level is None:
            report.add(f"input:{spec.name}", False, f"pin {spec.pin} was not read")
        else:
            state = "ACTIVE" if level else "inactive"
            report.add(f"input:{spec.name}", True, f"{state} (pin {spec.pin}, {spec.kind})")


def _read_levels(config: EdgeConfig) -> dict[str, bool]:
    backend = open_backend(config.gpio.backend, config.gpio.numbering)
    try:
        levels = {}
        for spec in config.gpio.inputs:
            pin = backend.open_input(spec.pin, pull=spec.pull_mode,  # type: ignore[arg-type]
                                     active_high=spec.active_high, bounce_ms=0,
                                     on_change=None)  # fmt: skip
            levels[spec.name] = pin.is_active()
        return levels
    finally:
        backend.close()


def _leds(led_walk: Callable[[], None] | None, report: SelfTestReport) -> None:
    if led_walk is None:
        report.add("leds", True, "skipped (no panel LEDs to walk)")
        return
    try:
        led_walk()
    except _SOFT_ERRORS as exc:
        report.add("leds", False, f"LED walk failed ({exc})")
        return
    report.add("leds", True, "walked every LED")


def _broker(config: EdgeConfig, report: SelfTestReport) -> None:
    mq = config.mqtt
    where = f"{mq.host}:{mq.port}"
    try:
        with socket.create_connection((mq.host, mq.port), timeout=BROKER_TIMEOUT_S):
            pass
    except OSError as exc:
        report.add("broker", False, f"cannot open TCP to {where} ({exc.strerror or exc})")
        return
    ok, detail = _mqtt_connect(config)
    report.add("broker", ok, f"{where}: {detail}")


def _mqtt_connect(config: EdgeConfig) -> tuple[bool, str]:
    import ssl

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    mq = config.mqtt
    answered = threading.Event()
    outcome: list[str] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                         client_id=f"reeferwatch-selftest-{config.site.device}")  # fmt: skip

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        outcome.append("ok" if not reason.is_failure else f"refused ({reason})")
        answered.set()

    client.on_connect = on_connect
    try:
        if mq.tls:
            client.tls_set(ca_certs=mq.ca_file, certfile=mq.cert_file or None,
                           keyfile=mq.key_file or None,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)  # fmt: skip
        client.connect(mq.host, mq.port, keepalive=10)
        client.loop_start()
        if not answered.wait(BROKER_TIMEOUT_S):
            return False, f"no CONNACK within {BROKER_TIMEOUT_S:g} s"
        return outcome[0] == "ok", f"MQTT CONNECT {outcome[0]}"
    except (OSError, ssl.SSLError, ValueError) as exc:
        return False, f"MQTT CONNECT failed ({exc})"
    finally:
        client.disconnect()
        client.loop_stop()


def _clock(config: EdgeConfig, report: SelfTestReport) -> None:
    if not config.health.clock_check:
        report.add("clock", True, "not checked ([health] clock_check = false)")
    elif clock_synced():
        report.add("clock", True, "synchronised")
    else:
        report.add("clock", False, "not synchronised (check NTP: timedatectl timesync-status)")
