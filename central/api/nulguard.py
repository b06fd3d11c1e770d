"""Refuse a NUL in the URL (400) before any route sees it: no text in our databases holds
NUL (PostgreSQL refuses it with a 500). A plain ASGI middleware, so it costs one check per
request and does not wrap the response stream the way ``BaseHTTPMiddleware`` does."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

DETAIL = "NUL (%00) is not allowed in a URL"


def has_nul(scope: Scope) -> bool:
    """Does the request's path or query string carry a NUL, raw or percent-encoded?"""
    raw: bytes = scope.get("query_string", b"")
    return b"%00" in raw or b"\x00" in raw or "\x00" in scope.get("path", "")


class RefuseNul:
    """ASGI middleware: HTTP requests whose URL holds a NUL get a 400 ``{"detail": …}``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and has_nul(scope):
            await JSONResponse({"detail": DETAIL}, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)
