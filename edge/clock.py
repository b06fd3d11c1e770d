"""Is the kernel clock synchronised? Read with ``adjtimex`` (via ctypes) on Linux.

Timestamps are evidence: every ``up`` message says whether the clock was synchronised.
``STA_UNSYNC`` in the status or a ``TIME_ERROR`` return mean not synchronised.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys

log = logging.getLogger(__name__)

STA_UNSYNC = 0x0040
TIME_ERROR = 5


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """libc, looked up once (``find_library`` runs ldconfig: ~2 ms per call)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError as exc:
        log.debug("libc not loadable: %s", exc)
        return None


def adjtimex_state() -> tuple[int, int] | None:
    """(return value, status bits) of a read-only ``adjtimex``, or None off Linux/on error."""
    if not sys.platform.startswith("linux"):
        return None
    libc = _libc()
    if libc is None:
        return None
    buf = _Timex()
    buf.modes = 0  # read only
    state = int(libc.adjtimex(ctypes.byref(buf)))
    if state < 0:
        return None
    return state, int(buf.status)


def clock_synced() -> bool:
    """True when the kernel says the clock is synchronised (NTP/PTP disciplined)."""
    state = adjtimex_state()
    if state is None:
        return False
    result, status = state
    return result != TIME_ERROR and not status & STA_UNSYNC
