"""Language and time zone: Chinese by default, English available, per user."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from flask import current_app, g, has_request_context, session
from flask.globals import _cv_app
from flask_babel import format_datetime, get_locale, get_translations
from flask_babel.speaklater import LazyString
from flask_login import current_user
from jinja2 import pass_eval_context
from markupsafe import Markup

from crm.extensions import babel

T = TypeVar("T")

# Babel date patterns our templates use, as strftime: formatting a list of 50 rows
# through Babel's general formatter costs more than the rest of the row.
_FAST_PATTERNS = {
    "yyyy-MM-dd HH:mm": "%Y-%m-%d %H:%M",
    "yyyy-MM-dd HH:mm:ss": "%Y-%m-%d %H:%M:%S",
    "yyyy-MM-dd": "%Y-%m-%d",
    "MM-dd HH:mm": "%m-%d %H:%M",
}


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI, scheduler, tests outside a request
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    """The language of the page being rendered, as ``zh_CN`` or ``en``.

    The locale Flask-Babel chose for the request (it asks ``select_locale`` once and
    keeps the answer), so the page's ``lang`` is the catalog's, and rendering does
    not look the user, the session and the configuration up again.
    """
    locale = get_locale()
    if locale is None:
        return select_locale()
    # As in LANGUAGES: Babel's zh_CN is zh_Hans_CN, the script added.
    return f"{locale.language}_{locale.territory}" if locale.territory else locale.language


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def _translations():
    """The catalog of the current locale, resolved once per locale and app context.

    A page translates a few hundred labels; Flask-Babel resolves context, locale and
    catalog afresh for each. The cache sits on Flask-Babel's own context object and
    is keyed by its locale object, so ``force_locale`` (which swaps that object)
    still gets the other language.
    """
    # The app context straight from its context variable: ``g`` is a proxy, resolved again
    # on every access, and a list page translates about ninety strings.
    app_ctx = _cv_app.get(None)
    if app_ctx is None:
        return get_translations()
    ctx = app_ctx.g.__dict__.get("_flask_babel")
    if ctx is not None:
        cached = getattr(ctx, "crm_translations", None)
        locale = getattr(ctx, "babel_locale", None)
        if cached is not None and locale is not None and cached[0] is locale:
            return cached[1]
    translations = get_translations()
    ctx = g.get("_flask_babel")
    if ctx is not None:
        ctx.crm_translations = (getattr(ctx, "babel_locale", None), translations)
    return translations


def _translate(string: str, **variables) -> str:
    text = _translations().gettext(string)
    return text % variables if variables else text


def gettext(string: str, **variables) -> str:
    """Flask-Babel's gettext through the cached catalog: a sixth of the cost, for code that translates a lot."""
    return _translate(string, **variables)


@pass_eval_context
def _template_gettext(eval_ctx, string: str, **variables):
    """``_()`` in templates, as Jinja's newstyle gettext does it, in one call instead of three.

    Jinja's ``_`` resolves ``gettext`` in the context and calls it, which calls our
    callable in turn: about 5 µs a label, a quarter of a millisecond on a list page;
    and a function given the whole context gets a copy of it inside loops and blocks.
    The result is the same: markup-safe in escaped templates, variables escaped and
    formatted in, ``%%`` read as ``%``.
    """
    translations = _translations()
    if eval_ctx.autoescape:
        # Each catalog keeps its labels as Markup, made once: a page asks for fifty of them.
        labels = translations.__dict__.setdefault("crm_markup", {})
        text = labels.get(string)
        if text is None:
            text = labels[string] = Markup(translations.gettext(string))  # noqa: S704 (our own catalog, trusted as Jinja's newstyle gettext trusts it)
    else:
        text = translations.gettext(string)
    return text % variables if variables or "%" in text else text


def once_per_catalog(build: Callable[[], T]) -> Callable[[], T]:
    """``build()``, whose result depends only on the language, made once per catalog and kept with it.

    The lead list shows the same translated states, channels and deadline badges on every
    page; building them is a few dozen catalog look-ups per request. The result is shared:
    callers read it and never change it.
    """
    key = f"{build.__module__}.{build.__qualname__}"

    @functools.wraps(build)
    def kept() -> T:
        built = _translations().__dict__.setdefault("crm_once", {})
        value = built.get(key)
        if value is None:
            value = built[key] = build()
        return value

    return kept


def lazy_gettext(string: str, **variables) -> LazyString:
    """Like Flask-Babel's lazy_gettext (extracted as ``_l``), translated through the cached catalog."""
    return LazyString(_translate, string, **variables)


def local_datetime(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A stored (naive UTC) instant in the installation's time zone, as ``fmt`` (a Babel pattern)."""
    if not value:
        return ""
    pattern = _FAST_PATTERNS.get(fmt)
    if pattern is None:
        return format_datetime(value, fmt)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(_zone(current_app.config["BABEL_DEFAULT_TIMEZONE"])).strftime(pattern)


_ZONES: dict[str, ZoneInfo] = {}


def _zone(name: str) -> ZoneInfo:
    if name not in _ZONES:
        _ZONES[name] = ZoneInfo(name)
    return _ZONES[name]


def init_app(app) -> None:
    babel.init_app(
        app,
        locale_selector=select_locale,
        timezone_selector=select_timezone,
        default_translation_directories=str(app.root_path + "/translations"),
    )
    # Templates translate through the request's cached catalog (newstyle: Jinja formats
    # %(name)s and escapes the values, as with Flask-Babel's own callables).
    app.jinja_env.install_gettext_callables(
        gettext=lambda string: _translations().gettext(string),
        ngettext=lambda singular, plural, n: _translations().ngettext(singular, plural, n),
        newstyle=True,
    )
    app.jinja_env.globals["_"] = _template_gettext
    app.jinja_env.globals["current_language"] = current_language
    app.jinja_env.filters["datetime"] = local_datetime
    app.jinja_env.filters["money"] = money


def money(value) -> str:
    """An amount in yuan as the order pages show it: ¥1,234.50; a dash when there is none."""
    return "—" if value is None else f"¥{value:,.2f}"
