"""The supervision tree and what hangs off it: org units, sites, zones, cameras and
monitors' grants.

Rules: a unit's level is its parent's plus one (1 national → 2 provincial → 3 branch);
sites belong to level-3 units; a zone (a monitored area: loading dock, cold store …) belongs
to one site and its code is unique there; a camera lies in no zone or in a zone of its own
site; a grant names a camera of a registered site inside the granted user's subtree. Every
change is an audit line. Errors name the offending value.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from central import audit
from central.db.models import Camera, Grant, OrgUnit, Site, User, Zone
from wire import topics
from wire.errors import StoreError, WireError

MAX_LEVEL = 3


def unit_by_code(session: Session, code: str) -> OrgUnit:
    unit = session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first()
    if unit is None:
        raise StoreError(f"no org unit with code {code!r}")
    return unit


def check_unit(code: str, name: str) -> None:
    """Raise ``WireError`` naming the problem with an org unit's code or name."""
    if not code or len(code) > 32 or not code.replace("-", "").replace("_", "").isalnum():
        raise WireError(f"org code {code!r}: use 1-32 letters, digits, '-' or '_'")
    if not name.strip() or len(name) > 200:
        raise WireError(f"org {code}: the name must be 1-200 characters")


def add_unit(session: Session, code: str, name: str, parent_code: str, actor: str) -> OrgUnit:
    """A unit one level below ``parent_code``."""
    check_unit(code, name)
    parent = unit_by_code(session, parent_code)
    if parent.level >= MAX_LEVEL:
        raise StoreError(f"org {parent.code} is level {parent.level}: it cannot have units")
    if session.scalars(select(OrgUnit).where(OrgUnit.code == code)).first() is not None:
        raise StoreError(f"org unit {code!r} exists already")
    unit = OrgUnit(parent_id=parent.id, level=parent.level + 1, code=code, name=name.strip(),
                   path="")  # fmt: skip
    session.add(unit)
    session.flush()
    unit.path = f"{parent.path}{unit.id}/"
    audit.append(session, actor, "org.add", code, {"parent": parent.code, "level": unit.level})
    return unit


def add_site(
    session: Session,
    site_id: str,
    unit_code: str,
    enterprise_name: str,
    actor: str,
    registration_no: str | None = None,
    address: str | None = None,
    location_code: str | None = None,
) -> Site:
    topics.check_id(site_id, "site")
    unit = unit_by_code(session, unit_code)
    if unit.level != MAX_LEVEL:
        raise StoreError(f"site {site_id}: org {unit_code} is level {unit.level}, not a branch (3)")
    if session.get(Site, site_id) is not None:
        raise StoreError(f"site {site_id!r} exists already")
    site = Site(id=site_id, org_unit_id=unit.id, enterprise_name=enterprise_name,
                registration_no=registration_no, address=address,
                location_code=location_code)  # fmt: skip
    session.add(site)
    session.flush()
    audit.append(session, actor, "site.add", site_id, {"org": unit_code})
    return site


def add_camera(
    session: Session, site_id: str, camera_id: str, name: str, actor: str, ptz: bool = False
) -> Camera:
    topics.check_id(camera_id, "camera")
    if session.get(Site, site_id) is None:
        raise StoreError(f"no site {site_id!r}")
    if session.get(Camera, (site_id, camera_id)) is not None:
        raise StoreError(f"camera {site_id}/{camera_id} exists already")
    camera = Camera(site_id=site_id, camera_id=camera_id, name=name, ptz=ptz)
    session.add(camera)
    session.flush()
    audit.append(session, actor, "camera.add", f"{site_id}/{camera_id}", {"ptz": ptz})
    return camera


def check_zone(code: str, name: str) -> None:
    """Raise ``WireError`` naming the problem with a zone's code or name."""
    topics.check_id(code, "zone")
    if not name.strip() or len(name) > 200:
        raise WireError(f"zone {code}: the name must be 1-200 characters")


def zone_by_code(session: Session, site_id: str, code: str) -> Zone | None:
    return session.scalars(select(Zone).where(Zone.site_id == site_id, Zone.code == code)).first()


def add_zone(session: Session, site_id: str, code: str, name: str, actor: str) -> Zone:
    """A zone of a registered site; audited as ``zone.add`` with the target ``site/code``."""
    check_zone(code, name)
    if session.get(Site, site_id) is None:
        raise StoreError(f"no site {site_id!r}")
    if zone_by_code(session, site_id, code) is not None:
        raise StoreError(f"zone {site_id}/{code} exists already")
    zone = Zone(site_id=site_id, code=code, name=name.strip())
    session.add(zone)
    session.flush()
    detail = {"id": zone.id, "name": zone.name}
    audit.append(session, actor, "zone.add", f"{site_id}/{code}", detail)
    return zone


def set_camera_zone(
    session: Session, site_id: str, camera_id: str, zone_id: int | None, actor: str
) -> Camera:
    """Put a camera in a zone of its own site (``zone_id`` None: in no zone); audited as
    ``camera.zone`` with the zone it was in (nothing is audited when it stays where it is).
    ``WireError`` for an unknown zone or a zone of another site."""
    camera = session.get(Camera, (site_id, camera_id))
    if camera is None:
        raise StoreError(f"no camera {site_id}/{camera_id}")
    zone = session.get(Zone, zone_id) if zone_id is not None else None
    if zone_id is not None and (zone is None or zone.site_id != site_id):
        # the same words for an unknown zone and another site's: no hint of other sites
        raise WireError(f"zone {zone_id} is not a zone of site {site_id!r}")
    if camera.zone_id == zone_id:
        return camera  # nothing changes, nothing is audited
    was = session.get(Zone, camera.zone_id) if camera.zone_id is not None else None
    camera.zone_id = zone_id
    session.flush()
    detail = {"zone": zone.code if zone else None, "was": was.code if was else None}
    audit.append(session, actor, "camera.zone", f"{site_id}/{camera_id}", detail)
    return camera


def _user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise StoreError(f"no user {username!r}")
    return user


def grant_camera(session: Session, username: str, site_id: str, camera_id: str,
                 actor: str) -> Grant:  # fmt: skip
    """Let ``username`` watch and play back one camera (idempotent)."""
    user = _user(session, username)
    if session.get(Camera, (site_id, camera_id)) is None:
        raise StoreError(f"no camera {site_id}/{camera_id}")
    site = session.get(Site, site_id)
    unit = session.get(OrgUnit, user.org_unit_id)
    site_unit = session.get(OrgUnit, site.org_unit_id) if site else None
    if unit is None or site_unit is None or not site_unit.path.startswith(unit.path):
        raise StoreError(f"camera {site_id}/{camera_id} is outside {username}'s org unit")
    existing = session.get(Grant, (user.id, site_id, camera_id))
    if existing is not None:
        return existing
    grant = Grant(user_id=user.id, site_id=site_id, camera_id=camera_id, granted_by=actor)
    session.add(grant)
    session.flush()
    audit.append(session, actor, "grant.add", username, {"site": site_id, "camera": camera_id})
    return grant


def revoke_camera(session: Session, username: str, site_id: str, camera_id: str,
                  actor: str) -> bool:  # fmt: skip
    user = _user(session, username)
    grant = session.get(Grant, (user.id, site_id, camera_id))
    if grant is None:
        return False
    session.delete(grant)
    audit.append(session, actor, "grant.revoke", username, {"site": site_id, "camera": camera_id})
    return True


def move_user(session: Session, username: str, unit_code: str, actor: str) -> User:
    """Put a user under another unit; grants outside the new subtree are dropped."""
    user = _user(session, username)
    unit = unit_by_code(session, unit_code)
    user.org_unit_id = unit.id
    for grant in session.scalars(select(Grant).where(Grant.user_id == user.id)).all():
        site = session.get(Site, grant.site_id)
        site_unit = session.get(OrgUnit, site.org_unit_id) if site else None
        if site_unit is None or not site_unit.path.startswith(unit.path):
            session.delete(grant)
    audit.append(session, actor, "user.move", username, {"org": unit_code})
    return user
