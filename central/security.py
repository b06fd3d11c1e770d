"""Passwords (argon2id); access, refresh and media tokens (JWT, HS256)."""

from __future__ import annotations

import functools
import hashlib
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


VERIFIED_TOKENS = 4096  # access tokens kept verified (each a few hundred bytes)


@dataclass(frozen=True)
class TokenClaims:
    sub: str
    role: str
    exp: datetime
    jti: str
    sid: str  # the session (``central.auth.sessions``) the token was issued in


def issue_token(
    secret: str, username: str, role: str, session_id: str, issued: datetime, expires: datetime
) -> tuple[str, int]:
    """An access token of session ``session_id``; return (token, expires_in seconds)."""
    claims = {
        "sub": username,
        "role": role,
        "sid": session_id,
        "iat": issued,
        "exp": expires,
        "jti": uuid.uuid4().hex,
    }
    expires_in = max(0, round((expires - issued).total_seconds()))
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires_in


def decode_token(secret: str, token: str) -> TokenClaims:
    """The claims of a valid, unexpired access token (``AuthError`` otherwise). A token seen
    before is not verified again: its signature cannot change, only its expiry is checked
    (every API request presents one; verifying took a sixth of the clip list's auth)."""
    claims = _verified(secret, token)
    if claims.exp <= datetime.now(timezone.utc):
        raise AuthError("token expired")
    return claims


@functools.lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(secret: str, token: str) -> TokenClaims:
    """Verify once (refusals raise, and are not kept)."""
    try:
        data = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "jti", "sid"]},
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
        sid=str(data["sid"]),
    )


REFRESH_AUDIENCE = "reeferwatch-refresh"


@dataclass(frozen=True)
class RefreshClaims:
    sid: str
    gen: int  # how many times the session's refresh token had rotated when this one was issued


def issue_refresh_token(secret: str, session_id: str, generation: int, expires: datetime) -> str:
    """A refresh token of one session and generation. Central keeps only its digest."""
    claims = {
        "sid": session_id,
        "gen": generation,
        "aud": REFRESH_AUDIENCE,
        "exp": expires,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_refresh_token(secret: str, token: str) -> RefreshClaims:
    try:
        data = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=REFRESH_AUDIENCE,
            options={"require": ["sid", "gen", "exp", "aud", "jti"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("refresh token expired: sign in again") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid refresh token: {exc}") from exc
    if not isinstance(data["gen"], int):
        raise AuthError("invalid refresh token: gen is not an integer")
    return RefreshClaims(sid=str(data["sid"]), gen=data["gen"])


def token_digest(token: str) -> str:
    """SHA-256 (hex) of a high-entropy token: what the database keeps instead of it."""
    return hashlib.sha256(token.encode()).hexdigest()


MEDIA_AUDIENCE = "reeferwatch-media"


@dataclass(frozen=True)
class MediaClaims:
    sub: str
    iat: datetime
    sid: str | None  # the issuing session, when the caller named it


def issue_media_token(
    secret: str, username: str, clip_id: str, seconds: int, session_id: str | None = None
) -> tuple[str, datetime]:
    """A short-lived token good for streaming one clip only (for ``<video src>``).

    It carries an audience, so it is refused as a bearer token for anything else.
    """
    now = datetime.now(timezone.utc)
    expires = now + timedelta(seconds=seconds)
    claims: dict[str, object] = {
        "sub": username,
        "clip": clip_id,
        "aud": MEDIA_AUDIENCE,
        "iat": now.timestamp(),  # fractional: compared with session start times
        "exp": expires,
    }
    if session_id is not None:
        claims["sid"] = session_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


def decode_media_token(secret: str, token: str, clip_id: str) -> MediaClaims:
    """Who a media token was issued to, and when, if it is valid for ``clip_id``."""
    try:
        data = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=MEDIA_AUDIENCE,
            options={"require": ["sub", "exp", "iat", "clip", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("media link expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid media link: {exc}") from exc
    if data["clip"] != clip_id:
        raise AuthError("media link is for another clip")
    sid = data.get("sid")
    return MediaClaims(
        sub=str(data["sub"]),
        iat=datetime.fromtimestamp(float(data["iat"]), timezone.utc),
        sid=None if sid is None else str(sid),
    )
