"""``upload_window`` and ``config_refresh`` commands against a real SQLite store and TOML file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from edge.commands import CommandHandler
from edge.config import ClipKindConfig, EdgeConfig, SessionsConfig, load_config, parse_config
from edge.events import PRIORITY_FILE_OFFSET, PRIORITY_WINDOW
from edge.health.publisher import HealthPublisher
from edge.health.report import build_health_message
from edge.liveconfig import changed_keys
from edge.retention import holds
from edge.store import Store
from edge.timeutil import iso, now
from edge.uplink import TokenBucket, parse_hhmm
from edge.windowclips import MAX_WINDOW_S, WindowClipper, window_state
from wire.models import CommandMessage, HealthMessage, ScalarValue

BASE = (
    '[site]\nid = "s"\ndevice = "d"\nlocation_code = "X-1"\n'
    '[storage]\ndata_dir = "data"\n[recording]\nsegment_seconds = 2\n'
    '[[cameras]]\nid = "dock1"\n[[cameras]]\nid = "dock2"\n'
)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[EdgeConfig, Store]]:
    (tmp_path / "edge.toml").write_text(BASE)
    config = load_config(tmp_path / "edge.toml")
    with Store(config.db_path) as store:
        yield config, store


def message(kind: str, cid: str, expires_in: float, args: dict[str, ScalarValue]) -> CommandMessage:
    t = now()
    return CommandMessage(id=cid, kind=kind, issued_at=t,  # type: ignore[arg-type]
                          expires_at=t + timedelta(seconds=expires_in), args=args)  # fmt: skip


def command(
    kind: str, cid: str = "c1", expires_in: float = 60, **args: ScalarValue
) -> CommandMessage:
    return message(kind, cid, expires_in, args)


def record(store: Store, camera: str, start: datetime, seconds: int, count: int) -> None:
    """Index ``count`` back-to-back segments (the files need not exist for accepting)."""
    for n in range(count):
        a = start + timedelta(seconds=n * seconds)
        path = Path(f"/nonexistent/{camera}/{a.timestamp()}.mp4")
        store.add_segment(camera, path, a, a + timedelta(seconds=seconds), 1000, "0" * 64)


def windows(store: Store) -> list[Any]:
    return store.query("SELECT * FROM upload_windows ORDER BY created_at")


# -- upload_window: accepted at once, idempotent ------------------------------------------


def test_upload_window_is_queued_once_per_id(setup: tuple[EdgeConfig, Store]) -> None:
    config, store = setup
    t0 = now() - timedelta(minutes=5)
    record(store, "dock1", t0, 10, 6)
    handler = CommandHandler(config, store)
    cmd = command("upload_window", camera="dock1", start=iso(t0 + timedelta(seconds=5)),
                  end=iso(t0 + timedelta(seconds=35)), reason="inspector asked")  # fmt: skip
    result = handler.handle(cmd)
    assert result is not None and result.ok, result
    assert result.data["state"] == "queued" and isinstance(result.data["file_id"], str)
    # a redelivery, or central asking again: answered again, not executed again
    for again in (handler.handle(cmd), CommandHandler(config, store).handle(cmd)):
        assert again is not None and (again.ok, again.data) == (True, result.data)
    (job,) = windows(store)
    assert (job["command_id"], job["file_id"], job["camera"]) == ("c1", result.data["file_id"],
                                                                  "dock1")  # fmt: skip
    assert job["state"] == "pending" and job["reason"] == "inspector asked"
    (hold,) = holds(store)  # the window is pinned until it is cut
    assert hold.camera == "dock1" and hold.start == t0 + timedelta(seconds=5)


def test_utc_designator_and_other_offsets_are_accepted(setup: tuple[EdgeConfig, Store]) -> None:
    config, store = setup
    t0 = now().astimezone(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    record(store, "dock2", t0, 10, 3)
    start = t0.strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (t0 + timedelta(seconds=20)).astimezone(timezone(timedelta(hours=8))).isoformat()
    result = CommandHandler(config, store).handle(
        command("upload_window", camera="dock2", start=start, end=end)
    )
    assert result is not None and result.ok, result
    (job,) = windows(store)
    assert datetime.fromisoformat(job["start"]) == t0
    assert datetime.fromisoformat(job["end"]) == t0 + timedelta(seconds=20)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"start": "S", "end": "E"}, "args.camera: required"),
        ({"camera": "dock9", "start": "S", "end": "E"}, "no camera with id 'dock9'"),
        ({"camera": "dock1", "start": "S", "end": "E", "colour": "red"}, "unknown key 'colour'"),
        ({"camera": "dock1", "end": "E"}, "args.start: required"),
        ({"camera": "dock1", "start": "S"}, "args.end: required"),
        ({"camera": "dock1", "start": "yesterday", "end": "E"}, "args.start: 'yesterday' is not"),
        ({"camera": "dock1", "start": "2026-01-01T08:00:00", "end": "E"}, "UTC offset"),
        ({"camera": "dock1", "start": 1700000000, "end": "E"}, "args.start: required"),
        ({"camera": "dock1", "start": "E", "end": "S"}, "is not after args.start"),
        ({"camera": "dock1", "start": "S", "end": "S"}, "is not after args.start"),
        ({"camera": "dock1", "start": "S", "end": "LONG"}, f"at most {MAX_WINDOW_S} s (30 min)"),
        ({"camera": "dock1", "start": "S", "end": "E", "reason": "x" * 201}, "args.reason"),
        ({"camera": "dock1", "start": "S", "end": "E", "reason": "a\nb"}, "args.reason"),
        ({"camera": "dock1", "start": "S", "end": "E", "reason": 7}, "args.reason"),
    ],
)
def test_bad_arguments_are_refused_and_queue_nothing(
    setup: tuple[EdgeConfig, Store], args: dict[str, ScalarValue], expected: str
) -> None:
    config, store = setup
    t0 = now() - timedelta(minutes=40)
    record(store, "dock1", t0, 600, 4)  # 40 minutes recorded: coverage is never the reason
    times = {"S": iso(t0 + timedelta(seconds=60)), "E": iso(t0 + timedelta(seconds=120)),
             "LONG": iso(t0 + timedelta(seconds=60 + MAX_WINDOW_S + 1))}  # fmt: skip
    args = {k: times.get(v, v) if isinstance(v, str) else v for k, v in args.items()}
    result = CommandHandler(config, store).handle(message("upload_window", "c1", 60, args))
    assert result is not None and not result.ok
    assert expected in result.detail, result.detail
    assert windows(store) == [] and holds(store) == []


def test_the_longest_window_is_accepted(setup: tuple[EdgeConfig, Store]) -> None:
    config, store = setup
    t0 = now() - timedelta(minutes=40)
    record(store, "dock1", t0, 600, 4)
    result = CommandHandler(config, store).handle(command(
        "upload_window", camera="dock1", start=iso(t0),
        end=iso(t0 + timedelta(seconds=MAX_WINDOW_S))))  # fmt: skip
    assert result is not None and result.ok, result


def test_a_window_nothing_was_recorded_in_is_refused(setup: tuple[EdgeConfig, Store]) -> None:
    config, store = setup
    t0 = now() - timedelta(minutes=10)
    record(store, "dock1", t0, 10, 3)  # dock1 only, 30 s
    late = t0 + timedelta(minutes=5)
    for cid, camera, start in (("a", "dock1", late), ("b", "dock2", t0)):
        end = start + timedelta(seconds=30)
        result = CommandHandler(config, store).handle(
            command("upload_window", cid, camera=camera, start=iso(start), end=iso(end))
        )
        assert result is not None and not result.ok
        expected = f"camera {camera}: nothing recorded between {iso(start)} and {iso(end)}"
        assert result.detail == expected
    assert windows(store) == [] and holds(store) == []


def test_an_expired_upload_window_is_not_executed(setup: tuple[EdgeConfig, Store]) -> None:
    config, store = setup
    t0 = now() - timedelta(minutes=5)
    record(store, "dock1", t0, 10, 3)
    cmd = command("upload_window", expires_in=-1, camera="dock1", start=iso(t0),
                  end=iso(t0 + timedelta(seconds=20)))  # fmt: skip
    result = CommandHandler(config, store).handle(cmd)
    assert result is not None and not result.ok and "expired" in result.detail
    assert windows(store) == []
    again = CommandHandler(config, store).handle(cmd)  # the refusal is remembered too
    assert again is not None and not again.ok and again.detail == result.detail
    assert windows(store) == []


# -- the clip worker's side -----------------------------------------------------------------


class FakeCut:
    """Stands in for ``ClipWorker.cut``: records the call and queues a clip like it does."""

    def __init__(self, store: Store, tmp: Path, fail: str | None = None) -> None:
        self.store, self.tmp, self.fail = store, tmp, fail
        self.calls: list[dict[str, Any]] = []

    def __call__(self, camera: str, start: datetime, end: datetime, tag: str,
                 meta: dict[str, str], priority: int, **kw: Any) -> str | None:  # fmt: skip
        self.calls.append({"camera": camera, "start": start, "end": end, "tag": tag,
                           "meta": meta, "priority": priority, **kw})  # fmt: skip
        if self.fail:
            return self.fail
        path = self.tmp / f"{tag}.mp4"
        path.write_bytes(b"x")
        self.store.add_clip(kw["file_id"], None, camera, path, start, end, 1, "0" * 64, [],
                            priority, kind=kw["kind"])  # fmt: skip
        return None


def queue(config: EdgeConfig, store: Store, cid: str, start: datetime, seconds: float) -> str:
    result = CommandHandler(config, store).handle(command(
        "upload_window", cid, camera="dock1", start=iso(start),
        end=iso(start + timedelta(seconds=seconds)), reason="why"))  # fmt: skip
    assert result is not None and result.ok, result
    return str(result.data["file_id"])


def test_worker_cuts_a_window_once_as_a_window_file(
    setup: tuple[EdgeConfig, Store], tmp_path: Path
) -> None:
    config, store = setup
    t0 = now() - timedelta(minutes=5)
    record(store, "dock1", t0, 10, 6)
    file_id = queue(config, store, "w1", t0 + timedelta(seconds=10), 20)
    cut = FakeCut(store, tmp_path)
    clipper = WindowClipper(config, store, cut)
    assert clipper.process_pending() == 1
    (call,) = cut.calls
    assert call["kind"] == "window" and call["file_id"] == file_id
    assert call["priority"] == PRIORITY_WINDOW and call["tag"] == f"W{file_id}"
    assert call["meta"] == {"command_id": "w1", "upload_reason": "why"}
    assert window_state(store, "w1") == ("cut", None)
    clip = store.clip(file_id)
    assert clip is not None and clip.kind == "window"
    item = store.outbox_item("file", file_id)
    assert item is not None and item.priority == PRIORITY_WINDOW
    assert holds(store) == []  # released once cut
    assert clipper.process_pending() == 0 and len(cut.calls) == 1


def test_a_window_is_not_cut_before_recording_reaches_its_end(
    setup: tuple[EdgeConfig, Store], tmp_path: Path
) -> None:
    config, store = setup
    t0 = now() - timedelta(seconds=20)
    record(store, "dock1", t0, 10, 2)  # up to now
    queue(config, store, "w1", t0 + timedelta(seconds=10), 30)  # ends 20 s from now
    cut = FakeCut(store, tmp_path)
    assert WindowClipper(config, store, cut).process_pending() == 0
    assert cut.calls == [] and window_state(store, "w1") == ("pending", None)
    record(store, "dock1", t0 + timedelta(seconds=20), 10, 3)  # recording catches up
    assert WindowClipper(config, store, cut).process_pending() == 1
    assert window_state(store, "w1") == ("cut", None)


def test_a_window_clip_queued_before_a_crash_is_not_cut_again(
    setup: tuple[EdgeConfig, Store], tmp_path: Path
) -> None:
    config, store = setup
    t0 = now() - timedelta(minutes=5)
    record(store, "dock1", t0, 10, 6)
    file_id = queue(config, store, "w1", t0, 20)
    cut = FakeCut(store, tmp_path)
    # the clip was queued, then the process died before the job was marked
    cut("dock1", t0, t0 + timedelta(seconds=20), "W", {}, PRIORITY_WINDOW, kind="window",
        file_id=file_id)  # fmt: skip
    assert WindowClipper(config, store, cut).process_pending() == 1
    assert len(cut.calls) == 1 and window_state(store, "w1") == ("cut", None)


def test_a_failed_cut_is_noted(setup: tuple[EdgeConfig, Store], tmp_path: Path) -> None:
    config, store = setup
    t0 = now() - timedelta(minutes=5)
    record(store, "dock1", t0, 10, 6)
    file_id = queue(config, store, "w1", t0, 20)
    WindowClipper(config, store, FakeCut(store, tmp_path, fail="not recorded")).process_pending()
    assert window_state(store, "w1") == ("failed", "not recorded")
    assert holds(store) == []
    # central learns it twice over: an event through the outbox, and the command's answer
    (event,) = store.query("SELECT * FROM events WHERE kind = 'upload_window_failed'")
    data = json.loads(event["data"])
    assert (data["command_id"], data["file_id"], data["reason"]) == ("w1", file_id, "not recorded")
    assert store.outbox_item("event", event["id"]) is not None
    answer = CommandHandler(config, store).handle(command("upload_window", "w1"))
    assert answer is not None and not answer.ok and "not recorded" in answer.detail
    assert answer.data["state"] == "failed" and answer.data["file_id"] == file_id


def test_windows_drain_after_every_event_and_session_clip() -> None:
    gap = PRIORITY_WINDOW - PRIORITY_FILE_OFFSET  # the first offset no clip may be given
    with pytest.raises(ValidationError):
        ClipKindConfig(priority=gap)
    with pytest.raises(ValidationError):
        SessionsConfig(priority=gap)
    ClipKindConfig(priority=gap - 1)
    SessionsConfig(priority=gap - 1)


# -- config_refresh ---------------------------------------------------------------------------


@dataclass
class Targets:
    uplink: TokenBucket
    health: HealthPublisher


def targets(config: EdgeConfig, store: Store) -> Targets:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)  # never connected

    def build() -> HealthMessage:
        return build_health_message(config, store)

    period = config.health.publish_seconds
    return Targets(TokenBucket(config.uplink.kbps), HealthPublisher(client, "t", build, period))


def test_config_refresh_applies_uplink_and_health_live(setup: tuple[EdgeConfig, Store]) -> None:
    config, store = setup
    live = targets(config, store)
    handler = CommandHandler(config, store, live=live)
    assert live.uplink.rate() == 0
    assert config.source_path is not None
    config.source_path.write_text(
        BASE.replace('id = "dock2"', 'id = "dock3"')
        + "[mqtt]\nkeepalive = 45\n[uplink]\nkbps = 800\n"
        '[[uplink.schedule]]\nfrom = "00:00"\nto = "00:00"\nkbps = 1600\n'
        "[health]\npublish_seconds = 5\n"
    )
    result = handler.handle(command("config_refresh"))
    assert result is not None and result.ok, result
    assert result.data["applied"] == "uplink.kbps,uplink.schedule,health.publish_seconds"
    assert result.data["restart"] == "mqtt.keepalive,cameras"
    assert result.data["file"] == str(config.source_path)
    assert "needs a restart: mqtt.keepalive, cameras" in result.detail
    assert live.uplink.kbps == 800 and live.uplink.rate() == 200_000  # the all-day window
    assert live.uplink.schedule == [(parse_hhmm("00:00"), parse_hhmm("00:00"), 1600)]
    assert live.health.period_s == 5
    again = handler.handle(command("config_refresh", "c2"))  # the same file once more
    assert again is not None and again.ok and again.data["applied"] == ""
    assert again.data["restart"] == "mqtt.keepalive,cameras"  # still not running with them


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE + "[uplink]\nkbps = -5\n", "uplink.kbps: Input should be greater than or equal"),
        (BASE + "[uplink]\nkbps = 800\n[health]\npublish_seconds = 0\n", "health.publish_seconds"),
        (BASE + "[uplink\n", "not valid TOML"),
        (BASE + "[uplink]\nspeed = 5\n", "uplink.speed: unknown key"),
    ],
)
def test_a_broken_config_changes_nothing(
    setup: tuple[EdgeConfig, Store], text: str, expected: str
) -> None:
    config, store = setup
    live = targets(config, store)
    live.uplink.set_rate(64)
    handler = CommandHandler(config, store, live=live)
    assert config.source_path is not None
    config.source_path.write_text(text)
    result = handler.handle(command("config_refresh"))
    assert result is not None and not result.ok
    assert result.detail.startswith(str(config.source_path)) and expected in result.detail
    assert live.uplink.kbps == 64 and live.health.period_s == config.health.publish_seconds
    assert handler.live.running == config


def test_config_refresh_without_a_file_or_targets(tmp_path: Path) -> None:
    data = {"site": {"id": "s", "device": "d", "location_code": "X-1"},
            "storage": {"data_dir": str(tmp_path)}, "cameras": [{"id": "c"}]}  # fmt: skip
    config = parse_config(data, "t")
    with Store(config.db_path) as store:
        result = CommandHandler(config, store).handle(command("config_refresh"))
        assert result is not None and not result.ok and "configuration file" in result.detail
    path = tmp_path / "edge.toml"
    path.write_text(BASE)
    config = load_config(path)
    with Store(config.db_path) as store:
        path.write_text(BASE + "[uplink]\nkbps = 800\n")
        result = CommandHandler(config, store).handle(command("config_refresh"))  # no targets
        assert result is not None and result.ok
        assert result.data["applied"] == "" and result.data["restart"] == "uplink.kbps"


def test_changed_keys_are_dotted_within_tables(tmp_path: Path) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(BASE)
    old = load_config(path)
    path.write_text(BASE + "[clips.kinds.mark]\npriority = 3\n[retention]\nmax_percent = 70\n")
    assert changed_keys(old, load_config(path)) == ["clips.kinds", "retention.max_percent"]
    assert changed_keys(old, old) == []
