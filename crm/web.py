"""What every page shares: navigation, error pages, the request's single commit."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, flash, render_template, request, url_for
from flask.globals import _cv_request
from flask_babel import lazy_pgettext
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
from crm.sla.badge import deadline_badge
from crm.workflow.confirm import confirm_move


@dataclass(frozen=True)
class NavItem:
    """One link of the menu.

    Who sees it is the roles its route lets in (the ``allowed_roles`` that ``roles_required``
    puts on the view), narrowed by ``only`` where a role may open the page but has no use for
    it in the menu. ``matches`` are the endpoints (or prefixes: "leads." or "leads.campaign*")
    of the pages on which the item is highlighted; the longest match over the whole menu wins,
    so 公海 (leads.pool) is highlighted on the pool, not 线索 (leads.).
    """

    endpoint: str
    label: object
    matches: tuple[str, ...] = ()
    only: frozenset[Role] | None = None

    def match_length(self, endpoint: str | None) -> int:
        best = 0
        if not endpoint:
            return 0
        for pattern in self.matches or (self.endpoint,):
            prefix = pattern.rstrip("*")
            if endpoint == pattern or (pattern[-1] in ".*" and endpoint.startswith(prefix)):
                best = max(best, len(prefix))
        return best


@dataclass(frozen=True)
class NavGroup:
    """An area of the menu (线索, 经销商 …): a dropdown of its items."""

    key: str
    label: object
    items: tuple[NavItem, ...]


_STAFF = frozenset({Role.ADMIN, Role.MANAGER, Role.REP, Role.SERVICE})
_DISTRIBUTOR = frozenset({Role.DISTRIBUTOR})
_MANAGING = frozenset({Role.ADMIN, Role.MANAGER})
_SCREENERS = frozenset({Role.ADMIN, Role.MANAGER, Role.REP})

# The one registry of the menu: new workflows add their pages to an area here.
NAVIGATION: tuple[NavItem | NavGroup, ...] = (
    NavItem("main.index", _l("Home"), ("main.index",)),
    # A distributor's few pages stand on the bar itself.
    NavItem("portal.index", _l("Portal"), ("portal.index",)),
    NavItem("portal.catalogue", _l("Order goods"), ("portal.catalogue",)),
    NavItem("orders.index", _l("My orders"), ("orders.",), only=_DISTRIBUTOR),
    NavItem("returns.index", _l("My returns"), ("returns.",), only=_DISTRIBUTOR),
    NavItem("distributors.my_company", _l("My company"), ("distributors.my_company",)),
    NavGroup(
        "leads",
        lazy_pgettext("menu", "Leads"),
        (
            NavItem("leads.index", _l("All leads"), ("leads.",), only=_STAFF),
            # The pool: reps claim from it, managers release to it; an admin has no use for it in the menu.
            NavItem("leads.pool", _l("Lead pool"), ("leads.pool",), only=frozenset({Role.REP, Role.MANAGER})),
            NavItem("leads.import_upload", _l("Import leads"), ("leads.import*",)),
            NavItem("leads.campaigns", _l("Campaigns"), ("leads.campaign*",), only=_MANAGING),
            NavItem("leads.scripts", _l("Call scripts"), ("leads.script*",)),
        ),
    ),
    NavGroup(
        "distributors",
        lazy_pgettext("menu", "Distributors"),
        (
            NavItem("screening.index", _l("Screening"), ("screening.",), only=_SCREENERS),
            NavItem("screening.approvals", _l("Approvals"), ("screening.approvals",)),
            NavItem("distributors.index", _l("All distributors"), ("distributors.",), only=_STAFF),
            NavItem("distributors.licences", _l("Licences"), ("distributors.licences",)),
            NavItem("distributors.coverage", _l("Coverage"), ("distributors.coverage", "distributors.agreement*")),
        ),
    ),
    NavGroup(
        "orders",
        lazy_pgettext("menu", "Orders & service"),
        (
            NavItem("orders.index", _l("All orders"), ("orders.",), only=_STAFF),
            NavItem("returns.index", _l("Returns"), ("returns.",), only=_STAFF),
            NavItem("orders.lots_index", _l("Lots"), ("orders.lot*",)),
            NavItem("orders.trace", _l("Trace a lot"), ("orders.trace",)),
            NavItem("products.index", _l("Products"), ("products.",)),
        ),
    ),
    NavGroup(
        "reports",
        lazy_pgettext("menu", "Reports"),
        (
            NavItem("leads.funnel", _l("Funnel"), ("leads.funnel",)),
            NavItem("workflow.index", _l("Workflows"), ("workflow.",)),
            NavItem("workflow.overdue", _l("My overdue"), ("workflow.overdue",)),
        ),
    ),
    NavGroup(
        "settings",
        lazy_pgettext("menu", "Settings"),
        (
            NavItem("territories.index", _l("Territories"), ("territories.",)),
            NavItem("sla.rules", _l("SLA settings"), ("sla.",)),
            NavItem("screening.policy", _l("Screening policy"), ("screening.policy",)),
            NavItem("admin.users", _l("Users"), ("admin.user*",)),
            NavItem("admin.audit_log", _l("Audit log"), ("admin.audit*",)),
        ),
    ),
)


def view_roles(endpoint: str) -> frozenset[Role]:
    """The roles the route of ``endpoint`` lets in: what ``roles_required`` put on the view (all if unguarded)."""
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "allowed_roles", frozenset(Role))


def can_open(endpoint: str, user=None) -> bool:
    """Whether ``user`` (the current one by default) passes the role guard of ``endpoint``.

    For a link on a page: a link its viewer would get 403 for is not shown.
    """
    user = current_user if user is None else user
    return bool(user.is_authenticated) and user.role in view_roles(endpoint)


def _visible(item: NavItem, role: Role) -> bool:
    return role in view_roles(item.endpoint) and (item.only is None or role in item.only)


def navigation_for(user) -> list[NavItem | NavGroup]:
    """The menu of ``user``'s role: items its routes let the role open, empty areas left out."""
    if not user.is_authenticated:
        return []
    role = user.role  # once: ``user`` may be the current_user proxy, looked up on every access
    cache = current_app.extensions.setdefault("crm_navigation", {})
    menu = cache.get(role)
    if menu is None:
        menu = []
        for entry in NAVIGATION:
            if isinstance(entry, NavGroup):
                items = tuple(item for item in entry.items if _visible(item, role))
                if items:
                    menu.append(NavGroup(entry.key, entry.label, items))
            elif _visible(entry, role):
                menu.append(entry)
        menu = cache[role] = tuple(menu)
    return list(menu)


@dataclass(frozen=True)
class ActiveNav:
    item: NavItem | None = None
    group: NavGroup | None = None


def active_nav(menu, endpoint: str | None) -> ActiveNav:
    """The item of ``menu`` to highlight on ``endpoint``'s page (longest match) and its area."""
    best, best_length = ActiveNav(), 0
    for entry in menu:
        for group, item in ((entry, i) for i in entry.items) if isinstance(entry, NavGroup) else ((None, entry),):
            length = item.match_length(endpoint)
            if length > best_length:
                best, best_length = ActiveNav(item, group), length
    return best


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
        menu = navigation_for(user)
        return {
            "current_user": user,
            "navigation": menu,
            "active_nav": active_nav(menu, endpoint),
            "current_endpoint": endpoint,
            "Role": Role,
        }

    app.jinja_env.globals["fixed_url"] = fixed_url
    app.jinja_env.globals["can_open"] = can_open
    # Every phone on screen in one format, the national one a Chinese user dials (138 0013 8000).
    app.jinja_env.globals["phone"] = format_phone
    app.jinja_env.globals["deadline_badge"] = deadline_badge
    # A workflow button asks first when the same user could not take the move back.
    app.jinja_env.globals["confirm_move"] = confirm_move

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
