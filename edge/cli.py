"""``reeferwatch-edge``: run, trigger, status, selftest, identity and provision (first boot).

Exit codes: 0 ok, 1 failure (e.g. no clip could be cut), 2 bad configuration or usage (also a
bad or missing enrollment bundle), 3 timeout of ``trigger --wait``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from edge.config import EdgeConfig, load_config
from edge.events import record_event
from edge.faults import Faults
from edge.gaps import camera_state, gaps
from edge.retention import usage
from edge.sources import describe as describe_source
from edge.sources.config import AnyCamera
from edge.store import Store
from edge.timeutil import iso, now
from wire.errors import ConfigError, ReeferWatchError
from wire.manifest import load_or_create_private_key, public_key_text
from wire.models import EVENT_KINDS

log = logging.getLogger("edge")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reeferwatch-edge", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="record, cut clips, read GPIO and sync until SIGTERM")
    run.add_argument("--config", required=True)
    trig = sub.add_parser("trigger", help="record an event (works while `run` is running)")
    trig.add_argument("--config", required=True)
    trig.add_argument("kind", choices=EVENT_KINDS)
    trig.add_argument("--camera", help="camera id (default: every camera)")
    trig.add_argument(
        "--wait", type=float, metavar="SECONDS", help="wait until the clip(s) are queued"
    )
    status = sub.add_parser(
        "status", help="cameras, last segment age, backlog, faults, disk use vs quota"
    )
    status.add_argument("--config", required=True)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    test = sub.add_parser(
        "selftest", help="installer checks: cameras, inputs, LEDs, broker, clock (exit 1 = fail)"
    )
    test.add_argument("--config", required=True)
    test.add_argument("--dry-run", action="store_true", help="configuration and local checks")
    test.add_argument("--json", action="store_true", help="print one JSON object")
    ident = sub.add_parser(
        "identity", help="print the public key that signs this box's clips (made if missing)"
    )
    ident.add_argument("--config", required=True)
    prov = sub.add_parser(
        "provision",
        help="first boot: install the enrollment bundle from the boot partition, then erase it",
    )
    prov.add_argument("--boot-dir", default="/boot/firmware/reeferwatch", help="the bundle")
    prov.add_argument("--etc-dir", default="/etc/reeferwatch", help="where it is installed")
    prov.add_argument(
        "--signal",
        action="store_true",
        help="only show the 'not provisioned' LED code until stopped",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.command == "provision":
        return _provision(Path(args.boot_dir), Path(args.etc_dir), args.signal)
    try:
        config = load_config(args.config)
        if args.command == "selftest":
            return _selftest(config, args.dry_run, args.json)
        if args.command == "run":
            return _run(config)
        if args.command == "trigger":
            return _trigger(config, args.kind, args.camera, args.wait)
        if args.command == "identity":
            return _identity(config)
        return _status(config, args.json)
    except ConfigError as exc:
        if args.command == "selftest":
            print("FAIL config: see below", file=sys.stderr)
        print(f"reeferwatch-edge: {exc}", file=sys.stderr)
        return 2
    except ReeferWatchError as exc:
        print(f"reeferwatch-edge: {exc}", file=sys.stderr)
        return 1


def _run(config: EdgeConfig) -> int:
    from edge.app import run

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received signal %d", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    run(config, stop)
    return 0


def _provision(boot_dir: Path, etc_dir: Path, signal_only: bool) -> int:
    from edge.bundle import ProvisionError
    from edge.provision import Layout, provision

    if signal_only:
        return _not_provisioned_notice(boot_dir, etc_dir)
    try:
        outcome = provision(Layout(boot_dir=boot_dir, etc_dir=etc_dir))
    except ProvisionError as exc:
        log.error("provision: FAILED, the box stays unprovisioned: %s", exc)
        return 2
    print(f"provision: {outcome.state} (device {outcome.device})")
    return 0


def _not_provisioned_notice(boot_dir: Path, etc_dir: Path) -> int:
    from edge.panel.notice import open_notice

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    try:
        sources = [boot_dir / "site.toml", boot_dir / "edge.toml", etc_dir / "edge.toml"]
        notice = open_notice(sources)
    except ReeferWatchError as exc:
        log.error("provision: cannot show the LED code: %s", exc)
        return 1
    if notice is not None:
        with notice:
            stop.wait()
    return 0


def _trigger(config: EdgeConfig, kind: str, camera: str | None, wait: float | None) -> int:
    if camera is not None:
        config.camera(camera)  # ConfigError if unknown
    with Store(config.db_path) as store:
        event_id = record_event(store, kind, camera=camera, source="cli")
        print(f"event {event_id}", flush=True)
        if wait is None:
            return 0
        deadline = time.monotonic() + wait
        while True:
            event = store.event(event_id)
            if event is not None and event.clip_state != "pending":
                break
            if time.monotonic() > deadline:
                print(
                    f"reeferwatch-edge: timed out after {wait:g} s waiting for the clip of "
                    f"{event_id} (is `reeferwatch-edge run` recording?)",
                    file=sys.stderr,
                )
                return 3
            time.sleep(0.2)
        clips = store.clips_for_event(event_id)
        for clip in clips:
            print(f"clip {clip.file_id}", flush=True)
        if not clips and event.clip_state != "none":
            print(f"reeferwatch-edge: no clip: {event.clip_note}", file=sys.stderr)
            return 1
        return 0


def _identity(config: EdgeConfig) -> int:
    """Print what an operator gives ``reeferwatch-central device trust``."""
    key = load_or_create_private_key(config.signing_key_path)
    print(f"site {config.site.id}")
    print(f"device {config.site.device}")
    print(f"public-key {public_key_text(key)}")
    return 0


def _selftest(config: EdgeConfig, dry_run: bool, as_json: bool) -> int:
    from edge.selftest import run_selftest

    report = run_selftest(config, dry_run=dry_run)
    if as_json:
        print(json.dumps(report.as_dict()))
    else:
        for check in report.checks:
            print(f"{'PASS' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    if not report.ok:
        print(f"reeferwatch-edge: selftest failed: {', '.join(report.failed())}", file=sys.stderr)
        return 1
    return 0


def _status(config: EdgeConfig, as_json: bool) -> int:
    moment = now()
    with Store(config.db_path) as store:
        cameras = []
        for cam in config.cameras:
            last = store.last_segment(cam.id)
            age = (moment - last.end).total_seconds() if last else None
            cameras.append({"camera": cam.id, "last_segment_age_s": age, **_camera_extra(
                store, cam, config.recording.segment_seconds, age, last.end if last else None
            )})  # fmt: skip
        count, size = store.backlog()
        delivered = store.last_delivery()
        active = Faults(store).active()
        disk = usage(config, store)
    report = {
        "site": config.site.id,
        "device": config.site.device,
        "cameras": cameras,
        "backlog_items": count,
        "backlog_bytes": size,
        "last_delivery": iso(delivered) if delivered else None,
        "faults": [
            {"scope": f.scope, "name": f.name, "since": iso(f.raised_at), "detail": f.detail}
            for f in active
        ],
        "disk_used_bytes": disk.used_bytes,
        "disk_quota_bytes": disk.quota_bytes,
        "pinned_bytes": disk.pinned_bytes,
        "volume_free_bytes": disk.volume_free_bytes,
    }
    if as_json:
        print(json.dumps(report))
        return 0
    print(f"site {config.site.id} device {config.site.device}")
    for cam_report in cameras:
        seen = cam_report["last_segment_age_s"]
        shown = "no segment yet" if seen is None else f"last segment {seen:.1f} s ago"
        print(f"camera {cam_report['camera']} ({cam_report['source']}): {shown}")
        _print_camera_extra(cam_report)
    print(f"outbox backlog: {count} item(s), {size} bytes")
    print(f"last delivery: {report['last_delivery'] or 'never'}")
    share = 100.0 * disk.used_bytes / disk.quota_bytes if disk.quota_bytes else 0.0
    print(
        f"disk: {_mb(disk.used_bytes)} of {_mb(disk.quota_bytes)} quota ({share:.0f} %), "
        f"pinned {_mb(disk.pinned_bytes)}, volume free {_mb(disk.volume_free_bytes)}"
    )
    print(f"faults: {len(active) or 'none'}")
    for fault in active:
        print(f"  {fault.scope} {fault.name} since {iso(fault.raised_at)} {fault.detail or ''}")
    return 0


def _camera_extra(
    store: Store, cam: AnyCamera, segment_seconds: int, age: float | None, last_end: Any
) -> dict[str, Any]:
    """Source (no credentials), camera clock drift, open gap and recent recorded gaps."""
    state = camera_state(store, cam.id)
    open_since = iso(last_end) if age is not None and age > 2 * segment_seconds + 5 else None
    recent = gaps(store, cam.id, now() - timedelta(hours=24))
    return {
        "source": state[0] if state else describe_source(cam),
        "clock_drift_s": state[1] if state else None,
        "open_gap_since": open_since,
        "gaps_24h": [
            {"start": iso(g.start), "end": iso(g.end), "reason": g.reason} for g in recent
        ],
    }


def _print_camera_extra(report: dict[str, Any]) -> None:
    drift = report["clock_drift_s"]
    if drift is not None:
        print(f"  camera clock drift {drift:+.1f} s")
    if report["open_gap_since"]:
        print(f"  OPEN GAP: no recording since {report['open_gap_since']}")
    for gap in report["gaps_24h"][-5:]:
        print(f"  gap {gap['start']} – {gap['end']} ({gap['reason']})")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


if __name__ == "__main__":
    sys.exit(main())
