"""The retention sweep (``reeferwatch-central retention sweep``): delete the clips whose
``retain_until`` has passed and that are not on hold, and their blobs once no clip names them.

One run, in order:

1. **settle**: a clip of a class that expires but without ``retain_until`` (stored before
   retention existed, or while its class was kept for good) gets arrival + period;
2. **promote**: a ``standard`` clip that backs an anomaly or fault event (the event arrived
   after the clip) becomes ``anomaly`` (audited ``clip.retention``);
3. **delete**, in batches: each due clip is locked and checked again — promoted if an anomaly
   event has arrived since step 2, kept (``retain_until`` moved on, audited) if its class's
   configured period has grown since it was set — else its ``clip_events`` and row are
   deleted with one ``clip.delete`` audit line, and the batch is committed. Only then are the
   batch's blobs removed, each only if no clip row names its SHA-256 any more and ingest
   has not used it within the last hour (``FileBlobStore.retire``: a clip with the same
   content arriving during the sweep keeps its file; such blobs are looked at again by the
   next run);
4. one ``retention.sweep`` audit line with the counts.

Crash safety: rows go first, blobs after the commit. A crash between the two leaves blobs no
row names (nothing that should be kept is lost); the next run finds them through the
``clip.delete`` lines written after the last ``retention.sweep`` line and unlinks them; a
blob moved aside by a crashed ``retire`` is put back first. A
legal hold placed while a batch runs waits for the batch's lock; the batch deletes only clips
that are unheld under that lock. Running the sweep again changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, false, func, or_, select, text, true, update
from sqlalchemy.orm import Session

from central import audit
from central.blobs import FileBlobStore
from central.db.engine import Database
from central.db.models import KEEP_KINDS_SQL, Audit, Clip, ClipEvent, Event
from central.db.types import UTCDateTime, utcnow
from central.retention import Periods, change_class, classify, retain_until

log = logging.getLogger(__name__)

ACTOR = "retention"
BATCH = 200
LATE_EVENT = "backs an anomaly or fault event that arrived after the clip"


@dataclass
class SweepReport:
    """What a run did (or, with ``dry_run``, would do)."""

    dry_run: bool = False
    settled: int = 0  # clips given a retain_until
    promoted: int = 0  # standard -> anomaly
    extended: int = 0  # kept: their class's period has grown
    deleted: int = 0
    deleted_bytes: int = 0
    blobs_removed: int = 0
    blobs_shared: int = 0  # still named by a kept clip
    orphans_removed: int = 0  # left by an interrupted run, or in use during the last one
    blobs_in_use: list[str] = field(default_factory=list)  # unnamed but just used: next run
    held_due: int = 0  # due but on hold: kept

    def summary(self) -> str:
        verb = "would delete" if self.dry_run else "deleted"
        return (
            f"{verb} {self.deleted} clips ({self.deleted_bytes} bytes), "
            f"{self.blobs_removed} blobs ({self.blobs_shared} kept: still used); "
            f"{self.held_due} due clips kept on hold; {self.promoted} promoted to anomaly; "
            f"{self.extended} kept by a longer period; {self.settled} given a retain_until; "
            f"{self.orphans_removed} blobs left by an earlier run removed; "
            f"{len(self.blobs_in_use)} unnamed blobs in use by ingest kept for the next run"
        )


def _take_write_lock(session: Session) -> None:
    """SQLite: take the database write lock now, so what we read next stays true until the
    commit (PostgreSQL locks the rows with FOR UPDATE instead)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE clips SET hold = hold WHERE 0 = 1"))


def _due(now: datetime) -> Any:
    return select(Clip).where(
        Clip.hold == false(), Clip.retain_until.is_not(None), Clip.retain_until <= now
    )


def _unset(periods: Periods) -> tuple[Any, Any]:
    """Clips of a class that expires, without a retain_until yet."""
    return Clip.retain_until.is_(None), Clip.retention_class.in_(periods.finite())


def _after(query: Any, last: tuple[datetime, str] | None) -> Any:
    if last is None:
        return query
    until, clip_id = last
    return query.where(
        or_(Clip.retain_until > until, and_(Clip.retain_until == until, Clip.id > clip_id))
    )


def _set_until() -> Any:
    """UPDATE of one clip's retain_until, for executemany with ``cid`` and ``u``."""
    until = bindparam("u", type_=UTCDateTime())
    return update(Clip).where(Clip.id == bindparam("cid")).values(retain_until=until)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class Sweeper:
    """One sweep over ``db`` and ``blobs`` with the configured ``periods`` at ``now``."""

    def __init__(
        self,
        db: Database,
        blobs: FileBlobStore,
        periods: Periods,
        *,
        now: datetime | None = None,
        batch: int = BATCH,
    ) -> None:
        self.db, self.blobs, self.periods = db, blobs, periods
        self.now = now or utcnow()
        self.batch = batch

    def run(self, dry_run: bool = False) -> SweepReport:
        report = SweepReport(dry_run=dry_run)
        if not dry_run:
            self.blobs.recover_retiring()
            report.orphans_removed = self._remove_orphans(report)
        report.settled = self._settle(dry_run)
        report.promoted = self._promote(dry_run)
        if dry_run:
            self._preview(report)
        else:
            self._delete(report)
        with self.db.session() as session:
            report.held_due = session.execute(
                select(func.count())
                .select_from(Clip)
                .where(Clip.hold == true(), Clip.retain_until <= self.now)
            ).scalar_one()
            if not dry_run:
                audit.append(session, ACTOR, "retention.sweep", None, asdict(report))
                session.commit()
        log.info("retention sweep: %s", report.summary())
        return report

    # -- 1. settle ----------------------------------------------------------------------

    def _settle(self, dry_run: bool) -> int:
        unset = _unset(self.periods)
        if dry_run:
            with self.db.session() as session:
                count = select(func.count()).select_from(Clip).where(*unset)
                return int(session.execute(count).scalar_one())
        settled = 0
        stmt = _set_until()
        while True:
            with self.db.session() as session:
                rows = session.execute(
                    select(Clip.id, Clip.retention_class, Clip.received_at)
                    .where(*unset)
                    .limit(self.batch)
                ).all()
                if not rows:
                    return settled
                values = [{"cid": i, "u": retain_until(c, r, self.periods)} for i, c, r in rows]
                session.connection().execute(stmt, values)
                session.commit()
                settled += len(rows)

    # -- 2. promote ---------------------------------------------------------------------

    def _late_anomalies(self) -> Any:
        # the events of a kind kept as anomaly, through their partial index (models.py)
        kept = select(Event.id).where(text(KEEP_KINDS_SQL))
        backed = select(ClipEvent.clip_id).where(ClipEvent.event_id.in_(kept))
        return select(Clip.id).where(Clip.retention_class == "standard", Clip.id.in_(backed))

    def _promote(self, dry_run: bool) -> int:
        with self.db.session() as session:
            ids = list(session.scalars(self._late_anomalies()))
            if dry_run:
                return len(ids)
        promoted = 0
        for start in range(0, len(ids), self.batch):
            with self.db.session() as session:
                _take_write_lock(session)
                rows = session.scalars(
                    select(Clip)
                    .where(Clip.id.in_(ids[start : start + self.batch]))
                    .where(Clip.retention_class == "standard")
                    .with_for_update()
                ).all()
                for row in rows:
                    change_class(session, row, "anomaly", ACTOR, LATE_EVENT, self.periods)
                session.commit()
                promoted += len(rows)
        return promoted

    # -- 3. delete ----------------------------------------------------------------------

    def _delete(self, report: SweepReport) -> None:
        last: tuple[datetime, str] | None = None
        while True:
            gone: list[str] = []
            with self.db.session() as session:
                _take_write_lock(session)
                query = _after(_due(self.now), last).order_by(Clip.retain_until, Clip.id)
                rows = session.scalars(query.limit(self.batch).with_for_update()).all()
                if not rows:
                    return
                for row in rows:
                    assert row.retain_until is not None
                    last = (row.retain_until, row.id)
                    if self._keep(session, row, report):
                        continue
                    session.execute(delete(ClipEvent).where(ClipEvent.clip_id == row.id))
                    session.execute(delete(Clip).where(Clip.id == row.id))
                    audit.append(session, ACTOR, "clip.delete", row.id, _gone(row))
                    report.deleted += 1
                    report.deleted_bytes += row.size
                    gone.append(row.sha256)
                session.commit()
            self._unlink_unused(gone, report)

    def _keep(self, session: Session, row: Clip, report: SweepReport) -> bool:
        """Keep a due clip after all? Promote it, or move its retain_until on (audited)."""
        late = row.retention_class == "standard"
        if late and classify(session, row.kind, row.event_ids or []) == "anomaly":
            change_class(session, row, "anomaly", ACTOR, LATE_EVENT, self.periods)
            report.promoted += 1
            return row.retain_until is None or row.retain_until > self.now
        until = retain_until(row.retention_class, row.received_at, self.periods)
        if until is not None and until <= self.now:
            return False
        detail = {
            "retain_until": _iso(until),
            "was": _iso(row.retain_until),
            "reason": "the retention period of its class is longer now",
        }
        audit.append(session, ACTOR, "clip.retention", row.id, detail)
        row.retain_until = until
        report.extended += 1
        return True

    def _unlink_unused(self, shas: list[str], report: SweepReport) -> None:
        """Unlink the blobs of ``shas`` that no clip row names any more."""
        for sha in dict.fromkeys(shas):
            with self.db.session() as session:
                used = session.execute(select(Clip.id).where(Clip.sha256 == sha).limit(1)).first()
            if used is not None:
                report.blobs_shared += 1
                continue
            outcome = self.blobs.retire(sha)
            if outcome == "removed":
                report.blobs_removed += 1
            elif outcome == "in use":
                report.blobs_in_use.append(sha)

    def _remove_orphans(self, report: SweepReport) -> int:
        """Blobs of clips deleted by a run that stopped before it unlinked them (the
        ``clip.delete`` lines after the last finished run's ``retention.sweep`` line) and
        those that run kept because ingest was using them; still in use: kept again."""
        with self.db.session() as session:
            last = session.execute(
                select(Audit.at, Audit.detail)
                .where(Audit.actor == ACTOR, Audit.action == "retention.sweep")
                .order_by(Audit.at.desc())
                .limit(1)
            ).first()
            query = select(Audit.detail).where(Audit.actor == ACTOR, Audit.action == "clip.delete")
            if last is not None:
                query = query.where(Audit.at > last.at)
            shas = [d.get("sha256") for d in session.scalars(query) if isinstance(d, dict)]
        if last is not None and isinstance(last.detail, dict):
            shas += list(last.detail.get("blobs_in_use") or [])
        present = [s for s in shas if isinstance(s, str) and self.blobs.exists(s)]
        if not present:
            return 0
        leftover = SweepReport()
        self._unlink_unused(present, leftover)
        report.blobs_in_use += leftover.blobs_in_use
        return leftover.blobs_removed

    # -- dry run ------------------------------------------------------------------------

    def _preview(self, report: SweepReport) -> None:
        """Count what ``_delete`` would do (after settling), changing nothing."""
        shas: dict[str, int] = {}
        unset = _unset(self.periods)
        with self.db.session() as session:
            for query in (
                _due(self.now).order_by(Clip.retain_until, Clip.id),
                select(Clip).where(*unset, Clip.hold == false()).order_by(Clip.id),
            ):
                for row in session.scalars(query.execution_options(yield_per=self.batch)):
                    klass = row.retention_class
                    if klass == "standard":  # an anomaly event may have arrived: promoted
                        klass = classify(session, row.kind, row.event_ids or [])
                    until = retain_until(klass, row.received_at, self.periods)
                    if until is None or until > self.now:
                        if klass == row.retention_class and row.retain_until is not None:
                            report.extended += 1
                        continue
                    report.deleted += 1
                    report.deleted_bytes += row.size
                    shas[row.sha256] = shas.get(row.sha256, 0) + 1
            for sha, leaving in shas.items():
                named = select(func.count()).select_from(Clip).where(Clip.sha256 == sha)
                if session.execute(named).scalar_one() > leaving:
                    report.blobs_shared += 1
                elif self.blobs.exists(sha):
                    report.blobs_removed += 1


def _gone(row: Clip) -> dict[str, Any]:
    """The ``clip.delete`` audit detail: enough to say what was deleted and why."""
    return {
        "site": row.site,
        "camera": row.camera,
        "name": row.name,
        "sha256": row.sha256,
        "size": row.size,
        "start": _iso(row.start),
        "retention_class": row.retention_class,
        "received_at": _iso(row.received_at),
        "retain_until": _iso(row.retain_until),
    }


def recompute(db: Database, periods: Periods, *, dry_run: bool = False, batch: int = 1000) -> int:
    """Give every clip the ``retain_until`` its class and the configured periods give it
    (after a period changed); one ``retention.recompute`` audit line. Returns how many change."""
    changed, last = 0, ""
    stmt = _set_until()
    while True:
        with db.session() as session:
            rows = session.execute(
                select(Clip.id, Clip.retention_class, Clip.received_at, Clip.retain_until)
                .where(Clip.id > last)
                .order_by(Clip.id)
                .limit(batch)
            ).all()
            if not rows:
                break
            last = rows[-1][0]
            values = []
            for clip_id, klass, received, until in rows:
                wanted = retain_until(klass, received, periods)
                if wanted != until:
                    values.append({"cid": clip_id, "u": wanted})
            changed += len(values)
            if values and not dry_run:
                session.connection().execute(stmt, values)
                session.commit()
    if not dry_run:
        with db.session() as session:
            detail = {"changed": changed, "periods": asdict(periods)}
            audit.append(session, ACTOR, "retention.recompute", None, detail)
            session.commit()
    return changed
