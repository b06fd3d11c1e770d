"""Read an import CSV: UTF-8 (with or without the BOM spreadsheets write), a header row, and
every data row with the line number it starts on. Problems are collected, not raised one by
one, so an operator sees every bad row of a file at once."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wire.errors import WireError

MAX_FILE_BYTES = 64 * 1024 * 1024


class ImportRejected(WireError):
    """A CSV file has bad rows; ``problems`` lists each as ``line N: reason``."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{path}: {count} problem{'s' * (count != 1)}, nothing written:\n{lines}")


@dataclass(frozen=True)
class CsvRow:
    line: int  # 1-based line the record starts on; the header is line 1
    cells: dict[str, str]  # column -> stripped value ("" when empty)


@dataclass(frozen=True)
class CsvTable:
    columns: tuple[str, ...]  # as in the header, lower-cased
    rows: list[CsvRow]
    sha256: str  # of the file's bytes
    problems: list[tuple[int, str]]  # (line, reason) of records that are not rows


def _text(path: Path) -> tuple[str, str]:
    """The decoded text and the SHA-256 of the bytes."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImportRejected(path, [f"larger than {MAX_FILE_BYTES // 2**20} MiB"])
        raw = path.read_bytes()
    except OSError as exc:
        raise ImportRejected(path, [f"cannot read it: {exc.strerror or exc}"]) from exc
    try:
        return raw.decode("utf-8-sig"), hashlib.sha256(raw).hexdigest()
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            path,
            [
                f"line {line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); save the sheet as "
                "'CSV UTF-8' (GBK/GB18030 files are not read)"
            ],
        ) from exc


def read_table(path: Path, required: Sequence[str], optional: Sequence[str]) -> CsvTable:
    """The header and rows of ``path``. A bad header raises ``ImportRejected``; a record
    that cannot be a row (too many cells, a broken quote) is listed in ``problems``."""
    text, digest = _text(path)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as exc:
        raise ImportRejected(path, [f"line 1: {exc}"]) from exc
    known = set(required) | set(optional)
    problems = [f"line 1: the header lacks column {n!r}" for n in required if n not in header]
    problems += [
        f"line 1: unknown column {name!r} (columns: {', '.join([*required, *optional])})"
        for name in header
        if name not in known
    ]
    problems += [
        f"line 1: column {n!r} appears twice" for n in sorted(known) if header.count(n) > 1
    ]
    if not header:
        problems = ["line 1: the file is empty; it needs a header row"]
    if problems:
        raise ImportRejected(path, problems)
    rows: list[CsvRow] = []
    bad: list[tuple[int, str]] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append((start, f"{exc} (nothing after it was read)"))
            break  # the reader cannot resynchronise after a broken quote
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            bad.append((start, f"{len(cells)} cells, the header has {len(header)}"))
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=False)}
        rows.append(CsvRow(start, {name: values.get(name, "") for name in header}))
    return CsvTable(tuple(header), rows, digest, bad)
