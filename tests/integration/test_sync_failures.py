"""Failure injection on the real sync path: edge process → Mosquitto → central ingest process.

Each test breaks one part in the middle of a multi-MB clip transfer (or for a long outage,
or with hostile payloads) and then requires that every event and every clip the edge made
is at central exactly once, byte-identical (SHA-256 of the stored blob = the edge's), that
no transfer was rejected on the way, and that the RSS of the edge and ingest processes
stays under ``RSS_LIMIT_MIB`` and grows by less than ``RSS_GROWTH_MIB`` (``tests.syncrig``).

A device impersonating another one, or reading another device's commands, over the shipped
TLS listener and ACL is covered by ``test_tls_broker.py``
(``test_a_device_cannot_publish_as_another_device``,
``test_a_device_cannot_read_another_devices_commands``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.helpers import Broker, wait_for
from tests.integration.test_end_to_end import Central
from tests.syncrig import (
    CHUNK,
    DEVICE,
    MIB,
    SITE,
    WINDOW,
    ChunkSpy,
    Edge,
    RssSampler,
    central_query,
    held_ranges,
    rejections,
    wait_all_delivered,
    wait_mid_transfer,
    write_edge_config,
)
from wire import ranges, topics
from wire.topics import MAX_CHUNK_BYTES

pytestmark = pytest.mark.slow

# Bytes a resumed transfer may send again of what central already held: the chunks that
# were in flight when the part died (window) plus one whose ack was lost.
RESEND_SLACK = (WINDOW + 1) * CHUNK
# What central must hold when the fault strikes: more than the slack, so a transfer that
# started over could not pass for a resumed one.
HELD_AT_FAULT = RESEND_SLACK + 2 * CHUNK
MIN_CLIP = 2 * MIB


@dataclass
class Rig:
    broker: Broker
    central: Central
    edge: Edge
    spy: ChunkSpy
    rss: RssSampler


@pytest.fixture
def central(tmp_path: Path, broker: Broker) -> Iterator[Central]:
    data_dir = tmp_path / "central"
    data_dir.mkdir()
    running = Central(data_dir, broker)
    running.setup()
    try:
        yield running
    finally:
        running.close()


def make_rig(tmp_path: Path, broker: Broker, central: Central, kbps: float) -> Iterator[Rig]:
    edge = Edge(write_edge_config(tmp_path / "edge", broker, kbps=kbps))
    central.trust_edge(edge.config)  # central refuses clips signed by an unknown key
    central.start("ingest")
    spy = ChunkSpy(broker)
    edge.start()
    rig = Rig(broker, central, edge, spy, RssSampler(edge, central))
    try:
        with rig.rss:
            # pre_seconds of recording before the first event
            wait_for(lambda: edge.segments() >= 3, 60, "three closed segments on the edge")
            yield rig
    finally:
        rig.spy.close()
        edge.stop()


@pytest.fixture
def rig(tmp_path: Path, broker: Broker, central: Central, ffmpeg: str) -> Iterator[Rig]:
    """Edge capped at 2 Mbit/s: a ~3 MB clip takes ~12 s to go up."""
    yield from make_rig(tmp_path, broker, central, kbps=2000)


@pytest.fixture
def fast_rig(tmp_path: Path, broker: Broker, central: Central, ffmpeg: str) -> Iterator[Rig]:
    """Edge without an uplink cap."""
    yield from make_rig(tmp_path, broker, central, kbps=0)


def start_clip(rig: Rig) -> tuple[str, int, str]:
    """Mark an event; once its clip is queued return the clip's file id and size, and the
    event's id."""
    event_id, clips = rig.edge.trigger("mark")
    assert len(clips) == 1, clips
    file_id = clips[0]
    size = rig.edge.clips()[file_id][0]
    assert size >= MIN_CLIP, f"clip of {size} bytes is too small to be killed mid-transfer"
    return file_id, size, event_id


def held_after_fault(rig: Rig, file_id: str, size: int) -> list[tuple[int, int]]:
    """What central holds right after the fault: some of the file, not all, not complete."""
    found = held_ranges(rig.central, file_id)
    assert found is not None and found[0] == "receiving", found
    assert found[1] and not ranges.covered(found[1], size), found
    return found[1]


def finish(rig: Rig, file_id: str, held: list[tuple[int, int]]) -> None:
    """Everything arrives exactly once; the transfer resumed instead of starting over;
    nothing was rejected; memory stayed bounded."""
    wait_all_delivered(rig.central, rig.edge, timeout=180)
    resent = rig.spy.resent(file_id, held)
    held_total = sum(b - a for a, b in held)
    print(f"central held {held_total} bytes at the fault; {resent} of them were sent again")
    assert resent <= RESEND_SLACK, f"{resent} of {held_total} held bytes sent again"
    assert rejections(rig.central) == []
    rig.rss.mark("after")
    print(rig.rss.check())


def test_broker_killed_mid_transfer_and_restarted_on_the_same_port(rig: Rig) -> None:
    file_id, size, _event = start_clip(rig)
    wait_mid_transfer(rig.central, file_id, size, at_least=HELD_AT_FAULT)
    rig.rss.mark("before")
    assert rig.broker.process is not None
    rig.broker.process.kill()  # SIGKILL; persistence is off: every session is gone
    rig.broker.process.wait(10)
    held = held_after_fault(rig, file_id, size)
    # Down for 4 s: the edge's reconnects at 1 s and 3 s fail and its next comes at 7 s; a
    # new spy subscribes long before that, so it sees the edge's whole resumed transfer.
    time.sleep(4)
    rig.broker.start()
    rig.spy.close()
    rig.spy = ChunkSpy(rig.broker)
    wait_all_delivered(rig.central, rig.edge, timeout=180)
    assert rig.spy.inits_of(file_id) >= 1, "the spy missed the re-sent init: resend unknown"
    finish(rig, file_id, held)


def test_edge_killed_mid_transfer_and_restarted_from_its_data_dir(rig: Rig) -> None:
    file_id, size, _event = start_clip(rig)
    wait_mid_transfer(rig.central, file_id, size, at_least=HELD_AT_FAULT)
    rig.rss.mark("before")
    rig.edge.kill()
    held = held_after_fault(rig, file_id, size)
    assert not rig.edge.delivered("file", file_id)
    rig.spy.clear()
    rig.edge.start()
    wait_all_delivered(rig.central, rig.edge, timeout=180)
    assert rig.spy.inits_of(file_id) >= 1
    finish(rig, file_id, held)


def test_ingest_killed_mid_transfer_and_restarted(rig: Rig) -> None:
    file_id, size, _event = start_clip(rig)
    wait_mid_transfer(rig.central, file_id, size, at_least=HELD_AT_FAULT)
    rig.rss.mark("before")
    rig.central.kill("ingest")
    held = held_after_fault(rig, file_id, size)
    rig.spy.clear()
    # the edge notices that nothing is acked and re-announces the file into the void
    wait_for(lambda: rig.spy.inits_of(file_id) >= 1, 60, "the edge to re-send its init")
    assert held_ranges(rig.central, file_id) == ("receiving", held)
    rig.central.start("ingest")
    finish(rig, file_id, held)


OUTAGE_S = 60.0


def test_broker_down_for_a_minute_while_events_keep_coming(fast_rig: Rig) -> None:
    rig = fast_rig
    rig.edge.trigger("mark")
    wait_all_delivered(rig.central, rig.edge)
    rig.rss.mark("before")
    rig.broker.stop()
    down_at = time.monotonic()
    during: list[str] = []
    kinds = ["mark", "seal_applied", "metal_detector_pass", "seal_broken", "door_open"]
    while time.monotonic() - down_at < OUTAGE_S - 10 and kinds:
        event_id, clips = rig.edge.trigger(kinds.pop(0))  # waits until its clip is cut
        assert clips, event_id
        during.append(event_id)
    assert len(during) >= 4, "too few events during the outage"
    # the last one while the broker is still down: its clip is cut during the outage
    during.append(rig.edge.trigger("mark", wait=None)[0])
    pending = {item for _kind, item in rig.edge.pending()}
    assert set(during) <= pending, "events made during the outage were delivered somehow"
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))  # the outage itself
    rig.broker.start()
    wait_all_delivered(rig.central, rig.edge, timeout=180)
    assert rejections(rig.central) == []
    rig.rss.mark("after")
    print(rig.rss.check())


def forge_event(event_id: str, **changes: object) -> bytes:
    body: dict[str, object] = {
        "v": 1,
        "sent_at": datetime.now(timezone.utc).isoformat(),
        "clock_synced": True,
        "seq": 999_999,
        "id": event_id,
        "kind": "seal_broken",
        "occurred_at": datetime.now(timezone.utc).isoformat(),
    }
    body.update(changes)
    return json.dumps(body).encode()


def forge_init(file_id: str, size: int, **changes: object) -> bytes:
    now = datetime.now(timezone.utc).isoformat()
    body: dict[str, object] = {
        "v": 1,
        "sent_at": now,
        "clock_synced": True,
        "seq": 999_998,
        "file_id": file_id,
        "name": "forged.mp4",
        "size": size,
        "sha256": "0" * 64,
        "kind": "clip",
        "camera": "dock1",
        "start": "2026-01-01T00:00:00+00:00",
        "end": "2026-01-01T00:00:10+00:00",
        "chunk_size": CHUNK,
    }
    body.update(changes)
    return json.dumps(body).encode()


def attacker(broker: Broker) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    wait_for(client.is_connected, 15, "the intruder to connect")
    return client


# JSON that json.loads refuses with RecursionError / ValueError rather than JSONDecodeError
DEEP_JSON = b"[" * 5000
HUGE_INT = b'{"v": 1, "seq": ' + b"9" * 5000 + b"}"
# more poison than the broker lets be in flight to ingest (max_inflight_messages 20)
POISON_COPIES = 25


def test_malformed_oversize_and_foreign_payloads_change_nothing(rig: Rig) -> None:
    file_id, size, event_id = start_clip(rig)
    wait_mid_transfer(rig.central, file_id, size, at_least=2 * CHUNK)
    rig.rss.mark("before")
    own = f"{topics.ROOT}/{SITE}/{DEVICE}/up"
    down = f"{topics.ROOT}/{SITE}/{DEVICE}/down"
    other = f"{topics.ROOT}/{SITE}/edge99/up"
    forged_event = "01FORGEDEVENT0000000000000"
    forged_file = "01FORGEDFILE00000000000000"
    garbage = b"\xff\xfe{not json"
    unknown_ack = json.dumps({
        "v": 1, "sent_at": datetime.now(timezone.utc).isoformat(), "events": [forged_event],
        "files": [{"file_id": forged_file, "ranges": [[0, 10]], "complete": True}],
    }).encode()  # fmt: skip
    attacks: list[tuple[str, bytes]] = [
        # payloads the JSON parser chokes on, enough of them to fill ingest's in-flight window
        *[(f"{own}/event", DEEP_JSON)] * POISON_COPIES,
        *[(f"{own}/file/{file_id}/init", HUGE_INT)] * POISON_COPIES,
        # the edge's own down/ topics: what it must shrug off (no ACL on this broker)
        (f"{down}/ack", garbage),
        (f"{down}/ack", DEEP_JSON),
        (f"{down}/ack", HUGE_INT),
        (f"{down}/ack", unknown_ack),
        (f"{down}/cmd", garbage),
        (f"{down}/cmd", DEEP_JSON),
        # up/event: garbage, wrong wire version, unknown field, oversize, wrong types
        (f"{own}/event", garbage),
        (f"{own}/event", b"[]"),
        (f"{own}/event", forge_event(forged_event, v=2)),
        (f"{own}/event", forge_event(forged_event, extra="field")),
        (f"{own}/event", forge_event(forged_event, kind="explosion")),
        (f"{own}/event", forge_event(forged_event, pad="x" * (MAX_CHUNK_BYTES + 1))),
        (f"{own}/event", forge_event(forged_event, occurred_at="2026-01-01T00:00:00")),
        # up/file/.../init: garbage, wrong version, id differing from the topic
        (f"{own}/file/{forged_file}/init", garbage),
        (f"{own}/file/{forged_file}/init", forge_init(forged_file, MIB, v=2)),
        (f"{own}/file/{forged_file}/init", forge_init(file_id, MIB)),
        (f"{own}/file/{file_id}/init", garbage),
        (f"{own}/file/{file_id}/init", forge_init(file_id, size, v=2)),
        # chunks of the transfer in progress: over the 1 MiB cap, past its end, empty
        (f"{own}/file/{file_id}/0", b"\xee" * (MAX_CHUNK_BYTES + 1)),
        (f"{own}/file/{file_id}/{size - 10}", b"\xee" * 100),
        (f"{own}/file/{file_id}/{size + CHUNK}", b"\xee" * 100),
        (f"{own}/file/{file_id}/0", b""),
        # chunks and fins of files nobody announced; fin garbage
        (f"{own}/file/{forged_file}/0", b"\xee" * 1000),
        (f"{own}/file/{forged_file}/fin", garbage),
        (f"{own}/file/{file_id}/fin", garbage),
        # topics outside the contract
        (f"{own}/file/{file_id}/-5", b"\xee" * 100),
        (f"{own}/file/{file_id}/12x", b"\xee" * 100),
        (f"{own}/file/{file_id}", b"\xee" * 100),
        (f"{own}/file/../init", garbage),
        (f"{own}/nonsense", garbage),
        (f"{topics.ROOT}/{SITE}/{'d' * 65}/up/event", forge_event(forged_event)),
        (f"{topics.ROOT}/si.te/{DEVICE}/up/event", forge_event(forged_event)),
        # another device writing into this device's transfer, and replaying its event
        (f"{other}/event", forge_event(event_id, kind="mark")),
        (f"{other}/file/{file_id}/0", b"\xee" * CHUNK),
        (f"{other}/file/{file_id}/init", forge_init(file_id, size + 1)),
        (f"{other}/file/{file_id}/fin", json.dumps(
            {"v": 1, "file_id": file_id, "size": size + 1, "sha256": "0" * 64}).encode()),
    ]  # fmt: skip
    client = attacker(rig.broker)
    try:
        for topic, payload in attacks:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    assert not rig.edge.delivered("file", file_id), "the attack came after the transfer"

    wait_all_delivered(rig.central, rig.edge, timeout=180)
    # and the edge's traffic after the attack still gets through
    start_clip(rig)
    wait_all_delivered(rig.central, rig.edge, timeout=180)

    ingest = rig.central.procs["ingest"]
    assert ingest.poll() is None, "ingest died"
    assert rig.edge.pid is not None, "the edge died"
    log = (rig.central.data_dir / "ingest.log").read_text(errors="replace")
    assert "handler failed" not in log and "Traceback" not in log, log[-3000:]
    assert central_query(rig.central, "SELECT id FROM events WHERE id = ?", (forged_event,)) == []
    assert central_query(rig.central, "SELECT file_id FROM transfers WHERE file_id = ?",
                         (forged_file,)) == []  # fmt: skip
    made = set(rig.edge.clips())
    assert {row[0] for row in central_query(rig.central, "SELECT id FROM clips")} == made
    assert rejections(rig.central) == []
    rig.rss.mark("after")
    print(rig.rss.check())
