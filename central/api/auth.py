"""``/api/v1/auth``: sign in (OAuth2 password form), refresh, sign out, change one's password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Header, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from central.api import auth_sessions
from central.api.deps import AppSettings, CurrentSession, CurrentUser, DbSession
from central.api.schemas import Problem, TokenOut
from central.auth import login
from central.auth.password import WrongPassword, change_password
from central.auth.sessions import Tokens
from central.auth.throttle import LoginThrottled
from wire.errors import AuthError

router = APIRouter(prefix="/auth", tags=["auth"])
router.include_router(auth_sessions.router)

TerminalHeader = Annotated[
    str | None,
    Header(
        alias="X-ReeferWatch-Terminal",
        max_length=200,
        description="the secret of this registered terminal",
    ),
]
TerminalField = Annotated[
    str | None,
    Form(max_length=200, description="the secret of this registered terminal (or the header)"),
]
AUTH_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": Problem},
    429: {"model": Problem, "description": "locked user name or rate-limited address"},
}


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refused(exc: AuthError) -> HTTPException:
    if isinstance(exc, LoginThrottled):
        return HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=str(exc),
            headers={"Retry-After": str(exc.retry_after)},
        )
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}
    )


def _out(tokens: Tokens, terminal: str | None = None) -> TokenOut:
    return TokenOut(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        refresh_expires_in=tokens.refresh_expires_in,
        session_id=tokens.session_id,
        terminal=terminal,
    )


@router.post("/token", response_model=TokenOut, responses=AUTH_RESPONSES)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: DbSession,
    settings: AppSettings,
    terminal: TerminalField = None,
    terminal_header: TerminalHeader = None,
) -> TokenOut:
    """Sign in: a short-lived access token and a one-use refresh token of a new session.
    A user bound to terminals must send one's secret (form field ``terminal`` or header)."""
    creds = login.Credentials(
        username=form.username,
        password=form.password,
        client=client_address(request),
        terminal_secret=terminal or terminal_header,
    )
    try:
        signed_in = login.sign_in(session, settings, creds)
    except AuthError as exc:
        raise _refused(exc) from exc
    name = signed_in.terminal.name if signed_in.terminal else None
    return _out(signed_in.tokens, name)


@router.post("/refresh", response_model=TokenOut, responses=AUTH_RESPONSES)
def refresh(
    request: Request,
    refresh_token: Annotated[str, Form(max_length=2048)],
    session: DbSession,
    settings: AppSettings,
    grant_type: Annotated[str | None, Form(pattern="^refresh_token$")] = None,
    terminal: TerminalField = None,
    terminal_header: TerminalHeader = None,
) -> TokenOut:
    """Trade the refresh token for new access and refresh tokens of the same session. Each
    refresh token works once: presenting one again revokes the session (token theft)."""
    try:
        tokens = login.refresh(
            session, settings, refresh_token, terminal or terminal_header, client_address(request)
        )
    except AuthError as exc:
        raise _refused(exc) from exc
    return _out(tokens)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses={401: {"model": Problem}})
def logout(user: CurrentUser, current: CurrentSession, session: DbSession) -> Response:
    """Revoke the session of the bearer token (its refresh token and every access token)."""
    login.sign_out(session, user, current, user.username, "logout")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


PASSWORD_RESPONSES: dict[int | str, dict[str, object]] = {
    **AUTH_RESPONSES,
    403: {"model": Problem, "description": "the current password is wrong"},
    422: {"model": Problem},
}


@router.put("/password", status_code=status.HTTP_204_NO_CONTENT, responses=PASSWORD_RESPONSES)
def password(
    request: Request,
    body: PasswordIn,
    user: CurrentUser,
    current: CurrentSession,
    session: DbSession,
    settings: AppSettings,
) -> Response:
    """Change the caller's password. A wrong current password counts as a failed sign-in
    (lockout); the user's other sessions end; this one stays."""
    try:
        change_password(session, settings, user, current.id, body.current_password,
                        body.new_password, client_address(request))  # fmt: skip
    except WrongPassword as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(exc)) from exc
    except LoginThrottled as exc:
        raise _refused(exc) from exc
    except AuthError as exc:
        session.rollback()
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from exc
    return Response(status_code=status.HTTP_204_NO_CONTENT)
