"""`create_app()`: the one place that wires routes, dependencies, middleware, templates and error handling."""

from __future__ import annotations

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.template import TemplateConfig

from backend.database import Database, to_async_url
from backend.logs import configure_logging
from backend.ops import HealthController
from backend.paths import PWA_DIR
from backend.settings import Settings, SettingsError, load_settings
from backend.shell import PwaController, ShellController, static_files_router
from backend.web.assets import Assets
from backend.web.dependencies import app_dependencies
from backend.web.error_responses import handle_exception
from backend.web.requests import RequestContextMiddleware, add_request_id_header
from backend.web.security import security_headers
from backend.web.templating import create_template_engine

MAX_BODY_BYTES = 10 * 1024 * 1024  # contract §3.2: larger hospital pushes answer 413


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    if settings.database_url is None:
        raise SettingsError(
            "DATABASE_URL is not set: start the app with `healthbook serve`, which provides one"
        )
    configure_logging(settings)
    database = Database(to_async_url(settings.database_url))
    assets = Assets(PWA_DIR)

    return Litestar(
        route_handlers=[ShellController, PwaController, HealthController, static_files_router()],
        state=State({"settings": settings, "database": database, "assets": assets}),
        dependencies=app_dependencies(),
        middleware=[RequestContextMiddleware()],
        before_send=[security_headers(settings), add_request_id_header],
        exception_handlers={Exception: handle_exception},
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name=f"{settings.cookie_prefix}csrf",
            cookie_secure=settings.secure_origin,
            cookie_httponly=True,
            cookie_samesite="lax",
            header_name="x-csrf-token",
            # Machines sign their requests, and the API checks CSRF where it accepts the session cookie.
            exclude=["^/api/", "^/static/", "^/healthz$", "^/sw.js$", "^/manifest.webmanifest$"],
        ),
        template_config=TemplateConfig(
            engine=create_template_engine(assets, app_name="Sổ Sức Khỏe", is_prod=settings.is_prod)
        ),
        openapi_config=_openapi_config(settings),
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,  # configure_logging() owns logging; Litestar would log 4xx tracebacks
        on_shutdown=[database.dispose],
        debug=False,  # never: debug pages would show health data in tracebacks
    )


def _openapi_config(settings: Settings) -> OpenAPIConfig | None:
    if settings.is_prod and not settings.openapi_public:
        return None
    return OpenAPIConfig(
        title="Sổ Sức Khỏe API",
        version="1",
        path="/schema",
        # JSON and YAML only: the HTML viewers load scripts from CDNs that our CSP rightly refuses.
        render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()],
    )
