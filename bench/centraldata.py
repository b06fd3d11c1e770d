"""The synthetic national dataset of ``bench.central``, as rows: the three-level org tree,
sites, cameras, edge devices, and per day the events and the clips (with their
``clip_events`` links) that a national deployment would hold.

Distributions (seeded, so every run and both databases get the same data):

- org tree: 1 national unit, ``provinces`` level-2 units, ``branches`` level-3 units spread
  unevenly over the provinces; sites spread unevenly over the branches (log-normal weights),
  2 or more cameras per site, one edge device per site;
- events over the last ``days`` days: site activity log-normal (σ 1: the busiest sites see
  ~10× the median), weekdays busier than weekends, working hours (local +08:00) busier than
  nights. Kinds: metal-detector passes and door openings common, anomalies
  (``ANOMALY_KINDS``) about 1 %. 6 % of events are loading sessions (a ``loading_start`` and a
  ``loading_end`` 20–120 min later) whose ``data`` carries an ISO 6346 ``container_no`` drawn
  from a pool, so most containers were loaded more than once; their ``events.container_no``
  is filled as ingest fills it (``central.ingest.service.container_no``);
- clips: every anomaly event has one; the rest of ``clips`` are spread over the other events
  that have a camera. A clip covers 10 s before to 20 s after its event.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from central.ingest.service import container_no
from edge.iso6346 import check_digit

ANOMALY_KINDS = ("metal_detector_reject", "seal_broken")
OTHER_KINDS: dict[str, float] = {  # share of the events that are not loading sessions
    "metal_detector_pass": 0.55,
    "door_open": 0.16,
    "seal_applied": 0.09,
    "mark": 0.07,
    "custom": 0.05,
    "fault_cleared": 0.035,
    "camera_fault": 0.02,
    "device_fault": 0.0082,
    "metal_detector_reject": 0.0088,
    "seal_broken": 0.003,
}
NO_CAMERA = frozenset({"device_fault", "fault_cleared", "loading_start", "loading_end"})
SOURCES = {
    "metal_detector_pass": "gpio17",
    "metal_detector_reject": "gpio17",
    "seal_applied": "gpio22",
    "seal_broken": "gpio22",
    "door_open": "gpio27",
    "loading_start": "button",
    "loading_end": "button",
}
LOADING_SHARE = 0.06  # of all events: loading_start + loading_end
OFFSET_MIN = 480  # sites report in +08:00
DAY_MS = 86_400_000
# events per local (+08:00) hour 0..23, relative
HOUR_WEIGHTS = np.array(
    [1, 1, 1, 1, 1, 2, 4, 8, 10, 10, 10, 9, 6, 8, 10, 10, 9, 7, 5, 4, 3, 2, 1, 1], dtype=float
)
ULID_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class Scale:
    provinces: int = 31
    branches: int = 300
    sites: int = 5000
    cameras: int = 20000
    events: int = 10_000_000
    clips: int = 1_000_000
    days: int = 90
    containers: int = 200_000  # pool of container numbers

    def scaled(self, factor: float) -> Scale:
        """Events, clips and the container pool × ``factor``; the tree stays as it is."""
        return Scale(
            self.provinces,
            self.branches,
            self.sites,
            self.cameras,
            round(self.events * factor),
            round(self.clips * factor),
            self.days,
            max(1000, round(self.containers * factor)),
        )


@dataclass
class Tree:
    """Org units (id, parent, level, code, path), sites and cameras per site."""

    units: list[tuple[int, int | None, int, str, str]]
    site_ids: list[str]
    site_unit: np.ndarray  # org unit id of each site
    site_cameras: np.ndarray  # camera count of each site
    site_weight: np.ndarray  # share of all events, sums to 1
    province_of_unit: dict[int, int] = field(default_factory=dict)


def ulids(ms: np.ndarray, rng: np.random.Generator) -> list[str]:
    """ULIDs (``wire.ids`` layout) for millisecond timestamps ``ms``, vectorised."""
    out = np.empty((len(ms), 26), dtype=np.uint8)
    value = ms.astype(np.uint64)
    for i in range(9, -1, -1):
        out[:, i] = ULID_ALPHABET[(value & np.uint64(31)).astype(np.intp)]
        value >>= np.uint64(5)
    out[:, 10:] = ULID_ALPHABET[rng.integers(0, 32, (len(ms), 16))]
    return [b.decode() for b in out.view("S26").ravel().tolist()]


def hex_digests(n: int, rng: np.random.Generator) -> list[str]:
    chars = HEX[rng.integers(0, 16, (n, 64))]
    return [b.decode() for b in chars.view("S64").ravel().tolist()]


def timestamps(ms: np.ndarray, rng: np.random.Generator) -> list[str]:
    """UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (SQLAlchemy's SQLite DateTime storage form;
    PostgreSQL reads it in a session with ``TimeZone=UTC``)."""
    us = ms.astype(np.int64) * 1000 + rng.integers(0, 1000, len(ms))
    text = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    return list(np.strings.replace(text, "T", " ").tolist())


def container_numbers(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` valid ISO 6346 numbers: 40 owner codes, category U, random serials."""
    letters = string.ascii_uppercase
    owners = ["".join(rng.choice(list(letters), 3)) + "U" for _ in range(40)]
    serials = rng.choice(1_000_000, size=n, replace=False)
    out = []
    for k, serial in enumerate(serials.tolist()):
        head = f"{owners[k % len(owners)]}{serial:06d}"
        out.append(f"{head}{check_digit(head)}")
    return out


def build_tree(scale: Scale, rng: np.random.Generator) -> Tree:
    units: list[tuple[int, int | None, int, str, str]] = [(1, None, 1, "national", "/1/")]
    per_province = 3 + rng.multinomial(
        scale.branches - 3 * scale.provinces, rng.dirichlet(np.ones(scale.provinces) * 2)
    )
    branch_ids: list[int] = []
    province_of: dict[int, int] = {}
    next_id = 2 + scale.provinces
    for p in range(scale.provinces):
        pid = 2 + p
        units.append((pid, 1, 2, f"P{p + 1:02d}", f"/1/{pid}/"))
        for b in range(int(per_province[p])):
            units.append((next_id, pid, 3, f"P{p + 1:02d}-B{b + 1:02d}", f"/1/{pid}/{next_id}/"))
            branch_ids.append(next_id)
            province_of[next_id] = pid
            next_id += 1
    branch_weight = rng.lognormal(0, 0.6, len(branch_ids))
    per_branch = 1 + rng.multinomial(
        scale.sites - len(branch_ids), branch_weight / branch_weight.sum()
    )
    site_unit = np.repeat(np.array(branch_ids), per_branch)
    cameras = 2 + rng.multinomial(
        scale.cameras - 2 * scale.sites, np.full(scale.sites, 1 / scale.sites)
    )
    weight = rng.lognormal(0, 1, scale.sites)
    return Tree(
        units=units,
        site_ids=[f"site-{i + 1:05d}" for i in range(scale.sites)],
        site_unit=site_unit,
        site_cameras=cameras,
        site_weight=weight / weight.sum(),
        province_of_unit=province_of,
    )


@dataclass
class DayRows:
    """One day's rows, in the column order of ``EVENT_COLUMNS`` / ``CLIP_COLUMNS``."""

    events: list[tuple[object, ...]]
    clips: list[tuple[object, ...]]
    clip_events: list[tuple[str, str]]


EVENT_COLUMNS = (
    "id",
    "site",
    "device",
    "seq",
    "kind",
    "occurred_at",
    "occurred_offset_min",
    "camera",
    "source",
    "data",
    "clock_synced",
    "container_no",
    "received_at",
)
CLIP_COLUMNS = (
    "id",
    "site",
    "device",
    "camera",
    "kind",
    "name",
    "size",
    "sha256",
    "start",
    "end",
    "event_ids",
    "seq",
    "clock_synced",
    "received_at",
    "verified",
)
DEVICE = "edge-1"


class Generator:
    """Day-by-day rows of ``scale`` ending at ``now``; see the module docstring."""

    def __init__(self, scale: Scale, now: datetime, seed: int = 6) -> None:
        self.scale = scale
        self.rng = np.random.default_rng(seed)
        self.tree = build_tree(scale, self.rng)
        self.now_ms = int(now.astimezone(timezone.utc).timestamp() * 1000)
        self.containers = container_numbers(scale.containers, self.rng)
        self.used_containers: list[str] = []
        self.seq = 0
        kinds = list(OTHER_KINDS)
        self.kinds = np.array(kinds)
        self.kind_p = np.array([OTHER_KINDS[k] for k in kinds])
        self.kind_p /= self.kind_p.sum()
        self.camera_less = np.array([k in NO_CAMERA for k in kinds])
        self.line_data = [json.dumps({"line": n}) for n in range(1, 5)]
        start = self.now_ms - scale.days * DAY_MS
        # weekday factor by the local (+08:00) day of each day's start
        local_days = (np.arange(scale.days) * DAY_MS + start + OFFSET_MIN * 60_000) // DAY_MS
        weekday = (local_days + 3) % 7  # 1970-01-01 was a Thursday (3)
        factor = np.where(weekday == 6, 0.6, np.where(weekday == 5, 0.8, 1.1))
        self.day_events = self.rng.multinomial(scale.events, factor / factor.sum())
        self.day_start = start + np.arange(scale.days) * DAY_MS

    def days(self) -> Iterator[DayRows]:
        for d in range(self.scale.days):
            yield self.day(d)

    def _offsets(self, n: int, day_start: int) -> np.ndarray:
        """Millisecond times in the day from ``day_start``, weighted by local hour."""
        hour0 = ((day_start + OFFSET_MIN * 60_000) // 3_600_000) % 24
        weights = np.roll(HOUR_WEIGHTS, -int(hour0))
        hours = self.rng.choice(24, size=n, p=weights / weights.sum())
        return day_start + hours * 3_600_000 + self.rng.integers(0, 3_600_000, n)

    def day(self, d: int) -> DayRows:
        rng, tree = self.rng, self.tree
        total = int(self.day_events[d])
        n_sess = int(total * LOADING_SHARE / 2)
        n_other = total - 2 * n_sess
        start = int(self.day_start[d])
        n_sites = len(tree.site_ids)
        # other events
        o_site = rng.choice(n_sites, size=n_other, p=tree.site_weight)
        o_kind_i = rng.choice(len(self.kinds), size=n_other, p=self.kind_p)
        o_ms = self._offsets(n_other, start)
        o_cam = (rng.random(n_other) * tree.site_cameras[o_site]).astype(np.int64) + 1
        o_cam[self.camera_less[o_kind_i]] = 0
        # loading sessions: a start and an end event each
        s_site = rng.choice(n_sites, size=n_sess, p=tree.site_weight)
        s_ms = self._offsets(n_sess, start)
        e_ms = np.minimum(s_ms + rng.integers(20 * 60_000, 120 * 60_000, n_sess), self.now_ms - 1)
        s_ms = np.minimum(s_ms, e_ms - 1)
        session_ids = ulids(s_ms, rng)
        boxes = [self.containers[i] for i in rng.integers(0, len(self.containers), n_sess)]
        self.used_containers.extend(boxes[:: max(1, n_sess // 50)])
        plates = rng.integers(10000, 99999, n_sess).tolist()
        started = timestamps(s_ms, rng)
        s_data, e_data = [], []
        for k in range(n_sess):
            base = {
                "session_id": session_ids[k],
                "container_no": boxes[k],
                "vehicle_plate": f"闽D{plates[k]}",
                "seal_numbers": f"S{plates[k]}1",
                "started_at": started[k].replace(" ", "T") + "+00:00",
            }
            s_data.append(json.dumps(base))
            e_data.append(json.dumps({**base, "duration_s": int(e_ms[k] - s_ms[k]) / 1000}))
        # all events of the day, in time order
        site = np.concatenate([o_site, s_site, s_site])
        ms = np.concatenate([o_ms, s_ms, e_ms])
        cam = np.concatenate([o_cam, np.zeros(2 * n_sess, dtype=np.int64)])
        kind = np.concatenate(
            [self.kinds[o_kind_i], np.full(n_sess, "loading_start"), np.full(n_sess, "loading_end")]
        )
        line = rng.integers(0, 4, n_other)
        data: list[str] = [
            self.line_data[line[i]] if k.startswith("metal") else "{}"
            for i, k in enumerate(self.kinds[o_kind_i].tolist())
        ]
        data += s_data + e_data
        numbers: list[str | None] = [None] * n_other
        numbers += 2 * [container_no(box) for box in boxes]
        order = np.argsort(ms, kind="stable")
        site, ms, cam, kind = site[order], ms[order], cam[order], kind[order]
        data = [data[i] for i in order.tolist()]
        numbers = [numbers[i] for i in order.tolist()]
        ids = ulids(ms, rng)
        occurred = timestamps(ms, rng)
        received = timestamps(ms + rng.integers(200, 5000, total), rng)
        seqs = range(self.seq + 1, self.seq + 1 + total)
        self.seq += total
        site_names = [tree.site_ids[s] for s in site.tolist()]
        cam_names: list[str | None] = [f"cam-{c}" if c else None for c in cam.tolist()]
        kinds = kind.tolist()
        events = list(
            zip(
                ids,
                site_names,
                [DEVICE] * total,
                seqs,
                kinds,
                occurred,
                [OFFSET_MIN] * total,
                cam_names,
                [SOURCES.get(k) for k in kinds],
                data,
                [True] * total,
                numbers,
                received,
                strict=True,
            )
        )
        clips, links = self._clips(ids, site_names, cam_names, kinds, ms, total)
        return DayRows(events, clips, links)

    def _clips(
        self,
        ids: list[str],
        sites: list[str],
        cams: list[str | None],
        kinds: list[str],
        ms: np.ndarray,
        total: int,
    ) -> tuple[list[tuple[object, ...]], list[tuple[str, str]]]:
        rng, scale = self.rng, self.scale
        anomaly = np.isin(np.array(kinds), ANOMALY_KINDS)
        has_cam = np.array([c is not None for c in cams])
        want = scale.clips * total / max(1, scale.events)
        others = has_cam & ~anomaly
        p = max(0.0, (want - anomaly.sum()) / max(1, others.sum()))
        chosen = np.flatnonzero(anomaly | (others & (rng.random(total) < p)))
        n = len(chosen)
        c_start = ms[chosen] - 10_000
        c_ids = ulids(c_start, rng)
        starts = timestamps(c_start, rng)
        ends = timestamps(c_start + 30_000, rng)
        received = timestamps(c_start + rng.integers(40_000, 600_000, n), rng)
        sizes = rng.integers(4_000_000, 40_000_000, n).tolist()
        digests = hex_digests(n, rng)
        clips: list[tuple[object, ...]] = []
        links: list[tuple[str, str]] = []
        for j, i in enumerate(chosen.tolist()):
            stamp = starts[j][:19].replace("-", "").replace(":", "").replace(" ", "T")
            name = f"{sites[i]}_{cams[i]}_{stamp}Z.mp4"
            clips.append(
                (
                    c_ids[j],
                    sites[i],
                    DEVICE,
                    cams[i],
                    "clip",
                    name,
                    sizes[j],
                    digests[j],
                    starts[j],
                    ends[j],
                    json.dumps([ids[i]]),
                    self.seq + j,
                    True,
                    received[j],
                    True,
                )
            )
            links.append((c_ids[j], ids[i]))
        self.seq += n
        return clips, links
