"""Build the FastAPI application: state, routers and JSON error handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from central.api import (
    audit,
    auth,
    clipholds,
    clips,
    devices,
    events,
    health,
    loadingsessions,
    sites,
    tree,
    uploadrequests,
    users,
    zones,
)
from central.api.deps import limit_threads
from central.api.nulguard import RefuseNul
from central.blobs import FileBlobStore
from central.db.engine import Database
from central.settings import Settings
from central.web import mount_ui
from wire.errors import AuthError, ReeferWatchError, StoreError, WireError

log = logging.getLogger(__name__)


def _status_for(exc: ReeferWatchError) -> int:
    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, WireError):
        return 400
    if isinstance(exc, StoreError):
        return 503
    return 500


def pool_size(settings: Settings) -> int:
    """Database connections of one API process: one per thread and one to spare."""
    return settings.api_threads + 1


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    """The central API. Pass ``db`` to share one; otherwise the app opens and closes its own."""
    owns_db = db is None
    database = db or Database(settings.database_url, pool_size=pool_size(settings))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        limit_threads(settings.api_threads)
        try:
            yield
        finally:
            if owns_db:
                database.close()

    app = FastAPI(
        title="ReeferWatch central",
        version="1",
        description="Query events and clips recorded at packing sites (DESIGN §6).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.blobs = FileBlobStore(settings.data_dir)

    api = APIRouter(prefix="/api/v1")
    api.include_router(auth.router)
    api.include_router(events.router)
    api.include_router(clips.router)
    api.include_router(clipholds.router)
    api.include_router(loadingsessions.router)
    api.include_router(devices.router)
    api.include_router(sites.orgs_router)
    api.include_router(sites.router)
    api.include_router(zones.router)
    api.include_router(tree.orgs_router)
    api.include_router(tree.router)
    api.include_router(uploadrequests.router)
    api.include_router(users.router)
    api.include_router(audit.router)
    app.include_router(api)
    app.include_router(health.router)
    mount_ui(app)

    app.add_middleware(RefuseNul)  # a NUL in the path or query is a client error

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each problem, without echoing the input: a JSON body may carry text
        that cannot be encoded again (a lone surrogate), and the answer must not fail."""
        errors = [
            {"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(ReeferWatchError)
    async def _reeferwatch_error(_request: Request, exc: ReeferWatchError) -> JSONResponse:
        code = _status_for(exc)
        if code >= 500:
            log.error("request failed: %s", exc)
        return JSONResponse({"detail": str(exc)}, status_code=code)

    return app
