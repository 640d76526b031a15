"""The Jinja environment: autoescaping, strict undefined names, gettext for the reader's language, and the
helpers every template uses (`asset()`, `csp_nonce()`, `locale()`)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from litestar.plugins.jinja import JinjaTemplateEngine

from backend.i18n import chosen_locale, translations
from backend.paths import TEMPLATES_DIR
from backend.web.assets import Assets
from backend.web.csrf import Csrf
from backend.web.dates import local_date_time
from backend.web.security import csp_nonce

_LOCALE_KEY = "healthbook.locale"


def request_locale(context: Context) -> str:
    """The reader's language, looked up once per request: a long page asks for it thousands of times."""
    request = context.get("request")
    if request is None:
        return "vi"
    state = request.scope.setdefault("state", {})
    locale = state.get(_LOCALE_KEY)
    if locale is None:
        locale = state[_LOCALE_KEY] = chosen_locale(request.cookies)
    return str(locale)


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(request_locale(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, number: int) -> str:
    return translations(request_locale(context)).ngettext(singular, plural, number)


@pass_context
def _csp_nonce(context: Context) -> str:
    return csp_nonce(context["request"].scope)


@pass_context
def _locale(context: Context) -> str:
    return request_locale(context)


@pass_context
def _translate(context: Context, text: str) -> str:
    """Translate a string known only at run time (an error message): no `%` formatting, unlike `_()`."""
    return translations(request_locale(context)).gettext(text)


def create_template_engine(assets: Assets, csrf: Csrf, **globals_: Any) -> JinjaTemplateEngine:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
        gettext=_gettext, ngettext=_ngettext, newstyle=True
    )
    environment.filters["local_date_time"] = local_date_time
    environment.globals.update(asset=assets.url, csp_nonce=_csp_nonce, locale=_locale, translate=_translate, **globals_)
    engine = JinjaTemplateEngine.from_environment(environment)
    # Ours replace Litestar's csrf_token(): they also issue a token where no middleware ran (404 pages).
    engine.register_template_callable("csrf_token", lambda context: csrf.token(context["request"].scope))
    engine.register_template_callable("csrf_field", lambda context: csrf.field(context["request"].scope))
    return engine
