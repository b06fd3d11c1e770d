"""``reeferwatch-central``: serve, ingest, migrate, user add / user disable, ca, device,
retention, zone."""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from types import FrameType

from pydantic import ValidationError

from central import cli_ca, cli_org, cli_retention, cli_zone
from central.audit import verify_chain
from central.blobs import FileBlobStore
from central.cli_auth import add_auth_parsers, is_auth_command, run_auth_command
from central.db.engine import Database
from central.security import MIN_PASSWORD_CHARS, ROLES
from central.settings import Settings
from central.users import add_user, disable_user
from wire.errors import ReeferWatchError

log = logging.getLogger("central")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reeferwatch-central",
        description="ReeferWatch central service. Settings come from REEFERWATCH_* variables.",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API (migrates first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    ingest = sub.add_parser("ingest", help="run the MQTT consumer (migrates first)")
    ingest.add_argument("--name", default="1", help="client id suffix: reeferwatch-ingest-NAME")
    ingest.add_argument("--shared", action="store_true", help="use $share/ingest/ subscription")
    ingest.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus /metrics on this port"
    )
    ingest.add_argument("--metrics-host", default="127.0.0.1")

    sub.add_parser("migrate", help="upgrade the database to the newest schema")

    user = sub.add_parser("user", help="manage user accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="monitor")
    add.add_argument("--org", default=None, help="org unit code (default: the national unit)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    disable = user_sub.add_parser("disable", help="disable a user")
    disable.add_argument("username")
    cli_org.add_parsers(sub, user_sub)
    cli_zone.add_parsers(sub)
    add_auth_parsers(sub, user_sub)

    audit_cmd = sub.add_parser("audit", help="audit log tools")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="recompute the audit hash chain (exit 3 if broken)")
    cli_ca.add_parsers(sub)
    cli_retention.add_parsers(sub)
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"Password (at least {MIN_PASSWORD_CHARS} characters): ")
    if first != getpass.getpass("Repeat password: "):
        raise ReeferWatchError("passwords do not match")
    return first


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from central.api import create_app
    from central.api.app import pool_size

    db = Database(settings.database_url, pool_size=pool_size(settings))
    db.migrate()
    with db:
        uvicorn.run(create_app(settings, db), host=host, port=port, log_level="info")


def _ingest(settings: Settings, args: argparse.Namespace) -> None:
    from central.ingest import IngestService
    from central.ingest.metricsserver import MetricsServer
    from central.ingest.runner import IngestRunner

    with Database(settings.database_url) as db, ExitStack() as stack:
        db.migrate()
        service = IngestService(db, FileBlobStore(settings.data_dir))
        if args.metrics_port is not None:
            server = MetricsServer(service.metrics, args.metrics_host, args.metrics_port)
            stack.enter_context(server).start()
        runner = stack.enter_context(
            IngestRunner(settings, service, name=args.name, shared=args.shared)
        )

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: stopping ingest", signum)
            runner.request_stop()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        runner.start()
        runner.wait_stopped()


def _user(settings: Settings, args: argparse.Namespace) -> None:
    with Database(settings.database_url) as db:
        db.migrate()
        with db.session() as session:
            if args.user_command == "add":
                password = _read_password(args.password_stdin)
                user = add_user(
                    session, args.username, password, args.role, actor="cli", org=args.org
                )
                print(f"created {user.role} {user.username}")
            else:
                disable_user(session, args.username, actor="cli")
                print(f"disabled {args.username}")
            session.commit()


def _audit_verify(settings: Settings) -> int:
    with Database(settings.database_url) as db, db.session() as session:
        report = verify_chain(session)
    if report.ok:
        print(f"audit chain intact: {report.rows} rows")
        return 0
    print(f"audit chain BROKEN at row id {report.first_bad_id}: {report.reason}")
    return 3


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"reeferwatch-central: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            _serve(settings, args.host, args.port)
        elif args.command == "ingest":
            _ingest(settings, args)
        elif args.command == "migrate":
            with Database(settings.database_url) as db:
                db.migrate()
            print("database is at the newest schema")
        elif args.command == "audit":
            return _audit_verify(settings)
        elif cli_ca.handles(args):
            return cli_ca.run(settings, args)
        elif is_auth_command(args):
            return run_auth_command(settings, args)
        elif cli_org.handles(args):
            return cli_org.run(settings, args)
        elif cli_zone.handles(args):
            return cli_zone.run(settings, args)
        elif cli_retention.handles(args):
            return cli_retention.run(settings, args)
        else:
            _user(settings, args)
    except ReeferWatchError as exc:
        print(f"reeferwatch-central: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
