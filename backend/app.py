"""`create_app()`: the one place that wires routes, dependencies, middleware, templates and error handling."""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.template import TemplateConfig

from backend.account.settings_pages import SettingsPages
from backend.auth.activation import ActivationCodes
from backend.auth.api import PatientAuthApi
from backend.auth.dependencies import auth_dependencies
from backend.auth.otp import OneTimeCodes
from backend.auth.pages import SignInPages
from backend.auth.signin import SignIn
from backend.clock import Clock, system_clock
from backend.consent.api import ConsentApi
from backend.consent.pages import ConsentPages
from backend.database import Database, to_async_url
from backend.healthbook.api import BookApi
from backend.healthbook.document_files import DocumentFiles
from backend.healthbook.pages import BookPages
from backend.hospitals.api import HospitalApi
from backend.i18n import CATALOGUE_DIR
from backend.identity_provider import demo_identity_provider
from backend.keyring import Keyring
from backend.logs import configure_logging
from backend.oidc import NationalIdAppApi, NationalIdSignInPages, RelyingParty
from backend.ops import HealthController
from backend.paths import PWA_DIR, TEMPLATES_DIR
from backend.reception.pages import ReceptionPages
from backend.settings import Settings, SettingsError, load_settings
from backend.sharing.access_log import AccessLogApi
from backend.sharing.access_log_page import AccessLogPages
from backend.sharing.api import ShareApi
from backend.sharing.cors import share_link_cors
from backend.sharing.pages import SharePages
from backend.sharing.protocol_api import ShareLinkProtocol
from backend.shell import PwaController, ShellController, static_files_router
from backend.sms import make_sender
from backend.staff.admin_pages import FacilityAdminPages
from backend.staff.guards import staff_dependencies
from backend.staff.pages import StaffPages
from backend.staff.signin import StaffSignIn
from backend.viewer import ViewerPages
from backend.web.assets import Assets
from backend.web.compression import compression_config
from backend.web.csrf import Csrf, CsrfMiddleware
from backend.web.dependencies import app_dependencies
from backend.web.error_responses import handle_exception
from backend.web.json_bodies import require_json_body
from backend.web.openapi import describe_answers
from backend.web.requests import RequestContextMiddleware, log_response
from backend.web.security import security_headers
from backend.web.templating import create_template_engine

MAX_BODY_BYTES = 10 * 1024 * 1024  # contract §3.2: larger hospital pushes answer 413
OFFLINE_PAGE_SOURCES = (
    TEMPLATES_DIR / "base.html",
    TEMPLATES_DIR / "_language_switch.html",
    TEMPLATES_DIR / "shell" / "offline.html",
    CATALOGUE_DIR / "vi" / "LC_MESSAGES" / "messages.po",
)


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> Litestar:
    settings = settings or load_settings()
    if settings.database_url is None:
        raise SettingsError("DATABASE_URL is not set: start the app with `healthbook serve`, which provides one")
    configure_logging(settings)
    database = Database(to_async_url(settings.database_url), transaction_pooler=settings.transaction_pooler)
    assets = Assets(PWA_DIR, offline_page_sources=OFFLINE_PAGE_SOURCES)
    csrf = Csrf(settings)
    keyring = Keyring(settings.data_keys)

    return Litestar(
        route_handlers=[
            ShellController,
            PwaController,
            HealthController,
            HospitalApi,
            Router(
                "/",
                route_handlers=[
                    PatientAuthApi,
                    NationalIdAppApi,
                    ConsentApi,
                    BookApi,
                    ShareApi,
                    AccessLogApi,
                    ShareLinkProtocol,
                ],
                before_request=require_json_body,
            ),
            SignInPages,
            NationalIdSignInPages,
            *demo_identity_provider(settings),  # APP_ENV=dev without OIDC_ISSUER only
            ConsentPages,
            BookPages,
            DocumentFiles,
            SettingsPages,
            SharePages,
            AccessLogPages,
            ViewerPages,
            StaffPages,
            ReceptionPages,
            FacilityAdminPages,
            static_files_router(),
        ],
        state=State(
            {
                "settings": settings,
                "database": database,
                "assets": assets,
                "keyring": keyring,
                "clock": clock,
                "signin": SignIn(
                    database,
                    OneTimeCodes(settings.secret_key, settings.sms_daily_budget),
                    ActivationCodes(settings.secret_key),
                ),
                "sms": make_sender(settings.sms),
                "staff_signin": StaffSignIn(database, keyring),
                "oidc": RelyingParty(settings, database, keyring),
            }
        ),
        dependencies={**app_dependencies(), **auth_dependencies(), **staff_dependencies()},
        middleware=[RequestContextMiddleware(), CsrfMiddleware(csrf)],
        before_send=[security_headers(settings), csrf.add_cookie, log_response, share_link_cors],
        exception_handlers={Exception: handle_exception},
        template_config=TemplateConfig(
            engine=create_template_engine(assets, csrf, app_name="Sổ Sức Khỏe", is_prod=settings.is_prod)
        ),
        openapi_config=_openapi_config(settings),
        compression_config=compression_config(),
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,  # configure_logging() owns logging; Litestar would log 4xx tracebacks
        on_startup=[_document_answers],
        on_shutdown=[database.dispose],
        debug=False,  # never: debug pages would show health data in tracebacks
    )


def _document_answers(app: Litestar) -> None:
    if app.openapi_config is not None:  # served (dev, or OPENAPI_PUBLIC=1): corrected before its first reader
        describe_answers(app.openapi_schema)


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
