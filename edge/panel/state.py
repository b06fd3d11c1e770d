"""The panel's state machine: inputs → the one display state (the most severe wins).

Pure: no GPIO, no clock. ``compute_state(inputs)`` collects every condition that holds
(``conditions``) and returns the one that comes first in ``PRIORITY``. Fault names map to
states through ``FAULT_STATES``; a fault this table does not know counts as ``degraded``,
so a new fault is never silent. Red blink codes (``BLINK_CODES``): fewer blinks = more
severe, and the most severe wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum


class State(str, Enum):
    SELFTEST = "selftest"
    ACK = "ack"
    CAMERA_OFFLINE = "camera_offline"
    STORAGE_CRITICAL = "storage_critical"
    BROKER_UNREACHABLE = "broker_unreachable"
    CLOCK_UNSYNCHRONISED = "clock_unsynchronised"
    OVERHEATING = "overheating"
    STARTING = "starting"
    DEGRADED = "degraded"
    LOADING = "loading"
    UPLOADING = "uploading"
    OK = "ok"


# Most severe first. Self-test and the acknowledgement are shown on purpose by a person at
# the box and last a few seconds, so they come before faults.
PRIORITY: tuple[State, ...] = tuple(State)

BLINK_CODES: dict[State, int] = {
    State.CAMERA_OFFLINE: 2,
    State.STORAGE_CRITICAL: 3,
    State.BROKER_UNREACHABLE: 4,
    State.CLOCK_UNSYNCHRONISED: 5,
    State.OVERHEATING: 6,
}

# Fault name (``edge.faults``) → state. Every other fault name → DEGRADED.
FAULT_STATES: dict[str, State] = {
    "offline": State.CAMERA_OFFLINE,
    "storage_critical": State.STORAGE_CRITICAL,
    "clock_unsynchronised": State.CLOCK_UNSYNCHRONISED,
    "temperature_high": State.OVERHEATING,
}


@dataclass(frozen=True)
class PanelInputs:
    """Everything the display depends on, sampled at one moment.

    ``starting``: the process is in its start window and not yet recording and connected;
    ``recording``: camera → its recorder is running; ``backlog_items``/``backlog_bytes``:
    pending outbox; ``connected``: to the broker; ``offline_seconds``: how long the broker
    has been unreachable; ``faults``: active (scope, name) pairs; ``loading``: a loading
    session is active; ``ack``: a button press is being acknowledged; ``selftest``: the
    self-test runs.
    """

    starting: bool = False
    recording: Mapping[str, bool] = field(default_factory=dict)
    backlog_items: int = 0
    backlog_bytes: int = 0
    connected: bool = True
    offline_seconds: float = 0.0
    faults: tuple[tuple[str, str], ...] = ()
    loading: bool = False
    ack: bool = False
    selftest: bool = False


def fault_state(name: str) -> State:
    """The display state of an active fault named ``name``."""
    return FAULT_STATES.get(name, State.DEGRADED)


def conditions(inputs: PanelInputs, broker_alarm_seconds: float = 600.0) -> set[State]:
    """Every state whose condition holds (``OK`` always does: it is the floor)."""
    held = {State.OK}
    if inputs.selftest:
        held.add(State.SELFTEST)
    if inputs.ack:
        held.add(State.ACK)
    held.update(fault_state(name) for _, name in inputs.faults)
    if not inputs.connected and inputs.offline_seconds >= broker_alarm_seconds:
        held.add(State.BROKER_UNREACHABLE)
    if inputs.starting:
        held.add(State.STARTING)
    elif not all(inputs.recording.values()):
        held.add(State.DEGRADED)  # a recorder restarting without an offline fault (yet)
    if inputs.loading:
        held.add(State.LOADING)
    if inputs.backlog_items > 0 or not inputs.connected:
        held.add(State.UPLOADING)
    return held


def compute_state(inputs: PanelInputs, broker_alarm_seconds: float = 600.0) -> State:
    """The one state to display: the most severe condition that holds."""
    held = conditions(inputs, broker_alarm_seconds)
    return next(state for state in PRIORITY if state in held)
