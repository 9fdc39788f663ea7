"""Building the lead list: the filters a user picked, search, and a page query whose count never grows.

The list page and the XLSX export read the same statement, so an export is
exactly the list the user was looking at, all pages of it. Everything starts from
``scoped(Lead, user)``: a filter can narrow the user's reach, never widen it.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from functools import lru_cache

from flask import current_app
from sqlalchemy import bindparam, func, select, true
from sqlalchemy.orm import joinedload, selectinload

from crm.access.roles import Role
from crm.access.scoping import EVERYTHING, reach, reach_condition, scoped
from crm.auth.models import User, user_territories
from crm.common.pagination import Page, page_number
from crm.extensions import db
from crm.leads.models import Campaign, Channel, Lead, LeadContact
from crm.leads.services import search_condition
from crm.leads.workflow import OPEN_STATES
from crm.territories.models import Territory
from crm.workflow.models import SlaStatus

SLA_FILTER_VALUES = (SlaStatus.OK, SlaStatus.WARNING, SlaStatus.BREACHED, SlaStatus.PAUSED, SlaStatus.MET)


@dataclass
class LeadFilters:
    """What the user picked above the list; every field is optional and ignored when it does not parse."""

    q: str = ""
    state: str = ""
    owner: str = ""  # a user id
    territory: str = ""  # a territory code: the node and everything under it
    campaign: str = ""  # a campaign id
    channel: str = ""  # the campaign's channel
    sla: str = ""
    pool: str = ""  # "1": only pool leads; "0": only owned leads
    show: str = ""  # "": open leads; "closed": won, lost and merged; "all" (a state chosen wins)
    sort: str = ""  # a key of SORTS, "-" in front for descending; "" is newest first

    @classmethod
    def from_args(cls, args) -> LeadFilters:
        return cls(**{f.name: (args.get(f.name) or "").strip() for f in fields(cls)})

    def as_args(self) -> dict[str, str]:
        """The non-empty filters, to carry into page links and the export link."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    @property
    def active(self) -> bool:
        return bool(self.as_args())


def int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


CLOSED_STATES = ("won", "lost", "merged")

# The list's sortable columns. Every order ends with the id, so that pages never overlap.
SORTS = {
    "state": Lead._state,
    "deadline": Lead.sla_due_at,
    "next_touch": Lead.next_touch_on,
    "company": Lead.name_initials,
    "created": Lead.id,
}


def sort_order(filters: LeadFilters) -> tuple:
    """ORDER BY for the list and its export: the chosen column (blanks last), then the id."""
    key = filters.sort.lstrip("-")
    descending = filters.sort.startswith("-")
    column = SORTS.get(key)
    if column is None or key == "created":
        return (Lead.id.asc(),) if key == "created" and not descending else (Lead.id.desc(),)
    order = column.desc() if descending else column.asc()
    return (column.is_(None), order, Lead.id.desc())


def filtered_leads(user, filters: LeadFilters):
    """A SELECT of the leads ``user`` may see that match ``filters``, without ordering or loading options."""
    stmt = scoped(Lead, user)
    if filters.q and any(t.level == 1 for t in user.territories):
        # A province holds most leads: scanning the table for the search beats reading
        # every row through the territory index (35 ms against 175 ms over 200,000 leads).
        stmt = scoped_leads_by_other_index(user)
    machine = Lead.__machine__
    if filters.state in {s.code for s in machine.states}:
        stmt = stmt.where(Lead._state == filters.state)
    elif filters.show == "closed":
        stmt = stmt.where(Lead._state.in_(CLOSED_STATES))
    elif filters.show != "all":
        stmt = stmt.where(Lead._state.in_(OPEN_STATES))
    owner_id = int_or_none(filters.owner)
    if owner_id is not None:
        stmt = stmt.where(Lead.assignee_id == owner_id)
    if filters.territory:
        territory = db.session.get(Territory, filters.territory)
        if territory is not None:
            low, high = territory.code_range
            stmt = stmt.where(Lead.territory_code.between(low, high))
    campaign_id = int_or_none(filters.campaign)
    if campaign_id is not None:
        stmt = stmt.where(Lead.campaign_id == campaign_id)
    if filters.channel in {c.value for c in Channel}:
        stmt = stmt.where(Lead.campaign_id.in_(select(Campaign.id).where(Campaign.channel == Channel(filters.channel))))
    if filters.sla in SLA_FILTER_VALUES:
        stmt = stmt.where(Lead.sla_status == filters.sla)
    if filters.pool in {"0", "1"}:
        stmt = stmt.where(Lead.in_pool.is_(filters.pool == "1"))
    condition = search_condition(filters.q)
    if condition is not None:
        stmt = stmt.where(condition)
    return stmt


def not_by_index(condition):
    """``condition`` as a filter on rows already found, not a way to find them (on SQLite).

    SQLite's planner, without statistics on the values, takes any range for
    selective: a province's territory range or "next touch on or before today" over
    200,000 leads, which it then sorts (25–170 ms) instead of using the owner or
    pool index. "(…) IS 1" is the same condition in a form no index serves.
    PostgreSQL's statistics let it choose by itself, so it gets the condition as is.
    """
    if condition is None or db.engine.dialect.name != "sqlite":
        return condition
    return condition.is_(true())


def scoped_leads_by_other_index(user):
    """``scoped(Lead, user)`` for queries whose selective condition is not the territory (my leads, the pool)."""
    stmt = scoped(Lead, user)
    if stmt.whereclause is None:
        return stmt
    return select(Lead).where(not_by_index(stmt.whereclause))


def lead_list_stmt(user, filters: LeadFilters):
    """The leads matching ``filters``, newest first, with what every row shows loaded in the same round trip.

    Newest first is by id, not created_at: the same order, and every index on the
    table already holds the id. Territory, campaign and owner are joined, so a page
    of 10 rows and one of 100 cost the same number of queries.
    """
    return (
        filtered_leads(user, filters)
        .options(joinedload(Lead.assignee), joinedload(Lead.territory), joinedload(Lead.campaign))
        .order_by(*sort_order(filters))
    )


# What a row of the list shows, and nothing else: plain rows, not Lead objects. A page is
# read, never written, and building 50 entities with three joined relationships cost more
# than the rest of the request. templates/leads/_rows.html unpacks them in this order.
# The territory, owner and campaign names are subqueries, not joins: each is one primary-key
# lookup for a row of the page, and PostgreSQL plans the page in a fifth of the time it took
# to weigh the orders of a four-table join (0.06 ms against 0.3 ms, on every request).
ROW_COLUMNS = (
    Lead.id,
    Lead.company_name,
    Lead._state.label("state"),
    select(Territory.full_name).where(Territory.code == Lead.territory_code).scalar_subquery().label("territory_name"),
    select(User.display_name).where(User.id == Lead.assignee_id).scalar_subquery().label("owner_name"),
    Lead.sla_status,
    Lead.sla_due_at,
    Lead.next_touch_on,
    select(Campaign.name).where(Campaign.id == Lead.campaign_id).scalar_subquery().label("campaign_name"),
    Lead.created_at,
)

# Counting stops here: "more than 1,000 leads" tells a manager what the exact figure would
# (narrow the filters to find one), and it is one tenth of the work: counting 10,000 index
# entries took SQLite 0.4 ms, as long as the rest of the page's queries together.
COUNT_LIMIT = 1_000


@dataclass
class LeadPage(Page):
    capped: bool = False  # more leads match than were counted; ``total`` is a lower bound


# Built page statements, by everything they are built from: the user's reach, the filters, the
# page and the database. Building the count and the rows statement cost 150 µs of a list page,
# more than SQLite takes to run them; a built statement also keeps its cache key. Bounded: the
# oldest entry goes first. A territory filter reads the territory table, so it is not cached.
_PAGE_STATEMENTS: dict[tuple, object] = {}
_PAGE_STATEMENTS_MAX = 512


def _built(key: tuple | None, build):
    if key is None:
        return build()
    stmt = _PAGE_STATEMENTS.get(key)
    if stmt is None:
        if len(_PAGE_STATEMENTS) >= _PAGE_STATEMENTS_MAX:
            _PAGE_STATEMENTS.pop(next(iter(_PAGE_STATEMENTS)), None)
        stmt = _PAGE_STATEMENTS[key] = build()
    return stmt


def _page_key(user, filters: LeadFilters) -> tuple | None:
    if filters.territory:
        return None
    # filtered_leads reads the user's levels for a search, and not_by_index the dialect.
    province = bool(filters.q) and any(t.level == 1 for t in user.territories)
    return (reach(user), province, astuple(filters), db.engine.dialect.name)


def lead_page(user, filters: LeadFilters, page_arg, size: int | None = None) -> LeadPage:
    """One page of the list: a bounded COUNT, then the page's rows in one query, whatever the page size.

    The names beside a lead are looked up for the page's rows only (see
    ``ROW_COLUMNS``), after the limit: sorting a manager's 200,000 joined rows to
    keep 50 took SQLite 300 ms. When more leads match than are counted, most of
    the table matches, and walking the primary key backwards finds the newest 50
    at once; SQLite's planner cannot see that (it would sort every match from the
    territory index), see ``not_by_index``.
    The items are rows of ``ROW_COLUMNS``.
    """
    size = size or current_app.config["PAGE_SIZE"]
    number = page_number(page_arg)
    offset = (number - 1) * size
    limit = max(COUNT_LIMIT, offset + 2 * size)  # enough to know whether a next page exists
    key = _page_key(user, filters)

    def matching():
        return filtered_leads(user, filters).with_only_columns(Lead.id).order_by(None)

    def count_stmt():
        return select(func.count()).select_from(matching().limit(limit + 1).subquery())

    # Read on the session's connection: plain rows, no ORM result machinery (a third of the
    # cost of running them through the session). Nothing is flushed: a list page writes nothing.
    connection = db.session.connection()
    counted = connection.scalar(_built(key and (*key, "count", limit), count_stmt))
    capped = counted > limit

    def rows_stmt():
        ids = matching()
        by_id = filters.sort.lstrip("-") not in SORTS or filters.sort.lstrip("-") == "created"
        if capped and by_id and ids.whereclause is not None:
            # Most leads match: walking the primary key backwards finds the newest at once.
            ids = select(Lead.id).where(not_by_index(ids.whereclause))
        return ids.with_only_columns(*ROW_COLUMNS).order_by(*sort_order(filters)).limit(size).offset(offset)

    items = connection.execute(_built(key and (*key, "rows", capped, size, offset), rows_stmt)).all()
    return LeadPage(items=items, number=number, size=size, total=min(counted, limit), capped=capped)


def lead_export_stmt(user, filters: LeadFilters):
    """The export's query: the list's rows plus their contacts and phones (one extra query per batch)."""
    return lead_list_stmt(user, filters).options(selectinload(Lead.contacts).selectinload(LeadContact.phones))


# The list's owner and campaign menus load as the user opens them (a search endpoint each, as the
# territory picker does); the page itself reads only the option already chosen, if any. Their
# fixed parts are built once, on the tables (Core statements skip the ORM's compile and result
# machinery; half the cost).
MENU_SIZE = 50  # options a menu shows at once; typing narrows them
_users = User.__table__
_OWNER_CANDIDATES = (
    select(_users.c.id, _users.c.display_name)
    .where(_users.c.active.is_(True), _users.c.role.in_([Role.REP, Role.MANAGER]))
    .order_by(_users.c.display_name, _users.c.id)
)


@lru_cache(maxsize=256)
def _owner_choices_stmt(user_reach: tuple):
    """The owner menu's statement for one reach; the user's own id is the bound parameter ``me``."""
    if user_reach == EVERYTHING:
        return _OWNER_CANDIDATES
    inside = select(user_territories.c.user_id).where(reach_condition(user_territories.c.territory_code, user_reach))
    return _OWNER_CANDIDATES.where((_users.c.id == bindparam("me")) | _users.c.id.in_(inside))


def owner_choices(user, *, search: str = "", only: int | None = None) -> list[tuple[int, str]]:
    """(id, name) of owners to filter by: active reps and managers working inside the user's reach, and the user.

    ``search`` keeps the names that contain it (at most ``MENU_SIZE``); ``only`` keeps one owner,
    to label a chosen filter (none when that id is not among them).
    """
    stmt = _owner_choices_stmt(reach(user))
    if only is not None:
        stmt = stmt.where(_users.c.id == only)
    else:
        stmt = stmt.limit(MENU_SIZE)
        if search:
            stmt = stmt.where(_users.c.display_name.contains(search, autoescape=True))
    return [tuple(row) for row in db.session.execute(stmt, {"me": user.id})]


_campaigns = Campaign.__table__
_CAMPAIGN_CHOICES = select(_campaigns.c.id, _campaigns.c.name).order_by(
    _campaigns.c.created_at.desc(), _campaigns.c.id.desc()
)


def campaign_choices(*, search: str = "", only: int | None = None) -> list[tuple[int, str]]:
    """(id, name) of campaigns to filter by, the most recent first; ``search`` and ``only`` as for owners."""
    stmt = _CAMPAIGN_CHOICES
    if only is not None:
        stmt = stmt.where(_campaigns.c.id == only)
    else:
        stmt = stmt.limit(MENU_SIZE)
        if search:
            stmt = stmt.where(_campaigns.c.name.contains(search, autoescape=True))
    return [tuple(row) for row in db.session.execute(stmt)]
