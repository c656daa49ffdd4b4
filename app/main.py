"""The application factory. Nothing connects or reads the environment at import time."""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware

from app.admin import checklists as checklists_admin
from app.admin import rounds as rounds_admin
from app.auth import admin_routes, token_routes
from app.auth import routes as auth_routes
from app.auth.entra import Entra
from app.checklists import loader as checklist_loader
from app.config import Settings, get_settings
from app.db import DbGate, make_engine, session_for
from app.excel import api as excel_api
from app.excel import routes as excel_routes
from app.jpdate import today_jst
from app.kpis import api as kpi_api
from app.kpis import caps_routes as kpi_caps_routes
from app.kpis import import_routes as kpi_import_routes
from app.kpis import loader as kpi_loader
from app.kpis import routes as kpi_routes
from app.kpis.catalogue import Catalogue
from app.notify import routes as notify_routes
from app.reorg import routes as reorg_routes
from app.reorg import service as reorg_service
from app.reports import api as reports_api
from app.reports import routes as reports_routes
from app.rounds import api as rounds_api
from app.sheets import api as sheets_api
from app.sheets import (
    evidence_api,
    evidence_routes,
    history_api,
    history_routes,
    previous_api,
    previous_routes,
    review_api,
    review_routes,
)
from app.sheets import routes as sheets_routes
from app.support import api as support_api
from app.support import routes as support_routes
from app.trend import api as trend_api
from app.trend import routes as trend_routes
from app.web import errors, openapi
from app.web import routes as web_routes
from app.web.middleware import BodyLimit, SecurityHeaders
from app.web.templating import make_templates, static_dir

SESSION_COOKIE = "paperless_session"
UPLOAD_PREFIXES = ("/admin/", "/desk/figures/import", evidence_routes.UPLOAD_PREFIX)
# Pages, JSON and CSV of 500 bytes or more are sent gzip-compressed to clients that accept it; XLSX is a
# zip already. Compression is safe with secrets in pages because the CSRF token is masked afresh on every
# response (app/web/session.py). Level 3, the highest of zlib's fast (greedy) levels: a 100–170 KB desk page
# in 0.3–0.6 ms instead of level 6's 0.7–1.4 ms, for 12–18 % more bytes (the heatmap page 13.7 KB instead of
# 11.6 KB): at prefecture scale the server's CPU is what runs out, not the network.
GZIP_MIN_BYTES = 500
GZIP_LEVEL = 3


def _apply_due_reorgs(engine) -> None:
    """A reorganisation scheduled for today or earlier is applied when a process starts (and daily by
    ``paperless reorg-apply-due``). Start-up goes on if this fails (the database down): logged, tried again."""
    log = logging.getLogger("app.reorg")
    try:
        done = reorg_service.apply_due(lambda: session_for(engine, write=True), today_jst(), label="自動適用（起動時）")
    except Exception:  # noqa: BLE001 — never stop the app from starting
        log.exception("scheduled reorganisations could not be applied at start-up")
        return
    for row, result in done:
        log.info("scheduled reorganisation %s (effective %s): %s", row.id, row.effective_on,
                 "applied" if result else f"not applied: {row.message}")


def _freeze_startup_objects() -> None:
    """Move what start-up built (modules, the app, its routes and models: ~220,000 objects) out of the
    garbage collector's sight. Each full collection otherwise walks all of them (~130 ms, one request in a
    few hundred, ~0.5 ms a request on average at prefecture scale); they live as long as the process.
    Both are constant-time (no collection here: the tests start an app per test); shutdown unfreezes, so
    that a process that starts and stops apps can collect them."""
    gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.check()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # A broken checklist file stops start-up here, naming the file, the item and the field.
    checklist_files = checklist_loader.load_directory(settings.checklists_dir)
    # The same for the figure definitions (実績値), whose linked items must exist in the checklists.
    kpi_files = kpi_loader.load_directory(settings.kpis_dir, checklist_keys=kpi_loader.keys_of(checklist_files))
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size,
                         wait_seconds=settings.db_wait_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        _apply_due_reorgs(engine)  # the notice sender is a process of `paperless serve` (app.notify.process)
        _freeze_startup_objects()
        yield
        gc.unfreeze()
        engine.dispose()

    app = FastAPI(
        title="ペーパーレス化状況チェック API",
        version="1",
        description=openapi.DESCRIPTION,
        docs_url=None,  # Swagger UI would load from a CDN; closed networks get the schema only
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.db_gate = DbGate.for_engine(engine)
    app.state.templates = make_templates(strict=settings.env != "production", reload=settings.env == "development")
    app.state.checklist_files = checklist_files
    app.state.kpi_files = kpi_files
    app.state.kpis = Catalogue.of(kpi_files)  # the newest version of each set: the figures in force
    app.state.entra = Entra(settings) if settings.auth == "msal" else None  # connects on first use only

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret(),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_minutes * 60,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, excel_api.XLSX))
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, upload_limit=settings.max_upload_bytes,
                       upload_prefixes=UPLOAD_PREFIXES)
    app.add_middleware(SecurityHeaders, hsts=settings.env == "production")

    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    for module in (web_routes, auth_routes, sheets_api, rounds_api, trend_api, sheets_routes,
                   admin_routes, rounds_admin, checklists_admin, reorg_routes, support_api,
                   trend_routes, support_routes, history_api, history_routes, excel_api, excel_routes,
                   token_routes, reports_api, reports_routes, previous_api, previous_routes, review_routes,
                   review_api, kpi_routes, kpi_import_routes, kpi_api, notify_routes, evidence_routes,
                   evidence_api):
        app.include_router(module.router)
    app.include_router(auth_routes.callback_router)
    app.include_router(excel_api.analysis_router)
    app.include_router(kpi_caps_routes.router)
    app.include_router(kpi_caps_routes.api_router)
    errors.install(app)
    openapi.install(app)
    return app
