"""Dependencies shared by the routers. ``CurrentUser`` is the single point where every
``/api/v1`` request is authenticated; ``UserScope`` (``central.authz``) is what every read
is filtered by."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from central.auth import sessions
from central.authz import Scope
from central.blobs import FileBlobStore
from central.db.engine import Database
from central.db.models import AuthSession, User
from central.db.types import utcnow
from central.security import decode_media_token, decode_token
from central.settings import Settings
from wire.errors import AuthError

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_blobs(request: Request) -> FileBlobStore:
    blobs: FileBlobStore = request.app.state.blobs
    return blobs


def get_session(request: Request) -> Iterator[Session]:
    db: Database = request.app.state.db
    with db.session() as session:
        yield session


AppSettings = Annotated[Settings, Depends(get_settings)]
Blobs = Annotated[FileBlobStore, Depends(get_blobs)]
DbSession = Annotated[Session, Depends(get_session)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def current_user(
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    settings: AppSettings,
    session: DbSession,
) -> User:
    """The authenticated, active user behind the bearer token, whose session is live (neither
    revoked nor expired; 401 otherwise). The session is left in ``request.state``."""
    if not token:
        raise _unauthorized("not authenticated: send Authorization: Bearer <token>")
    now = utcnow()
    try:
        claims = decode_token(settings.secret(), token)
        auth = sessions.live(session, claims.sid, now)
    except AuthError as exc:
        raise _unauthorized(str(exc)) from exc
    user = _active_user(session, claims.sub)
    if auth.user_id != user.id:
        raise _unauthorized("token does not belong to its session")
    if sessions.touch(session, auth, now):
        session.commit()
    request.state.auth_session = auth
    return user


def _active_user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar()
    if user is None or user.disabled:
        raise _unauthorized("user is unknown or disabled")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def current_session(request: Request, _user: CurrentUser) -> AuthSession:
    """The live session of the bearer token (``current_user`` checked it)."""
    auth: AuthSession = request.state.auth_session
    return auth


CurrentSession = Annotated[AuthSession, Depends(current_session)]


def video_viewer(
    request: Request,
    clip_id: str,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    settings: AppSettings,
    session: DbSession,
    sig: Annotated[
        str | None, Query(max_length=1024, description="signed media link from /video-url")
    ] = None,
) -> User:
    """The user streaming a clip: by bearer token, or by a media link signed for this clip.

    A ``<video>`` element cannot send an Authorization header, so the UI asks for a
    short-lived link bound to one clip and one user instead; it dies with the session.
    """
    if token or not sig:
        return current_user(request, token, settings, session)
    try:
        media = decode_media_token(settings.secret(), sig, clip_id)
    except AuthError as exc:
        raise _unauthorized(str(exc)) from exc
    user = _active_user(session, media.sub)
    try:
        sessions.check_media_link(session, user.id, media.sid, media.iat, utcnow())
    except AuthError as exc:
        raise _unauthorized(str(exc)) from exc
    return user


VideoViewer = Annotated[User, Depends(video_viewer)]


def user_scope(user: CurrentUser, session: DbSession) -> Scope:
    """What the authenticated user may see (``central.authz``); every read route uses it."""
    return Scope.of(session, user)


UserScope = Annotated[Scope, Depends(user_scope)]
