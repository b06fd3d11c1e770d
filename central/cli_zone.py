"""``reeferwatch-central zone add | assign | list``: the zones (monitored areas) of a site and
their cameras from the command line (``central.orgs``). Changes are audited with the actor
``cli``."""

from __future__ import annotations

import argparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import orgs
from central.cli_org import ACTOR, _session
from central.db.models import Camera, Site, Zone
from central.settings import Settings
from wire.errors import StoreError


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    zone = sub.add_parser("zone", help="zones (monitored areas) of sites").add_subparsers(
        dest="zone_command", required=True
    )
    add = zone.add_parser("add", help="add a zone to a site")
    add.add_argument("--site", required=True, help="the site id")
    add.add_argument("--code", required=True, help="unique within the site (1-64 of A-Za-z0-9_-)")
    add.add_argument("--name", required=True, help="e.g. 装货口 / loading dock")
    assign = zone.add_parser("assign", help="put a camera in a zone of its site")
    assign.add_argument("--site", required=True, help="the site id")
    assign.add_argument("--camera", required=True, help="the camera id")
    assign.add_argument("--zone", required=True, help="the zone's code, or - for no zone")
    listing = zone.add_parser("list", help="a site's zones, tab-separated")
    listing.add_argument("--site", required=True, help="the site id")


def _assign(session: Session, site: str, camera: str, code: str) -> str:
    zone_id = None
    if code != "-":
        zone = orgs.zone_by_code(session, site, code)
        if zone is None:
            raise StoreError(f"no zone {site}/{code}")
        zone_id = zone.id
    orgs.set_camera_zone(session, site, camera, zone_id, ACTOR)
    where = "no zone" if zone_id is None else f"zone {site}/{code}"
    return f"camera {site}/{camera} is in {where}"


def handles(args: argparse.Namespace) -> bool:
    return bool(args.command == "zone")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run a command ``handles`` accepted; errors are ``ReeferWatchError``s for the caller.
    Output is printed once the transaction is committed."""
    with _session(settings) as session:
        if args.zone_command == "add":
            zone = orgs.add_zone(session, args.site, args.code, args.name, ACTOR)
            lines = [f"added zone {args.site}/{zone.code} (id {zone.id})"]
        elif args.zone_command == "assign":
            lines = [_assign(session, args.site, args.camera, args.zone)]
        else:
            if session.get(Site, args.site) is None:
                raise StoreError(f"no site {args.site!r}")
            cameras: dict[int | None, list[str]] = {}
            for camera_id, zone_id in session.execute(
                select(Camera.camera_id, Camera.zone_id)
                .where(Camera.site_id == args.site, Camera.zone_id.is_not(None))
                .order_by(Camera.camera_id)
            ):
                cameras.setdefault(zone_id, []).append(camera_id)
            zones = select(Zone).where(Zone.site_id == args.site).order_by(Zone.code)
            lines = [
                f"{z.id}\t{z.code}\t{z.name}\t{','.join(cameras.get(z.id, []))}"
                for z in session.scalars(zones)
            ]
    for line in lines:
        print(line)
    return 0
