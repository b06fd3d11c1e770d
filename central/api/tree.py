"""Admins grow the supervision tree of their subtree: ``POST /api/v1/orgs`` (a unit),
``POST /api/v1/sites`` (a packing site under a branch unit) and ``POST /api/v1/sites/{id}/
cameras`` (a camera of a site). The rules are ``central.orgs``'; every addition is an audit
line there (``org.add``, ``site.add``, ``camera.add``).

Monitors are refused (403). A parent unit or site beyond the admin's subtree answers 404, as
if unknown. Data an edge sends for a site id nobody registered is seen only at national
level; registering that id hands its data to the site's unit, so below national level a site
id that already has data is refused (409) and a national admin registers it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from central import orgs
from central.api.deps import DbSession, admin_only
from central.api.schemas import ADMIN_WRITE_RESPONSES, plain_text
from central.api.sites import CameraOut, OrgOut, SiteOut, _site_out, _visible_site
from central.authz import Scope
from central.db.models import Clip, Device, Event, OrgUnit
from wire.errors import StoreError, WireError

orgs_router = APIRouter(prefix="/orgs", tags=["sites"])
router = APIRouter(prefix="/sites", tags=["sites"])

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
UnitCode = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
ShortText = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(plain_text)]
Text = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(plain_text)]
LongText = Annotated[str, Field(min_length=1, max_length=400), AfterValidator(plain_text)]
RESPONSES = ADMIN_WRITE_RESPONSES


class OrgIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: UnitCode
    name: Text
    parent: UnitCode = Field(description="a unit of your subtree")


class SiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Code = Field(description="the site id the site's boxes use in their topics")
    org: UnitCode = Field(description="a branch unit of your subtree")
    enterprise_name: Text
    registration_no: ShortText | None = None
    address: LongText | None = None
    location_code: ShortText | None = None


class CameraIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera: Code = Field(description="the camera id the site's boxes use")
    name: Text
    ptz: bool = False


AdminScope = Annotated[Scope, Depends(admin_only("only admins change the tree"))]


def unit_in_scope(session: Session, scope: Scope, code: str) -> OrgUnit:
    unit = session.scalars(
        select(OrgUnit).where(OrgUnit.code == code, scope.units_clause())
    ).first()
    if unit is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no org unit {code!r}")
    return unit


def _has_data(session: Session, site_id: str) -> bool:
    """Whether an edge has sent anything for ``site_id`` (events, clips, devices)."""
    seen = or_(
        exists().where(Event.site == site_id),
        exists().where(Clip.site == site_id),
        exists().where(Device.site_id == site_id),
    )
    return bool(session.scalar(select(seen)))


def _refused(exc: StoreError | WireError) -> HTTPException:
    code = status.HTTP_409_CONFLICT if isinstance(exc, StoreError) else 422
    return HTTPException(code, detail=str(exc))


@orgs_router.post("", response_model=OrgOut, status_code=status.HTTP_201_CREATED,
                  responses=RESPONSES)  # fmt: skip
def create_org(body: OrgIn, scope: AdminScope, session: DbSession) -> OrgOut:
    """A unit one level below ``parent`` (a unit of the admin's subtree; 409 below a branch
    unit, which has sites, not units, or for a code in use)."""
    parent = unit_in_scope(session, scope, body.parent)
    try:
        unit = orgs.add_unit(session, body.code, body.name, parent.code, scope.user.username)
    except (StoreError, WireError) as exc:
        session.rollback()
        raise _refused(exc) from exc
    session.commit()
    return OrgOut(code=unit.code, name=unit.name, level=unit.level, parent=parent.code)


@router.post("", response_model=SiteOut, status_code=status.HTTP_201_CREATED,
             responses=RESPONSES)  # fmt: skip
def create_site(body: SiteIn, scope: AdminScope, session: DbSession) -> SiteOut:
    """A packing site under a branch unit of the admin's subtree (409 for an id in use, for
    a unit that is not a branch, and below national level for an id that already has data)."""
    unit = unit_in_scope(session, scope, body.org)
    if not scope.all_sites and _has_data(session, body.id):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"site {body.id!r} already sends data: a national admin registers it",
        )
    try:
        site = orgs.add_site(session, body.id, unit.code, body.enterprise_name,
                             scope.user.username, registration_no=body.registration_no,
                             address=body.address, location_code=body.location_code)  # fmt: skip
    except (StoreError, WireError) as exc:
        session.rollback()
        raise _refused(exc) from exc
    session.commit()
    return _site_out(site, unit.code)


@router.post("/{site_id}/cameras", response_model=CameraOut,
             status_code=status.HTTP_201_CREATED, responses=RESPONSES)  # fmt: skip
def create_camera(site_id: str, body: CameraIn, scope: AdminScope,
                  session: DbSession) -> CameraOut:  # fmt: skip
    """A camera of a site of the admin's subtree (409 for a camera id the site has)."""
    site = _visible_site(session, scope, site_id)
    try:
        camera = orgs.add_camera(session, site.id, body.camera, body.name,
                                 scope.user.username, ptz=body.ptz)  # fmt: skip
    except (StoreError, WireError) as exc:
        session.rollback()
        raise _refused(exc) from exc
    session.commit()
    return CameraOut(site=camera.site_id, camera=camera.camera_id, name=camera.name, zone=None,
                     ptz=camera.ptz)  # fmt: skip
