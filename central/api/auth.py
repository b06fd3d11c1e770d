"""``POST /api/v1/auth/token``: OAuth2 password form in, bearer JWT out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm

from central import audit
from central.api.deps import AppSettings, DbSession
from central.api.schemas import Problem, TokenOut
from central.security import issue_token
from central.users import authenticate
from wire.errors import AuthError

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut, responses={401: {"model": Problem}})
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: DbSession,
    settings: AppSettings,
) -> TokenOut:
    try:
        user = authenticate(session, form.username, form.password)
    except AuthError as exc:
        audit.append(session, form.username[:64] or "-", "auth.fail", form.username[:128])
        session.commit()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=str(exc), headers={"WWW-Authenticate": "Bearer"}
        ) from exc
    access, expires_in = issue_token(
        settings.secret(), user.username, user.role, settings.access_token_minutes
    )
    audit.append(session, user.username, "auth.login", user.username)
    session.commit()
    return TokenOut(access_token=access, expires_in=expires_in)
