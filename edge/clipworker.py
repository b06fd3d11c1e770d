"""The clip worker: turns events whose clip is pending into clip files in the outbox.

An event at ``t`` waits until closed segments reach ``t + post`` for every camera it
concerns (cameras, pre/post and priority per kind from ``[clips.kinds.KIND]``), then one
clip per camera is cut, fsynced, hashed, recorded and queued (file
item). If recording stays down past ``t + post + 2 segments`` (plus a grace), what exists is
cut and the gaps are noted; with nothing at all the clip is marked ``failed``. The event
itself is already in the outbox, so it is never lost. Ended loading sessions are cut by
``edge.sessionclips`` and on-demand upload windows by ``edge.windowclips``, in the same thread.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from edge.clips import clip_name, cut_window
from edge.config import EdgeConfig
from edge.events import PRIORITY_FILE_OFFSET, file_priority
from edge.recorder import file_metadata, fsync_dir
from edge.sessionclips import SessionClipper
from edge.store import Event, Store
from edge.timeutil import iso, now
from edge.windowclips import WindowClipper
from edge.worker import PeriodicWorker
from wire.errors import MediaError, NotCoveredError, StoreError
from wire.hashing import sha256_file
from wire.ids import new_ulid

log = logging.getLogger(__name__)

GRACE_S = 5.0


class ClipWorker(PeriodicWorker):
    """Background thread of the ``run`` process; ``close()`` is idempotent; a context manager."""

    def __init__(self, config: EdgeConfig, store: Store, poll_s: float = 0.5) -> None:
        self.config = config
        self.store = store
        self.poll_s = poll_s
        self.clips_dir = config.data_dir / "clips"
        self.sessions = SessionClipper(config, store, self.cut)
        self.windows = WindowClipper(config, store, self.cut)
        super().__init__()

    thread_name = "clip-worker"
    join_seconds = 60.0
    stall_seconds = 300.0  # one cut may take up to clips.cut_window's 120 s ffmpeg timeout
    errors = (StoreError, OSError)

    def interval(self) -> float:
        return self.poll_s

    def run_pass(self) -> object:
        return self.process_pending()

    def start(self) -> None:
        self.clips_dir.mkdir(parents=True, exist_ok=True)
        super().start()

    def process_pending(self) -> int:
        """Cut every pending clip whose window is ready (or overdue); return how many
        events, ended loading sessions and upload windows were decided."""
        done = 0
        for event in self.store.events_with_clip_state("pending"):
            if self._stop.is_set():
                break
            self.heartbeat.beat()
            if self._process(event):
                done += 1
        done += self.sessions.process_pending(self._stop)
        return done + self.windows.process_pending(self._stop)

    def _cameras(self, event: Event) -> list[str]:
        known = [c.id for c in self.config.cameras]
        if event.camera is not None:
            return [event.camera] if event.camera in known else []
        spec = self.config.clips.kinds.get(event.kind)  # type: ignore[call-overload]
        return list(spec.cameras) if spec is not None and spec.cameras else known

    def _window(self, event: Event) -> tuple[datetime, datetime, int]:
        """``[t - pre, t + post]`` and the file priority, from ``[clips.kinds.KIND]``."""
        clips = self.config.clips
        spec = clips.kinds.get(event.kind)  # type: ignore[call-overload]
        pre = spec.pre_seconds if spec and spec.pre_seconds is not None else clips.pre_seconds
        post = spec.post_seconds if spec and spec.post_seconds is not None else clips.post_seconds
        if spec is not None and spec.priority is not None:
            priority = PRIORITY_FILE_OFFSET + spec.priority
        else:
            priority = file_priority(event.kind)
        start = event.occurred_at - timedelta(seconds=pre)
        end = event.occurred_at + timedelta(seconds=post)
        return start, max(end, start + timedelta(seconds=1)), priority

    def _process(self, event: Event) -> bool:
        cameras = self._cameras(event)
        if not cameras:
            self.store.set_clip_state(event.id, "failed", f"unknown camera {event.camera!r}")
            return True
        start, end, priority = self._window(event)
        ready = all(self._covered_until(cam, end) for cam in cameras)
        deadline = end + timedelta(seconds=2 * self.config.recording.segment_seconds + GRACE_S)
        if not ready and now() < deadline:
            return False
        notes: list[str] = []
        made = 0
        have = {c.camera for c in self.store.clips_for_event(event.id)}
        meta = {"event_id": event.id, "event_kind": event.kind}
        for cam in cameras:
            if cam in have:
                made += 1
                continue
            note = self.cut(cam, start, end, event.id, meta, priority, event_id=event.id)
            if note is None:
                made += 1
            else:
                notes.append(f"{cam}: {note}")
        state = "cut" if made else "failed"
        self.store.set_clip_state(event.id, state, "; ".join(notes) or None)
        return True

    def _covered_until(self, camera: str, end: datetime) -> bool:
        last = self.store.last_segment(camera)
        return last is not None and last.end >= end

    def cut(
        self,
        camera: str,
        start: datetime,
        end: datetime,
        tag: str,
        extra_meta: dict[str, str],
        priority: int,
        *,
        event_id: str | None = None,
        session_id: str | None = None,
        piece: int | None = None,
        kind: str = "clip",
        file_id: str | None = None,
    ) -> str | None:
        """Cut, hash and queue one clip (a new file id unless given); return None on success
        or a note on failure."""
        self.heartbeat.beat()
        file_id = file_id or new_ulid()
        out = self.clips_dir / clip_name(self.config.site.id, camera, start, tag)
        meta = file_metadata(self.config, camera)
        meta.update(extra_meta)
        try:
            result = cut_window(self.store, camera, start, end, out, meta)
        except NotCoveredError as exc:
            log.warning("clip %s: %s", tag, exc)
            return "not recorded"
        except MediaError as exc:
            log.error("clip %s for %s failed: %s", tag, camera, exc)
            return f"cut failed: {exc}"
        fsync_dir(out.parent)
        digest = sha256_file(out)
        size = Path(out).stat().st_size
        self.store.add_clip(file_id, event_id, camera, out, result.start, result.end, size,
                            digest, result.gaps, priority, session_id=session_id,
                            piece=piece, kind=kind)  # fmt: skip
        if result.gaps:
            gaps = ", ".join(f"{iso(a)}–{iso(b)}" for a, b in result.gaps)
            log.warning("clip %s for %s has gaps: %s", tag, camera, gaps)
        log.info("clip %s queued (%s, %s, %d bytes)", file_id, tag, camera, size)
        return None
