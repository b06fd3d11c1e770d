"""Zones of a site (``/api/v1/sites/{id}/zones``) and the zone of a camera: read like the
site itself (``central.authz``); created and assigned by admins within their scope, each
change an audit line (``zone.add``, ``camera.zone``; ``central.orgs``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from central import orgs
from central.api.deps import DbSession, UserScope, admin_only
from central.api.schemas import ADMIN_WRITE_RESPONSES, Problem, plain_text
from central.api.sites import CameraOut, _visible_site
from central.authz import Scope
from central.db.models import Camera, Zone
from wire.errors import WireError

router = APIRouter(prefix="/sites", tags=["sites"])

MAX_ZONE_ID = 2**31 - 1  # the column is an INTEGER


class ZoneOut(BaseModel):
    id: int = Field(description="what PUT /sites/{id}/cameras/{camera}/zone takes")
    site: str
    code: str
    name: str
    cameras: list[str] = Field(description="the zone's cameras the caller may see")


class ZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                      description="unique within the site")  # fmt: skip
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(plain_text)]


class CameraZoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zone_id: int | None = Field(
        ge=1, le=MAX_ZONE_ID, description="a zone of the camera's own site; null: no zone"
    )


AdminScope = Annotated[Scope, Depends(admin_only("only admins may change zones"))]
WRITE_RESPONSES = ADMIN_WRITE_RESPONSES


@router.get("/{site_id}/zones", response_model=list[ZoneOut], responses={404: {"model": Problem}})
def list_zones(site_id: str, scope: UserScope, session: DbSession) -> list[ZoneOut]:
    """The zones of a site the user may see (every zone; a monitor sees only the granted
    cameras in each)."""
    site = _visible_site(session, scope, site_id)
    cameras: dict[int | None, list[str]] = {}
    for camera_id, zone_id in session.execute(
        select(Camera.camera_id, Camera.zone_id)
        .where(
            Camera.site_id == site.id,
            Camera.zone_id.is_not(None),
            scope.cameras_clause(Camera.site_id, Camera.camera_id, allow_no_camera=False),
        )
        .order_by(Camera.camera_id)
    ):
        cameras.setdefault(zone_id, []).append(camera_id)
    zones = session.scalars(select(Zone).where(Zone.site_id == site.id).order_by(Zone.code))
    return [
        ZoneOut(id=z.id, site=z.site_id, code=z.code, name=z.name, cameras=cameras.get(z.id, []))
        for z in zones
    ]


@router.post(
    "/{site_id}/zones",
    response_model=ZoneOut,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_RESPONSES,
)
def create_zone(site_id: str, body: ZoneIn, scope: AdminScope, session: DbSession) -> ZoneOut:
    """Add a zone to a site of the admin's scope (404 beyond it; 409 if the site has a zone
    of that code). Audited as ``zone.add``."""
    site = _visible_site(session, scope, site_id)
    duplicate = HTTPException(
        status.HTTP_409_CONFLICT, detail=f"site {site.id!r} has a zone {body.code!r} already"
    )
    if orgs.zone_by_code(session, site.id, body.code) is not None:
        raise duplicate
    try:
        zone = orgs.add_zone(session, site.id, body.code, body.name, scope.user.username)
        session.commit()
    except IntegrityError as exc:  # added by a concurrent request since
        session.rollback()
        raise duplicate from exc
    return ZoneOut(id=zone.id, site=zone.site_id, code=zone.code, name=zone.name, cameras=[])


@router.put(
    "/{site_id}/cameras/{camera_id}/zone", response_model=CameraOut, responses=WRITE_RESPONSES
)
def set_camera_zone(
    site_id: str, camera_id: str, body: CameraZoneIn, scope: AdminScope, session: DbSession
) -> CameraOut:
    """Put a camera in a zone of its own site, or in none (``zone_id`` null); 404 for a
    camera beyond the admin's scope, 422 for a zone of another site. Audited as
    ``camera.zone`` (nothing is written when the camera stays where it is)."""
    site = _visible_site(session, scope, site_id)
    camera = session.get(Camera, (site.id, camera_id)) if len(camera_id) <= 64 else None
    if camera is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no camera {site.id}/{camera_id}")
    try:
        orgs.set_camera_zone(session, site.id, camera.camera_id, body.zone_id,
                             scope.user.username)  # fmt: skip
    except WireError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    session.commit()
    zone = session.get(Zone, camera.zone_id) if camera.zone_id is not None else None
    return CameraOut(site=camera.site_id, camera=camera.camera_id, name=camera.name,
                     zone=zone.code if zone else None, ptz=camera.ptz)  # fmt: skip
