"""LED patterns: a display state and the set of wired colours → what each LED does.

A ``Pattern`` is a list of steps ``(seconds, colours lit)`` played in a loop (or once, then
held). ``render(state, wired)`` is table-driven: each state has a preferred colour list and
a shape; when the preferred colour is not wired the next wired colour in the list takes the
same shape. Two fallbacks change the shape so that states stay distinguishable:

- ``degraded`` is amber solid; without amber it is red + green solid together (a red/green
  pair reads as yellow); with neither it is a "wink" (long on, short off) on one LED;
- ``uploading`` is blue fast blinking; without blue the same fast blink on green.

With only one LED every state keeps its own rhythm (solid, slow blink, fast blink,
heartbeat, wink, N blinks). ``docs/panel.md`` documents the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.panel.state import BLINK_CODES, State

COLOURS: tuple[str, ...] = ("green", "amber", "blue", "red")  # also the self-test walk order

Step = tuple[float, frozenset[str]]
OFF: frozenset[str] = frozenset()

SLOW_S = 0.5  # starting: 1 Hz blink
FAST_S = 0.15  # uploading: ~3 Hz blink
CODE_ON_S, CODE_OFF_S, CODE_PAUSE_S = 0.4, 0.4, 2.0  # red codes: N × (on, off), then pause
WINK_S = (1.7, 0.3)
HEARTBEAT_S = (0.12, 0.12, 0.12, 1.14)
WALK_S = 0.3
ACK_S = (0.3, 0.7)

NORMAL_PREF = ("green", "blue", "red", "amber")
FAULT_PREF = ("red", "amber", "green", "blue")
UPLOAD_PREF = ("blue", "green", "red", "amber")
DEGRADED_PREF = ("amber", "red", "green", "blue")


@dataclass(frozen=True)
class Pattern:
    """Steps of ``(seconds, colours lit)``; ``repeat`` loops them, otherwise the last holds."""

    steps: tuple[Step, ...]
    repeat: bool = True

    @property
    def colours(self) -> frozenset[str]:
        return frozenset().union(*(lit for _, lit in self.steps))

    @property
    def period(self) -> float:
        return sum(seconds for seconds, _ in self.steps)


def solid(lit: frozenset[str]) -> Pattern:
    return Pattern(((math.inf, lit),))


def blink(lit: frozenset[str], on: float, off: float) -> Pattern:
    return Pattern(((on, lit), (off, OFF)))


def code(lit: frozenset[str], n: int) -> Pattern:
    """``n`` blinks, then a pause: the off time after the last blink is ``CODE_PAUSE_S``."""
    steps: list[Step] = []
    for _ in range(n):
        steps += [(CODE_ON_S, lit), (CODE_OFF_S, OFF)]
    steps[-1] = (CODE_PAUSE_S, OFF)
    return Pattern(tuple(steps))


def heartbeat(lit: frozenset[str]) -> Pattern:
    on1, off1, on2, off2 = HEARTBEAT_S
    return Pattern(((on1, lit), (off1, OFF), (on2, lit), (off2, OFF)))


def walk(wired: frozenset[str]) -> Pattern:
    """Each wired LED alone in turn (one LED: it blinks)."""
    order = [c for c in COLOURS if c in wired]
    if len(order) == 1:
        return blink(frozenset(order), WALK_S, WALK_S)
    return Pattern(tuple((WALK_S, frozenset({c})) for c in order))


def pick(preference: tuple[str, ...], wired: frozenset[str]) -> frozenset[str]:
    """The first wired colour of ``preference`` (as a one-colour set)."""
    return frozenset(next(([c] for c in preference if c in wired), []))


def render(state: State, wired: frozenset[str]) -> Pattern:
    """The pattern that shows ``state`` on the LEDs in ``wired``."""
    if not wired:
        return solid(OFF)
    if state is State.SELFTEST:
        return walk(wired)
    if state is State.ACK:
        on, off = ACK_S
        return Pattern(((on, wired), (off, OFF)), repeat=False)
    if state in BLINK_CODES:
        return code(pick(FAULT_PREF, wired), BLINK_CODES[state])
    if state is State.STARTING:
        return blink(pick(NORMAL_PREF, wired), SLOW_S, SLOW_S)
    if state is State.LOADING:
        return heartbeat(pick(NORMAL_PREF, wired))
    if state is State.UPLOADING:
        return blink(pick(UPLOAD_PREF, wired), FAST_S, FAST_S)
    if state is State.DEGRADED:
        if "amber" in wired and len(wired) > 1:  # amber alone also shows ``ok``
            return solid(frozenset({"amber"}))
        if {"red", "green"} <= wired:
            return solid(frozenset({"red", "green"}))
        on, off = WINK_S
        return blink(pick(DEGRADED_PREF, wired), on, off)
    return solid(pick(NORMAL_PREF, wired))  # OK
