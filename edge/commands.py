"""``down/cmd`` handling: idempotent by command id, refused after ``expires_at``.

Every command id is recorded in the ``commands`` table with its result in the same step as it
is handled; a repeated id (a QoS 1 redelivery or a retry by central) is neither executed nor
answered again. Kinds: ``ping``; ``loading_start`` (args ``container_no``, ``vehicle_plate``,
``seal_numbers`` comma-separated, all optional); ``loading_end``. ``upload_window`` and
``config_refresh`` are answered as not supported yet.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from edge.clock import clock_synced
from edge.config import EdgeConfig
from edge.sessions import LoadingSessions
from edge.store import Store
from edge.timeutil import iso, now
from wire.errors import ReeferWatchError
from wire.models import CommandMessage, CommandResult

log = logging.getLogger(__name__)

LOADING_ARGS = frozenset({"container_no", "vehicle_plate", "seal_numbers"})


class CommandHandler:
    """Turns a ``CommandMessage`` into a ``CommandResult`` (or None for a repeated id)."""

    def __init__(self, config: EdgeConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.sessions = LoadingSessions(config, store)

    def handle(self, cmd: CommandMessage) -> CommandResult | None:
        if self.seen(cmd.id):
            log.info("command %s (%s) already handled; not repeated", cmd.id, cmd.kind)
            return None
        data: dict[str, Any] = {}
        if cmd.expires_at <= now():
            ok, detail = False, f"expired at {iso(cmd.expires_at)}; not executed"
        else:
            try:
                ok, detail, data = self._execute(cmd)
            except (ReeferWatchError, ValueError) as exc:
                ok, detail = False, str(exc)
        if not self._remember(cmd, ok, detail, data):
            return None  # another delivery of the same id won the race
        log.info("command %s (%s): %s %s", cmd.id, cmd.kind, "ok" if ok else "refused", detail)
        return CommandResult(sent_at=now(), clock_synced=clock_synced(), id=cmd.id, ok=ok,
                             detail=detail[:2000], data=data)  # fmt: skip

    def seen(self, command_id: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM commands WHERE id = ?", (command_id,)))

    def _remember(self, cmd: CommandMessage, ok: bool, detail: str, data: dict[str, Any]) -> bool:
        try:
            with self.store.transaction() as db:
                db.execute(
                    "INSERT INTO commands (id, kind, received_at, ok, detail, data)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (cmd.id, cmd.kind, iso(now()), int(ok), detail, json.dumps(data)),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def _execute(self, cmd: CommandMessage) -> tuple[bool, str, dict[str, Any]]:
        if cmd.kind == "ping":
            return True, "pong", {}
        if cmd.kind == "loading_start":
            unknown = sorted(set(cmd.args) - LOADING_ARGS)
            if unknown:
                return False, f"args: unknown key {unknown[0]!r}", {}
            args = {k: (None if v is None else str(v)) for k, v in cmd.args.items()}
            seals = args.get("seal_numbers")
            session_id = self.sessions.start(
                container_no=args.get("container_no") or None,
                vehicle_plate=args.get("vehicle_plate"),
                seal_numbers=seals.split(",") if seals else None,
                source="central",
            )
            return True, f"loading session {session_id} started", {"session_id": session_id}
        if cmd.kind == "loading_end":
            if cmd.args:
                return False, f"args: unknown key {sorted(cmd.args)[0]!r}", {}
            ended = self.sessions.stop(source="central")
            if ended is None:
                return False, "no loading session is active", {}
            return True, f"loading session {ended} ended", {"session_id": ended}
        return False, f"{cmd.kind} is not supported by this edge version yet", {}
