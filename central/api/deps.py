"""Dependencies shared by the routers. ``UserScope`` is the single point where every
``/api/v1`` request is authenticated (``CurrentUser`` and ``CurrentSession`` come from it) and
what every read is filtered by (``central.authz``).

A sync dependency runs in the thread pool, one hand-off per dependency, so every dependency
is ``async`` and the request's database work before the route runs where ``dbwork`` puts it
(inline on SQLite, one thread hand-off otherwise): the session, its user and their org unit
in one query, then the checks (token signature and expiry, session unknown, revoked or
expired, user unknown or disabled, token of another user's session) and the scope on the
loaded rows. The pool is capped at ``Settings.api_threads`` (``limit_threads``, from the
app's lifespan).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from anyio import CancelScope, CapacityLimiter, to_thread
from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from central.api import dbwork
from central.auth import sessions
from central.authz import Scope
from central.blobs import FileBlobStore
from central.db.engine import Database
from central.db.models import AuthSession, OrgUnit, User
from central.db.types import utcnow
from central.security import decode_media_token, decode_token
from central.settings import Settings
from wire.errors import AuthError

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

# Threads for the sync routes and dependencies of one API process (anyio's default: 40), by
# default; ``REEFERWATCH_API_THREADS`` (``Settings.api_threads``) sets it.
# Python runs one thread at a time, so more threads than requests that wait on the database
# only add hand-offs of the interpreter lock between them: under 16 keep-alive connections
# on 2 processes the clip list took 4–5 ms of CPU per request with 40 threads, ~3 with 4.
# Four leave room for a slow request (a PDF, a long page) while the others are served.
# A request holds a database connection only inside a thread (``bearer_scope`` ends its
# transaction; ``get_session`` closes outside the cap), so however many requests queue for a
# thread, none waits for a connection that a queued request holds; the app's database pool
# holds one connection more than there are threads (``create_app``).
API_THREADS = 4


def limit_threads(threads: int = API_THREADS) -> None:
    """Cap the event loop's thread pool at ``threads`` (call it on the serving loop)."""
    to_thread.current_default_thread_limiter().total_tokens = threads


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_blobs(request: Request) -> FileBlobStore:
    blobs: FileBlobStore = request.app.state.blobs
    return blobs


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's ORM session. Opening one does no I/O (it connects at its first
    statement). Closing it returns the connection: inline on SQLite (a local rollback);
    otherwise in a thread, outside the thread cap (a request holding a connection never
    waits for a thread to give it back) and shielded from cancellation (a dropped client
    still returns it)."""
    db: Database = request.app.state.db
    session = db.session()
    try:
        yield session
    finally:
        if dbwork.inline(session):
            session.close()  # SQLite: a local rollback, no round trip
        else:
            with CancelScope(shield=True):
                await to_thread.run_sync(session.close, limiter=CapacityLimiter(1))


AppSettings = Annotated[Settings, Depends(get_settings)]
Blobs = Annotated[FileBlobStore, Depends(get_blobs)]
DbSession = Annotated[Session, Depends(get_session)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _preload(
    session: Session, session_id: str, username: str
) -> Row[AuthSession, User, OrgUnit] | None:
    """The session row, the user named ``username`` (or None) and their org unit (or None),
    in one query. While the caller holds the row (the identity map keeps objects only as long
    as something refers to them), ``sessions.live`` and ``Scope.of`` find them there without
    asking the database again."""
    if len(session_id) > 32:  # never a session id (``sessions.live`` refuses it)
        return None
    return session.execute(
        select(AuthSession, User, OrgUnit)
        .select_from(AuthSession)
        .outerjoin(User, User.username == username)
        .outerjoin(OrgUnit, OrgUnit.id == User.org_unit_id)
        .where(AuthSession.id == session_id)
    ).first()


def _authenticate(
    request: Request, token: str | None, settings: Settings, session: Session
) -> tuple[Scope, AuthSession]:
    """The scope (``central.authz``) of the authenticated, active user behind the bearer
    token, whose session is live (neither revoked nor expired; 401 otherwise), and that
    session, left in ``request.state``. Reads only."""
    if not token:
        raise _unauthorized("not authenticated: send Authorization: Bearer <token>")
    try:
        claims = decode_token(settings.secret(), token)
        loaded = _preload(session, claims.sid, claims.sub)
        auth = sessions.live(session, claims.sid, utcnow())  # no row loaded: it raises
    except AuthError as exc:
        raise _unauthorized(str(exc)) from exc
    user: User | None = loaded[1] if loaded is not None else None
    if user is None or user.disabled:
        raise _unauthorized("user is unknown or disabled")
    if auth.user_id != user.id:
        raise _unauthorized("token does not belong to its session")
    request.state.auth_session = auth
    scope = Scope.of(session, user)
    del loaded  # held until here for the identity map
    return scope, auth


def _touch_and_end(session: Session, auth: AuthSession) -> None:
    """Stamp the session's use (at most once a minute) and end the transaction: the
    connection goes back to the pool until the route's first statement, while the request
    waits for a thread (the cap). The rows stay loaded (no expiry on commit)."""
    sessions.touch(session, auth, utcnow())
    session.commit()


def bearer_scope(
    request: Request, token: str | None, settings: Settings, session: Session
) -> Scope:
    """``_authenticate`` and ``_touch_and_end`` in one call (a thread's)."""
    scope, auth = _authenticate(request, token, settings, session)
    _touch_and_end(session, auth)
    return scope


def _active_user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar()
    if user is None or user.disabled:
        raise _unauthorized("user is unknown or disabled")
    return user


async def user_scope(
    request: Request,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    settings: AppSettings,
    session: DbSession,
) -> Scope:
    """The authenticated user (``bearer_scope``) and what they may see: every ``/api/v1``
    route but sign-in depends on it, directly or through ``CurrentUser``. On SQLite the
    reads run inline and only a due "last used" stamp goes to a thread (``dbwork``)."""
    if not dbwork.inline(session):
        return await to_thread.run_sync(bearer_scope, request, token, settings, session)
    scope, auth = _authenticate(request, token, settings, session)
    if sessions.touch_due(auth, utcnow()):
        await to_thread.run_sync(_touch_and_end, session, auth)
    else:
        session.commit()  # ends the read transaction; nothing to write
    return scope


UserScope = Annotated[Scope, Depends(user_scope)]


def admin_only(refusal: str) -> Callable[[Scope], Awaitable[Scope]]:
    """A dependency: the caller's scope if they are an admin, else 403 with ``refusal``
    (administration is the admins', regulation Art. 10). ``async``: no thread hand-off."""

    async def admin(scope: UserScope) -> Scope:
        if not scope.is_admin:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=refusal)
        return scope

    return admin


async def current_user(scope: UserScope) -> User:
    """The authenticated, active user (``user_scope`` checked the token and session)."""
    return scope.user


CurrentUser = Annotated[User, Depends(current_user)]


async def current_session(request: Request, _user: CurrentUser) -> AuthSession:
    """The live session of the bearer token (``user_scope`` checked it)."""
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
        return bearer_scope(request, token, settings, session).user
    try:
        media = decode_media_token(settings.secret(), sig, clip_id)
    except AuthError as exc:
        raise _unauthorized(str(exc)) from exc
    user = _active_user(session, media.sub)
    try:
        sessions.check_media_link(session, user.id, media.sid, media.iat, utcnow())
    except AuthError as exc:
        raise _unauthorized(str(exc)) from exc
    session.commit()  # as ``bearer_scope``: no connection held while waiting for a thread
    return user


VideoViewer = Annotated[User, Depends(video_viewer)]
