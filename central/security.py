"""Passwords (argon2id) and access tokens (JWT, HS256)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wire.errors import AuthError

ALGORITHM = "HS256"
MIN_PASSWORD_CHARS = 12
ROLES = ("admin", "monitor")

_hasher = PasswordHasher()  # argon2id with the library's current parameters


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AuthError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A real hash to verify against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash("reeferwatch-no-such-user")


def burn_time(password: str) -> None:
    verify_password(_DUMMY_HASH, password)


@dataclass(frozen=True)
class TokenClaims:
    sub: str
    role: str
    exp: datetime
    jti: str


def issue_token(secret: str, username: str, role: str, minutes: int) -> tuple[str, int]:
    """Return (token, expires_in seconds)."""
    now = datetime.now(timezone.utc)
    claims = {
        "sub": username,
        "role": role,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), minutes * 60


def decode_token(secret: str, token: str) -> TokenClaims:
    try:
        data = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "jti"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from exc
    return TokenClaims(
        sub=str(data["sub"]),
        role=str(data.get("role", "")),
        exp=datetime.fromtimestamp(int(data["exp"]), timezone.utc),
        jti=str(data["jti"]),
    )


MEDIA_AUDIENCE = "reeferwatch-media"


def issue_media_token(
    secret: str, username: str, clip_id: str, seconds: int
) -> tuple[str, datetime]:
    """A short-lived token good for streaming one clip only (for ``<video src>``).

    It carries an audience, so it is refused as a bearer token for anything else.
    """
    expires = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    claims = {"sub": username, "clip": clip_id, "aud": MEDIA_AUDIENCE, "exp": expires}
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


def decode_media_token(secret: str, token: str, clip_id: str) -> str:
    """The user name a media token was issued to, if it is valid for ``clip_id``."""
    try:
        data = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=MEDIA_AUDIENCE,
            options={"require": ["sub", "exp", "clip", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("media link expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid media link: {exc}") from exc
    if data["clip"] != clip_id:
        raise AuthError("media link is for another clip")
    return str(data["sub"])
