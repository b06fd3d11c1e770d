"""``down/cmd`` handling: idempotent by command id, refused after ``expires_at``.

Every command id is recorded in the ``commands`` table with its result in the same step as it
is handled; a repeated id (a QoS 1 redelivery, or central asking again after a lost answer) is
not executed again but answered again with the recorded result — which, for an upload window
whose cut failed later, is that failure. Commands run on paho's network thread, so none of
them may take long.

Kinds:

- ``ping``: answers ``pong``.
- ``loading_start`` (args ``container_no``, ``vehicle_plate``, ``seal_numbers``
  comma-separated, all optional) and ``loading_end``: ``edge.sessions``.
- ``upload_window`` (args ``camera``, ``start``, ``end`` with UTC offsets, at most
  ``MAX_WINDOW_S`` apart, optional ``reason``): accepted at once, not when the clip is cut.
  The answer is ok with ``data.file_id`` (the id of the ``window`` file central will receive)
  and ``data.state = "queued"``; the job is committed with the command id, and the clip
  worker cuts it within a second or so of recording reaching ``end`` (``edge.windowclips``).
  Refused if an argument is wrong or nothing is recorded in the window. A cut that fails
  after acceptance is reported durably as an ``upload_window_failed`` event (data:
  ``command_id``, ``file_id``, ``camera``, ``reason``) and recorded as the command's result.
- ``config_refresh``: re-reads the configuration file and applies ``[uplink]`` and
  ``[health] publish_seconds`` live; ``data.applied`` and ``data.restart`` list the changed
  keys (comma-separated). An invalid file changes nothing and is the refusal's detail
  (``edge.liveconfig``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from edge.clock import clock_synced
from edge.config import EdgeConfig
from edge.liveconfig import LiveConfig, LiveTargets
from edge.sessions import LoadingSessions
from edge.store import Store
from edge.timeutil import iso, now
from edge.windowclips import parse_window_args, prepare_window
from wire.errors import ReeferWatchError
from wire.models import CommandMessage, CommandResult

log = logging.getLogger(__name__)

LOADING_ARGS = frozenset({"container_no", "vehicle_plate", "seal_numbers"})


@dataclass
class Outcome:
    """What a command did; ``also`` runs in the transaction that records the command id."""

    ok: bool
    detail: str
    data: dict[str, Any] = field(default_factory=dict)
    also: Callable[[sqlite_utils.Database], None] | None = None


class CommandHandler:
    """Turns a ``CommandMessage`` into a ``CommandResult`` (or None for a repeated id).

    ``live`` is what ``config_refresh`` may change (the sync client); without it, changed
    keys are reported as needing a restart."""

    def __init__(self, config: EdgeConfig, store: Store, live: LiveTargets | None = None) -> None:
        self.config = config
        self.store = store
        self.sessions = LoadingSessions(config, store)
        self.live = LiveConfig(config, live)

    def handle(self, cmd: CommandMessage) -> CommandResult | None:
        """The result to publish; a repeated id gets its recorded result, not a second run.
        None only if the id's record cannot be read back (a concurrent first delivery)."""
        if self.seen(cmd.id):
            log.info("command %s (%s) already handled; answering again", cmd.id, cmd.kind)
            return self.recorded(cmd.id)
        if cmd.expires_at <= now():
            outcome = Outcome(False, f"expired at {iso(cmd.expires_at)}; not executed")
        else:
            try:
                outcome = self._execute(cmd)
            except (ReeferWatchError, ValueError) as exc:
                outcome = Outcome(False, str(exc))
        if not self._remember(cmd, outcome):
            return self.recorded(cmd.id)  # another delivery of the same id won the race
        ok, detail = outcome.ok, outcome.detail
        log.info("command %s (%s): %s %s", cmd.id, cmd.kind, "ok" if ok else "refused", detail)
        return CommandResult(sent_at=now(), clock_synced=clock_synced(), id=cmd.id, ok=ok,
                             detail=detail[:2000], data=outcome.data)  # fmt: skip

    def seen(self, command_id: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM commands WHERE id = ?", (command_id,)))

    def recorded(self, command_id: str) -> CommandResult | None:
        """The result recorded for ``command_id`` (as it stands now), or None."""
        rows = self.store.query("SELECT ok, detail, data FROM commands WHERE id = ?", (command_id,))
        if not rows:
            return None
        row = rows[0]
        return CommandResult(sent_at=now(), clock_synced=clock_synced(), id=command_id,
                             ok=bool(row["ok"]), detail=str(row["detail"])[:2000],
                             data=json.loads(row["data"] or "{}"))  # fmt: skip

    def _remember(self, cmd: CommandMessage, outcome: Outcome) -> bool:
        try:
            with self.store.transaction() as db:
                db.execute(
                    "INSERT INTO commands (id, kind, received_at, ok, detail, data)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (cmd.id, cmd.kind, iso(now()), int(outcome.ok), outcome.detail,
                     json.dumps(outcome.data)),
                )  # fmt: skip
                if outcome.also is not None:
                    outcome.also(db)
        except sqlite3.IntegrityError:
            return False
        return True

    def _execute(self, cmd: CommandMessage) -> Outcome:
        if cmd.kind == "ping":
            return Outcome(True, "pong")
        if cmd.kind == "loading_start":
            return self._loading_start(cmd)
        if cmd.kind == "loading_end":
            if cmd.args:
                return Outcome(False, f"args: unknown key {sorted(cmd.args)[0]!r}")
            ended = self.sessions.stop(source="central")
            if ended is None:
                return Outcome(False, "no loading session is active")
            return Outcome(True, f"loading session {ended} ended", {"session_id": ended})
        if cmd.kind == "upload_window":
            return self._upload_window(cmd)
        if cmd.kind == "config_refresh":
            if cmd.args:
                return Outcome(False, f"args: unknown key {sorted(cmd.args)[0]!r}")
            detail, data = self.live.refresh()
            return Outcome(True, detail, data)
        return Outcome(False, f"{cmd.kind} is not supported by this edge version")

    def _loading_start(self, cmd: CommandMessage) -> Outcome:
        unknown = sorted(set(cmd.args) - LOADING_ARGS)
        if unknown:
            return Outcome(False, f"args: unknown key {unknown[0]!r}")
        args = {k: (None if v is None else str(v)) for k, v in cmd.args.items()}
        seals = args.get("seal_numbers")
        session_id = self.sessions.start(
            container_no=args.get("container_no") or None,
            vehicle_plate=args.get("vehicle_plate"),
            seal_numbers=seals.split(",") if seals else None,
            source="central",
        )
        return Outcome(True, f"loading session {session_id} started", {"session_id": session_id})

    def _upload_window(self, cmd: CommandMessage) -> Outcome:
        request = parse_window_args(self.config, cmd.args)
        file_id, insert = prepare_window(self.store, cmd.id, request)
        detail = (f"window of {request.camera} {iso(request.start)} – {iso(request.end)} "
                  f"queued as file {file_id}")  # fmt: skip
        return Outcome(True, detail, {"file_id": file_id, "state": "queued"}, also=insert)
