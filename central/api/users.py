"""``/api/v1/users``: administrators manage the accounts and camera grants of their subtree
(regulation Art. 8–10: "设置用户角色和分配权限").

Only admins may call these routes (403 for monitors). An admin sees and changes the users
whose org unit lies in their own subtree; a user beyond it answers 404, as if unknown. New
users go under a unit of that subtree; a grant names a camera of a site of that subtree and of
the grantee's. Nobody disables, demotes or moves their own account (409): a unit is never
left without its admin by a slip. An admin gives a user a new password when theirs is
forgotten (nobody can read one). Every change is an audit line (``user.add``, ``user.disable``,
``user.enable``, ``user.role``, ``user.move``, ``user.password_reset``, ``grant.add``,
``grant.revoke``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from central import orgs, users
from central.api.deps import DbSession, admin_only
from central.api.schemas import ADMIN_WRITE_RESPONSES, Problem
from central.api.tree import UnitCode, unit_in_scope
from central.authz import Scope
from central.db.models import Camera, Grant, OrgUnit, User
from central.security import MIN_PASSWORD_CHARS
from wire.errors import AuthError, StoreError

router = APIRouter(prefix="/users", tags=["users"])

MAX_LIMIT = 500
Role = Literal["admin", "monitor"]
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
RESPONSES = ADMIN_WRITE_RESPONSES


class UserOut(BaseModel):
    username: str
    role: Role
    org: str = Field(description="the code of the user's org unit")
    org_name: str
    disabled: bool
    created_at: datetime
    grants: int = Field(description="cameras granted (what a monitor may watch)")


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    role: Role
    org: UnitCode = Field(description="an org unit of your subtree")
    password: str = Field(
        min_length=MIN_PASSWORD_CHARS, max_length=256, description="the initial password"
    )


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool | None = None
    role: Role | None = None
    org: UnitCode | None = Field(
        default=None,
        description="move the user under this unit of your subtree; grants outside it end",
    )


class PasswordResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_password: str = Field(
        min_length=MIN_PASSWORD_CHARS, max_length=256, description="the user's new password"
    )


class GrantOut(BaseModel):
    site: str
    camera: str
    camera_name: str | None
    granted_by: str
    granted_at: datetime


AdminScope = Annotated[Scope, Depends(admin_only("only admins manage users"))]


def _not_found(username: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no user {username!r}")


def _in_scope(session: Session, scope: Scope, username: str) -> tuple[User, OrgUnit]:
    """The user and their unit, if within the admin's subtree (404 alike otherwise)."""
    row = session.execute(
        select(User, OrgUnit)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(User.username == username, scope.units_clause())
    ).first()
    if row is None:
        raise _not_found(username)
    return row[0], row[1]


def _user_out(user: User, unit: OrgUnit, grants: int) -> UserOut:
    return UserOut.model_validate(
        {"username": user.username, "role": user.role, "org": unit.code, "org_name": unit.name,
         "disabled": user.disabled, "created_at": user.created_at, "grants": grants}
    )  # fmt: skip


def _out(session: Session, user: User, unit: OrgUnit) -> UserOut:
    grants = session.scalar(select(func.count()).where(Grant.user_id == user.id))
    return _user_out(user, unit, grants or 0)


@router.get("", response_model=UserPage, responses={403: {"model": Problem}})
def list_users(
    scope: AdminScope,
    session: DbSession,
    org: Annotated[str | None, Query(max_length=64, description="only this unit")] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> UserPage:
    """The users of the admin's subtree, by user name."""
    grants = select(func.count()).where(Grant.user_id == User.id).scalar_subquery()
    query = (
        select(User, OrgUnit, grants)
        .join(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(scope.units_clause())
        .order_by(User.username)
        .limit(limit + 1)
    )
    if org is not None:
        query = query.where(OrgUnit.code == org)
    if cursor is not None:
        query = query.where(User.username > cursor)
    rows = session.execute(query).all()
    items = [_user_out(u, unit, count or 0) for u, unit, count in rows[:limit]]
    return UserPage(items=items, next_cursor=items[-1].username if len(rows) > limit else None)


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED,
             responses=RESPONSES)  # fmt: skip
def create_user(body: UserIn, scope: AdminScope, session: DbSession) -> UserOut:
    """A user under a unit of the admin's subtree (404 beyond it, 409 for a name in use)."""
    unit = unit_in_scope(session, scope, body.org)
    try:
        user = users.add_user(session, body.username, body.password, body.role,
                              scope.user.username, org=unit.code)  # fmt: skip
    except StoreError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    except AuthError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    session.commit()
    return _out(session, user, unit)


@router.get("/{username}", response_model=UserOut, responses=RESPONSES)
def get_user(username: str, scope: AdminScope, session: DbSession) -> UserOut:
    return _out(session, *_in_scope(session, scope, username))


@router.patch("/{username}", response_model=UserOut, responses=RESPONSES)
def change_user(username: str, body: UserPatch, scope: AdminScope,
                session: DbSession) -> UserOut:  # fmt: skip
    """Disable (its sessions end at once) or enable a user; change their role; move them
    under another unit of the subtree (their grants outside its subtree end)."""
    user, unit = _in_scope(session, scope, username)
    demoted = body.role is not None and body.role != user.role
    moved = body.org is not None and body.org != unit.code
    if user.id == scope.user.id and (body.disabled or demoted or moved):
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="you cannot disable, demote or move your own account"
        )
    target = unit_in_scope(session, scope, body.org) if body.org is not None and moved else unit
    actor = scope.user.username
    if body.disabled is not None:
        users.set_disabled(session, user.username, body.disabled, actor)
    if body.role is not None:
        users.set_role(session, user, body.role, actor)
    if moved:
        orgs.move_user(session, user.username, target.code, actor)
    session.commit()
    return _out(session, user, target)


@router.put("/{username}/password", status_code=status.HTTP_204_NO_CONTENT,
            responses=RESPONSES)  # fmt: skip
def reset_password(username: str, body: PasswordResetIn, scope: AdminScope,
                   session: DbSession) -> Response:  # fmt: skip
    """Give a user of the subtree a new password (a forgotten one); their sessions end. Your
    own password changes with ``PUT /auth/password`` (409 here), which asks for the current
    one."""
    user, _ = _in_scope(session, scope, username)
    if user.id == scope.user.id:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="change your own password with PUT /auth/password"
        )
    try:
        users.reset_password(session, user, body.new_password, scope.user.username)
    except AuthError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{username}/grants", response_model=list[GrantOut], responses=RESPONSES)
def list_grants(username: str, scope: AdminScope, session: DbSession) -> list[GrantOut]:
    """The cameras a user may watch and play back, by site and camera."""
    user, _ = _in_scope(session, scope, username)
    same_camera = and_(Camera.site_id == Grant.site_id, Camera.camera_id == Grant.camera_id)
    rows = session.execute(
        select(Grant, Camera.name)
        .outerjoin(Camera, same_camera)
        .where(Grant.user_id == user.id)
        .order_by(Grant.site_id, Grant.camera_id)
    ).all()
    return [
        GrantOut(
            site=g.site_id,
            camera=g.camera_id,
            camera_name=name,
            granted_by=g.granted_by,
            granted_at=g.granted_at,
        )  # fmt: skip
        for g, name in rows
    ]


def _camera_in_scope(session: Session, scope: Scope, site_id: str, camera_id: str) -> Camera:
    camera = (
        session.get(Camera, (site_id, camera_id))
        if len(site_id) <= 64 and len(camera_id) <= 64
        else None
    )
    if camera is None or not scope.allows(session, site_id, camera_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no camera {site_id}/{camera_id}")
    return camera


@router.put("/{username}/grants/{site_id}/{camera_id}", response_model=GrantOut,
            responses=RESPONSES)  # fmt: skip
def grant_camera(username: str, site_id: str, camera_id: str, scope: AdminScope,
                 session: DbSession) -> GrantOut:  # fmt: skip
    """Let a user watch one camera of the admin's subtree (idempotent); 422 if the camera's
    site lies outside the user's own unit."""
    user, _ = _in_scope(session, scope, username)
    camera = _camera_in_scope(session, scope, site_id, camera_id)
    try:
        grant = orgs.grant_camera(session, user.username, site_id, camera_id,
                                  scope.user.username)  # fmt: skip
    except StoreError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    session.commit()
    return GrantOut(site=grant.site_id, camera=grant.camera_id, camera_name=camera.name,
                    granted_by=grant.granted_by, granted_at=grant.granted_at)  # fmt: skip


@router.delete("/{username}/grants/{site_id}/{camera_id}",
               status_code=status.HTTP_204_NO_CONTENT, responses=RESPONSES)  # fmt: skip
def revoke_grant(username: str, site_id: str, camera_id: str, scope: AdminScope,
                 session: DbSession) -> Response:  # fmt: skip
    """Take one camera from a user (404 if they do not hold it)."""
    user, _ = _in_scope(session, scope, username)
    _camera_in_scope(session, scope, site_id, camera_id)
    if not orgs.revoke_camera(session, user.username, site_id, camera_id, scope.user.username):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"{username} holds no grant of {site_id}/{camera_id}"
        )
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
