"""``reeferwatch-central org | site | camera | grant | import | user move``: the supervision
tree from the command line (``central.orgs``, ``central.orgimport``). Changes are audited
with the actor ``cli``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central import orgs
from central.db.engine import Database
from central.db.models import Grant, OrgUnit, Site, User
from central.orgimport import Plan, apply_plan, plan_file
from central.settings import Settings
from wire.errors import StoreError

ACTOR = "cli"
COMMANDS = ("org", "site", "camera", "grant", "import")


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    user_sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add this module's commands to the top-level parser and to ``user``."""
    org = sub.add_parser("org", help="org units of the supervision tree").add_subparsers(
        dest="org_command", required=True
    )
    add = org.add_parser("add", help="add a unit one level below --parent")
    add.add_argument("code")
    add.add_argument("name")
    add.add_argument("--parent", required=True, help="the parent unit's code ('national')")
    org.add_parser("list", help="the tree, indented, with each unit's site count")

    site = sub.add_parser("site", help="packing sites").add_subparsers(
        dest="site_command", required=True
    )
    add = site.add_parser("add", help="register a site under a branch unit (level 3)")
    add.add_argument("id", help="the site id edges use in their topics")
    add.add_argument("--org", required=True, help="the branch unit's code")
    add.add_argument("--enterprise", required=True, help="the enterprise's name")
    add.add_argument("--registration-no")
    add.add_argument("--address")
    add.add_argument("--location-code")
    listing = site.add_parser("list", help="sites, tab-separated")
    listing.add_argument("--org", help="only the sites under this unit's subtree")

    camera = sub.add_parser("camera", help="cameras of sites").add_subparsers(
        dest="camera_command", required=True
    )
    add = camera.add_parser("add", help="add a camera to a site")
    add.add_argument("site")
    add.add_argument("camera", help="the camera id edges use in their messages")
    add.add_argument("--name", required=True)
    add.add_argument("--ptz", action="store_true", help="it pans, tilts and zooms")

    grant = sub.add_parser("grant", help="cameras a monitor may watch").add_subparsers(
        dest="grant_command", required=True
    )
    for verb in ("add", "revoke"):
        parser = grant.add_parser(verb, help=f"{verb} a user's grant of one camera")
        for name in ("user", "site", "camera"):
            parser.add_argument(name)
    grant.add_parser("list", help="a user's grants").add_argument("user")

    move = user_sub.add_parser("move", help="put a user under another org unit")
    move.add_argument("username")
    move.add_argument("--org", required=True, help="the unit's code")

    imports = sub.add_parser("import", help="bulk import from CSV (docs/central.md)")
    kinds = imports.add_subparsers(dest="import_kind", required=True)
    for kind in ("org-tree", "sites", "cameras"):
        parser = kinds.add_parser(kind, help=f"import {kind} from a UTF-8 CSV file")
        parser.add_argument("file", type=Path)
        parser.add_argument("--update", action="store_true", help="update rows that differ")
        parser.add_argument("--dry-run", action="store_true", help="check and report only")


def handles(args: argparse.Namespace) -> bool:
    return args.command in COMMANDS or getattr(args, "user_command", None) == "move"


@contextlib.contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    """A session on the migrated database, committed if the block ends without error."""
    with Database(settings.database_url) as db:
        db.migrate()
        with db.session() as session:
            yield session
            session.commit()


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run a command ``handles`` accepted; errors are ``ReeferWatchError``s for the caller.
    Output is printed once the transaction is committed."""
    with _session(settings) as session:
        if args.command == "import":
            plan = plan_file(session, args.import_kind, args.file)
            if not args.dry_run:
                apply_plan(session, plan, args.file, ACTOR, args.update, sys.stderr)
            lines = _report(plan, args)
        elif args.command in ("org", "site") and getattr(args, f"{args.command}_command") == "list":
            lines = _list(session, args)
        elif args.command == "grant" and args.grant_command == "list":
            lines = _grants(session, args.user)
        else:
            lines = [_change(session, args)]
    for line in lines:
        print(line)
    return 0


def _change(session: Session, args: argparse.Namespace) -> str:
    """Make one change; return what to print."""
    if args.command == "org":
        unit = orgs.add_unit(session, args.code, args.name, args.parent, ACTOR)
        return f"added org unit {unit.code} (level {unit.level}) under {args.parent}"
    if args.command == "site":
        orgs.add_site(
            session,
            args.id,
            args.org,
            args.enterprise,
            ACTOR,
            args.registration_no,
            args.address,
            args.location_code,
        )
        return f"added site {args.id} under {args.org}"
    if args.command == "camera":
        orgs.add_camera(session, args.site, args.camera, args.name, ACTOR, args.ptz)
        return f"added camera {args.site}/{args.camera}" + (" (PTZ)" if args.ptz else "")
    if args.command == "grant" and args.grant_command == "add":
        orgs.grant_camera(session, args.user, args.site, args.camera, ACTOR)
        return f"{args.user} may watch {args.site}/{args.camera}"
    if args.command == "grant":
        if not orgs.revoke_camera(session, args.user, args.site, args.camera, ACTOR):
            raise StoreError(f"{args.user} holds no grant of {args.site}/{args.camera}")
        return f"revoked {args.user}'s grant of {args.site}/{args.camera}"
    user = orgs.move_user(session, args.username, args.org, ACTOR)
    kept = session.scalar(select(func.count()).where(Grant.user_id == user.id))
    return f"moved {args.username} under {args.org} ({kept} grants kept)"


def _list(session: Session, args: argparse.Namespace) -> list[str]:
    codes = {unit_id: code for unit_id, code in session.execute(select(OrgUnit.id, OrgUnit.code))}
    if args.command == "org":
        per_unit = select(Site.org_unit_id, func.count()).group_by(Site.org_unit_id)
        counts = {unit_id: count for unit_id, count in session.execute(per_unit)}
        lines = []
        for unit in session.scalars(select(OrgUnit).order_by(OrgUnit.path)):
            sites = f"  ({counts.get(unit.id, 0)} sites)" if unit.level == orgs.MAX_LEVEL else ""
            lines.append(f"{'  ' * (unit.level - 1)}{unit.code}  {unit.name}{sites}")
        return lines
    query = select(Site).order_by(Site.id)
    if args.org is not None:
        root = orgs.unit_by_code(session, args.org)
        units = select(OrgUnit.id).where(OrgUnit.path.startswith(root.path))
        query = query.where(Site.org_unit_id.in_(units))
    lines = []
    for site in session.scalars(query):
        fields = (
            site.id,
            codes.get(site.org_unit_id, "?"),
            site.enterprise_name,
            site.registration_no,
            site.address,
            site.location_code,
        )
        lines.append("\t".join(value or "" for value in fields))
    return lines


def _grants(session: Session, username: str) -> list[str]:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise StoreError(f"no user {username!r}")
    grants = select(Grant).where(Grant.user_id == user.id).order_by(Grant.site_id, Grant.camera_id)
    return [
        f"{grant.site_id}\t{grant.camera_id}\t{grant.granted_by}\t{grant.granted_at:%F %T}Z"
        for grant in session.scalars(grants)
    ]


def _report(plan: Plan, args: argparse.Namespace) -> list[str]:
    """What the import did (or, with --dry-run, would do)."""
    would = "would be " if args.dry_run else ""
    updated = len(plan.updates) if args.update else 0
    lines = [
        f"{args.file}: {plan.rows} rows: {len(plan.creates)} {would}created, "
        f"{updated} {would}updated, {plan.unchanged} unchanged"
    ]
    if plan.updates and args.update:
        lines.append("would update:" if args.dry_run else "updated:")
    elif plan.updates:
        lines.append(
            f"rows that differ from the database, left alone (import again with --update "
            f"to update them): {len(plan.updates)}"
        )
    for change in plan.updates:
        differences = "; ".join(
            f"{name}: {old!r} in the database, {new!r} in the file"
            for name, (old, new) in change.changed.items()
        )
        lines.append(f"  line {change.line}: {change.target}: {differences}")
    return lines
