"""Wall-clock helpers: local time with its UTC offset, file-name stamps, ISO parsing."""

from __future__ import annotations

from datetime import datetime, timezone

FILE_STAMP = "%Y%m%dT%H%M%S%z"


def now() -> datetime:
    """The current wall-clock time in the local zone, with its UTC offset."""
    return datetime.now(timezone.utc).astimezone()


def local(moment: datetime) -> datetime:
    """``moment`` expressed in the local zone (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone()


def iso(moment: datetime) -> str:
    """ISO 8601 with microseconds and offset, e.g. ``2026-11-27T08:00:00.000000+08:00``."""
    return local(moment).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def file_stamp(moment: datetime) -> str:
    """``YYYYmmddTHHMMSS±hhmm`` in the local zone, as used in file names."""
    return local(moment).strftime(FILE_STAMP)


def parse_file_stamp(text: str) -> datetime:
    return datetime.strptime(text, FILE_STAMP)
