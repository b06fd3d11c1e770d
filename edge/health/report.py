"""The ``up/health`` message: cameras, disk use against the quota, backlog, temperature.

Built on demand by the sync client every ``[health] publish_seconds``; it is not an outbox
item (QoS 1, not retained). A camera counts as recording when the recorder says its ffmpeg
is running, or — without a recorder at hand — when its last segment is recent.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.clock import clock_synced
from edge.config import EdgeConfig
from edge.faults import Faults
from edge.health.disk import quota_bytes, used_bytes
from edge.store import Store
from edge.timeutil import now
from wire.models import CameraHealth, HealthMessage


def build_health_message(
    config: EdgeConfig,
    store: Store,
    recording: Callable[[], dict[str, bool]] | None = None,
    temperature: Callable[[], float | None] | None = None,
) -> HealthMessage:
    moment = now()
    faults = Faults(store)
    running = recording() if recording is not None else {}
    cameras = []
    for cam in config.cameras:
        last = store.last_segment(cam.id)
        age = (moment - last.end).total_seconds() if last else None
        fresh = age is not None and age < 3 * config.recording.segment_seconds
        cameras.append(
            CameraHealth(
                camera=cam.id,
                recording=running.get(cam.id, fresh),
                last_segment_age_s=round(age, 3) if age is not None else None,
                faults=[f.name for f in faults.active(cam.id)][:32],
            )
        )
    items, size = store.backlog()
    return HealthMessage(
        sent_at=moment,
        clock_synced=clock_synced(),
        cameras=cameras,
        disk_used_bytes=used_bytes(store),
        disk_quota_bytes=quota_bytes(config),
        backlog_items=items,
        backlog_bytes=size,
        temperature_c=temperature() if temperature is not None else None,
    )
