"""``reeferwatch-central retention sweep | recompute``: delete expired clips
(``central.retention_sweep``; run daily by ``reeferwatch-retention.timer``) and re-derive
every clip's ``retain_until`` after a retention period changed."""

from __future__ import annotations

import argparse

from central.blobs import FileBlobStore
from central.db.engine import Database
from central.retention import Periods
from central.retention_sweep import BATCH, Sweeper, recompute
from central.settings import Settings


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retention = sub.add_parser("retention", help="clip retention: the sweep")
    commands = retention.add_subparsers(dest="retention_command", required=True)
    sweep = commands.add_parser(
        "sweep", help="delete clips past their retain_until that are not on hold"
    )
    sweep.add_argument("--dry-run", action="store_true", help="report only; change nothing")
    sweep.add_argument("--batch", type=int, default=BATCH, help="clips per transaction")
    again = commands.add_parser(
        "recompute", help="re-derive every clip's retain_until from the configured periods"
    )
    again.add_argument("--dry-run", action="store_true", help="count only; change nothing")


def handles(args: argparse.Namespace) -> bool:
    return bool(args.command == "retention")


def run(settings: Settings, args: argparse.Namespace) -> int:
    periods = Periods.of(settings)
    with Database(settings.database_url) as db:
        db.migrate()
        if args.retention_command == "sweep":
            sweeper = Sweeper(db, FileBlobStore(settings.data_dir), periods, batch=args.batch)
            report = sweeper.run(dry_run=args.dry_run)
            label = "retention sweep (dry run)" if args.dry_run else "retention sweep"
            print(f"{label}: {report.summary()}")
            return 0
        changed = recompute(db, periods, dry_run=args.dry_run)
        verb = "would change" if args.dry_run else "changed"
        print(f"retention recompute: {verb} the retain_until of {changed} clips ({periods})")
        return 0
