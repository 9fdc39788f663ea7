"""What every page shares: navigation, error pages, the request's single commit."""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, render_template, request, url_for
from flask.globals import _cv_request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.routing import IntegerConverter

from crm.access.roles import Role
from crm.access.scoping import MAX_ID
from crm.common.errors import BusinessError, Conflict
from crm.common.phones import format_phone
from crm.db import SAFE_METHODS
from crm.extensions import db
from crm.i18n import lazy_gettext as _l


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object
    roles: frozenset[Role]
    section: str


_ALL = frozenset(Role)
_STAFF = frozenset({Role.ADMIN, Role.MANAGER, Role.REP, Role.SERVICE})

NAVIGATION = (
    NavItem("main.index", _l("Home"), _ALL, "main"),
    NavItem("leads.index", _l("Leads"), _STAFF, "leads"),
    NavItem("leads.campaigns", _l("Campaigns"), frozenset({Role.ADMIN, Role.MANAGER}), "campaigns"),
    # Its own section name, so that "Leads" is not highlighted with it on every leads page.
    NavItem("leads.pool", _l("Lead pool"), frozenset({Role.REP, Role.MANAGER}), "pool"),
    NavItem("screening.index", _l("Screening"), frozenset({Role.ADMIN, Role.MANAGER, Role.REP}), "screening"),
    # Its own section name, so that it is not highlighted with "Screening" on every case page.
    NavItem("screening.approvals", _l("Approvals"), frozenset({Role.ADMIN, Role.MANAGER}), "approvals"),
    NavItem("distributors.index", _l("Distributors"), _STAFF, "distributors"),
    NavItem("portal.index", _l("Portal"), frozenset({Role.DISTRIBUTOR}), "portal"),
    NavItem("portal.catalogue", _l("Order goods"), frozenset({Role.DISTRIBUTOR}), "catalogue"),
    NavItem("orders.index", _l("My orders"), frozenset({Role.DISTRIBUTOR}), "orders"),
    NavItem("distributors.my_company", _l("My company"), frozenset({Role.DISTRIBUTOR}), "distributors"),
    NavItem("orders.index", _l("Orders"), _STAFF, "orders"),
    NavItem("products.index", _l("Products"), _STAFF, "products"),
    NavItem("territories.index", _l("Territories"), frozenset({Role.ADMIN, Role.MANAGER}), "territories"),
    NavItem("workflow.index", _l("Workflows"), _STAFF, "workflow"),
    # Its own section name: the Workflows item, not this one, is highlighted on the workflow pages.
    NavItem("workflow.overdue", _l("My overdue"), _STAFF, "overdue"),
    NavItem("sla.rules", _l("SLA settings"), frozenset({Role.ADMIN}), "sla"),
    NavItem("screening.policy", _l("Screening policy"), frozenset({Role.ADMIN}), "admin"),
    NavItem("admin.users", _l("Users"), frozenset({Role.ADMIN}), "admin"),
    NavItem("admin.audit_log", _l("Audit log"), frozenset({Role.ADMIN}), "admin"),
)


def navigation_for(user) -> list[NavItem]:
    if not user.is_authenticated:
        return []
    role = user.role  # once: ``user`` may be the current_user proxy, looked up on every access
    return [item for item in NAVIGATION if role in item.roles]


def fixed_url(endpoint: str, **values) -> str:
    """``url_for`` for a link that is the same on every page (static files, the menu), built once per app.

    The page head and the navbar hold about twenty such links, and Werkzeug's router
    takes a few microseconds for each, on every page. Only the script root (where
    the app is mounted) can change them, so it is part of the key.
    """
    # The request context once, not through the current_app and request proxies: a page calls this twenty times.
    ctx = _cv_request.get()
    urls = ctx.app.extensions.setdefault("crm_fixed_urls", {})
    key = (ctx.request.script_root, endpoint, *sorted(values.items()))
    url = urls.get(key)
    if url is None:
        url = urls[key] = url_for(endpoint, **values)
    return url


ERROR_TITLES = {
    400: _l("The request could not be processed"),
    403: _l("You do not have access to this page"),
    404: _l("Page not found"),
    405: _l("This action is not allowed here"),
    409: _l("This record was changed by someone else"),
    413: _l("The upload is too large"),
    500: _l("Something went wrong on our side"),
}

ERROR_HINTS = {
    400: _l("Go back, reload the page and try again."),
    403: _l("If you need access, ask your administrator."),
    404: _l("The page or record does not exist, or you cannot see it."),
    405: _l("Go back and use the buttons on the page."),
    409: _l("Reload the page to see the latest version, then make your change again."),
    413: _l("Choose a smaller file and try again."),
    500: _l("The error was logged. Try again in a moment; if it keeps happening, tell your administrator."),
}


@dataclass(frozen=True)
class Outcome:
    ok: bool
    value: object = None


def perform(service, *args, refusal_category: str = "danger", **kwargs) -> Outcome:
    """Run one service for a request: commit when it succeeds; when a rule refuses it,
    roll back, flash the user's message and return a failed outcome.

    A stale write (Conflict) is not caught: it answers 409 through its error handler.
    """
    try:
        value = service(*args, **kwargs)
    except Conflict:
        raise
    except BusinessError as error:
        db.session.rollback()
        flash(error.message, refusal_category)
        return Outcome(False)
    db.session.commit()
    return Outcome(True, value)


def render_error(status: int, message: str | None = None):
    db.session.rollback()
    return (
        render_template(
            "errors/error.html",
            status=status,
            title=ERROR_TITLES.get(status, ERROR_TITLES[500]),
            hint=message or ERROR_HINTS.get(status, ERROR_HINTS[500]),
        ),
        status,
    )


class IdConverter(IntegerConverter):
    """``<int:…>`` in a route: at most the largest id a column holds, so /leads/99999999999999999999 is a 404."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def init_app(app) -> None:
    app.url_map.converters["int"] = IdConverter  # before any blueprint adds its routes

    @app.context_processor
    def _inject():
        # The user object itself, in place of Flask-Login's proxy (this processor runs after
        # its own): a page reads current_user a dozen times, and the proxy finds the user
        # again through the request context on every read.
        user = current_user._get_current_object()
        endpoint = request.endpoint
        return {
            "current_user": user,
            "navigation": navigation_for(user),
            "current_endpoint": endpoint,
            # The blueprint part, which says which menu item is highlighted.
            "current_section": endpoint.split(".", 1)[0] if endpoint else None,
            "Role": Role,
        }

    app.jinja_env.globals["fixed_url"] = fixed_url
    # Every phone on screen in one format, the national one a Chinese user dials (138 0013 8000).
    app.jinja_env.globals["phone"] = format_phone

    @app.before_request
    def _refuse_nul():
        # PostgreSQL cannot store a NUL character: a field carrying one (a scanner's %00, a
        # paste from a broken export) would fail deep inside a query. Refused at the door instead.
        sent = [request.args]
        if request.method not in SAFE_METHODS:
            sent.append(request.form)
        for values in sent:
            for key, value in values.items(multi=True):
                if "\x00" in key or "\x00" in value:
                    return render_error(
                        400,
                        str(_l("The request contains a NUL character, which cannot be saved. Remove it and retry.")),
                    )
        return None

    for status in (400, 403, 404, 405, 413, 500):
        app.register_error_handler(status, lambda e, s=status: render_error(s))

    @app.errorhandler(CSRFError)
    def _csrf_error(_e):
        return render_error(
            400, str(_l("The form has expired or was not sent from this site. Reload the page and try again."))
        )

    @app.errorhandler(Conflict)
    def _conflict(e):
        return render_error(409, e.message)

    @app.errorhandler(IntegrityError)
    def _integrity(_e):
        # Two saves racing past the service's uniqueness check: the database said no.
        return render_error(
            409, str(_l("Someone saved a record with the same unique value at the same time. Reload and check."))
        )

    @app.errorhandler(OverflowError)
    @app.errorhandler(DataError)
    def _out_of_range(_e):
        # A number the column cannot hold (a pasted 20-digit "id"), past the form's own checks. The failed
        # transaction goes first: the message's language may have to load the signed-in user again.
        db.session.rollback()
        return render_error(400, str(_l("A value you sent is out of range or too long. Check it and try again.")))

    @app.errorhandler(StaleDataError)
    def _stale(_e):
        return render_error(409)
