"""Access, refresh and media tokens: each is refused where another kind is expected."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from central.security import (
    decode_media_token,
    decode_refresh_token,
    decode_token,
    issue_media_token,
    issue_refresh_token,
    issue_token,
    token_digest,
)
from wire.errors import AuthError

SECRET = "s" * 40


def now() -> datetime:
    """Taken in each test: a time taken at import is long past when a slow run gets here."""
    return datetime.now(timezone.utc)


def test_access_token_carries_its_session_and_lifetime() -> None:
    start = now()
    token, expires_in = issue_token(
        SECRET, "mona", "monitor", "a" * 32, start, start + timedelta(minutes=15)
    )
    assert expires_in == 900
    claims = decode_token(SECRET, token)
    assert (claims.sub, claims.role, claims.sid) == ("mona", "monitor", "a" * 32)
    with pytest.raises(AuthError, match="invalid token"):
        decode_token("t" * 40, token)
    past, _ = issue_token(SECRET, "mona", "monitor", "a" * 32, start, start - timedelta(seconds=1))
    with pytest.raises(AuthError, match="token expired"):
        decode_token(SECRET, past)


def test_refresh_token_is_not_an_access_or_media_token() -> None:
    start = now()
    refresh = issue_refresh_token(SECRET, "b" * 32, 3, start + timedelta(hours=12))
    claims = decode_refresh_token(SECRET, refresh)
    assert (claims.sid, claims.gen) == ("b" * 32, 3)
    with pytest.raises(AuthError):
        decode_token(SECRET, refresh)
    with pytest.raises(AuthError):
        decode_media_token(SECRET, refresh, "clip")
    minute = start + timedelta(minutes=1)
    access, _ = issue_token(SECRET, "mona", "monitor", "b" * 32, start, minute)
    with pytest.raises(AuthError, match="invalid refresh token"):
        decode_refresh_token(SECRET, access)
    expired = issue_refresh_token(SECRET, "b" * 32, 0, start - timedelta(seconds=1))
    with pytest.raises(AuthError, match="refresh token expired"):
        decode_refresh_token(SECRET, expired)


def test_media_token_records_when_and_in_which_session_it_was_issued() -> None:
    before = datetime.now(timezone.utc)
    token, _ = issue_media_token(SECRET, "mona", "clip-1", 300, session_id="c" * 32)
    after = datetime.now(timezone.utc)
    claims = decode_media_token(SECRET, token, "clip-1")
    assert claims.sub == "mona" and claims.sid == "c" * 32
    tick = timedelta(milliseconds=1)  # not rounded to whole seconds: compared to session starts
    assert before - tick <= claims.iat <= after + tick
    bare, _ = issue_media_token(SECRET, "mona", "clip-1", 300)
    assert decode_media_token(SECRET, bare, "clip-1").sid is None


def test_digest_is_sha256_hex() -> None:
    assert token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_a_token_verified_before_is_still_refused_once_it_expires() -> None:
    start = datetime.now(timezone.utc)
    token, _ = issue_token(SECRET, "mona", "monitor", "d" * 32, start, start + timedelta(seconds=2))
    claims = decode_token(SECRET, token)  # verified, and kept verified
    assert decode_token(SECRET, token) is claims
    deadline = time.monotonic() + 5
    while datetime.now(timezone.utc) < claims.exp:
        assert time.monotonic() < deadline, "the clock did not pass the token's expiry"
        time.sleep(0.05)
    with pytest.raises(AuthError, match="token expired"):
        decode_token(SECRET, token)
    with pytest.raises(AuthError, match="invalid token"):
        decode_token("t" * 40, token)
