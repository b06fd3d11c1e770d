"""``/api/v1/orgs`` and ``/api/v1/sites``: the part of the supervision tree a user may see."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from sqlalchemy import select

from central.api.deps import DbSession, UserScope
from central.api.schemas import Problem
from central.db.models import Camera, OrgUnit, Site, Zone

orgs_router = APIRouter(prefix="/orgs", tags=["sites"])
router = APIRouter(prefix="/sites", tags=["sites"])


class OrgOut(BaseModel):
    code: str
    name: str
    level: int
    parent: str | None


class SiteOut(BaseModel):
    id: str
    org: str
    enterprise_name: str
    registration_no: str | None
    address: str | None
    location_code: str | None


class CameraOut(BaseModel):
    site: str
    camera: str
    name: str
    zone: str | None
    ptz: bool


@orgs_router.get("", response_model=list[OrgOut])
def list_orgs(scope: UserScope, session: DbSession) -> list[OrgOut]:
    """The user's own unit and every unit below it, top-down."""
    units = session.scalars(select(OrgUnit).where(scope.units_clause()).order_by(OrgUnit.path))
    codes = {u.id: u.code for u in session.scalars(select(OrgUnit))}
    return [
        OrgOut(
            code=u.code,
            name=u.name,
            level=u.level,
            parent=codes.get(u.parent_id) if u.parent_id else None,
        )  # fmt: skip
        for u in units
    ]


def _site_out(site: Site, org_code: str) -> SiteOut:
    return SiteOut(id=site.id, org=org_code, enterprise_name=site.enterprise_name,
                   registration_no=site.registration_no, address=site.address,
                   location_code=site.location_code)  # fmt: skip


@router.get("", response_model=list[SiteOut])
def list_sites(scope: UserScope, session: DbSession) -> list[SiteOut]:
    """Registered sites the user may see (a monitor: sites where they hold a grant)."""
    rows = session.execute(
        select(Site, OrgUnit.code)
        .join(OrgUnit, OrgUnit.id == Site.org_unit_id)
        .where(scope.sites_clause(Site.id))
        .order_by(Site.id)
    )
    return [_site_out(site, code) for site, code in rows]


def _visible_site(session: DbSession, scope: UserScope, site_id: str) -> Site:
    site = session.get(Site, site_id) if len(site_id) <= 64 else None
    if site is None or not scope.allows(session, site.id, None):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no site {site_id!r}")
    return site


@router.get("/{site_id}", response_model=SiteOut, responses={404: {"model": Problem}})
def get_site(site_id: str, scope: UserScope, session: DbSession) -> SiteOut:
    site = _visible_site(session, scope, site_id)
    unit = session.get(OrgUnit, site.org_unit_id)
    return _site_out(site, unit.code if unit else "")


@router.get(
    "/{site_id}/cameras", response_model=list[CameraOut], responses={404: {"model": Problem}}
)
def list_site_cameras(site_id: str, scope: UserScope, session: DbSession) -> list[CameraOut]:
    """The site's cameras the user may see (a monitor: the granted ones)."""
    site = _visible_site(session, scope, site_id)
    rows = session.execute(
        select(Camera, Zone.code)
        .outerjoin(Zone, Zone.id == Camera.zone_id)
        .where(
            Camera.site_id == site.id,
            scope.cameras_clause(Camera.site_id, Camera.camera_id, allow_no_camera=False),
        )
        .order_by(Camera.camera_id)
    )
    return [
        CameraOut(site=c.site_id, camera=c.camera_id, name=c.name, zone=zone, ptz=c.ptz)
        for c, zone in rows
    ]
