"""CPU time and memory of processes, read from /proc (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU of the process itself (all its threads; children excluded)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


class CpuMeter:
    """Tracks the CPU of a process tree, keeping each pid's last reading so children that
    exit or restart during the run are still counted."""

    def __init__(self, root: int, include_root: bool = True) -> None:
        self.root = root
        self.include_root = include_root
        self.readings: dict[int, float] = {}

    def sample(self) -> None:
        pids = descendants(self.root) | ({self.root} if self.include_root else set())
        for pid in pids:
            try:
                self.readings[pid] = own_cpu_seconds(pid)
            except (OSError, IndexError):
                continue

    def total(self, exclude_root: bool = False) -> float:
        return sum(v for pid, v in self.readings.items() if not (exclude_root and pid == self.root))
