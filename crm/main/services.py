"""The home page's figures, scoped to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask import url_for
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.access.scoping import scoped
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.leads.models import Lead
from crm.leads.queries import not_by_index, scoped_leads_by_other_index
from crm.leads.views_list import lead_url_builder
from crm.leads.workflow import OPEN_STATES
from crm.products.models import Product
from crm.sla.services import local_today
from crm.workflow.models import SlaStatus


def home_summary(user) -> dict:
    """Counts shown on the home page for ``user``."""
    distributors = db.session.scalar(select(func.count()).select_from(scoped(Distributor, user).subquery()))
    summary = {"distributors": distributors}
    if user.role != Role.DISTRIBUTOR:
        summary["products"] = db.session.scalar(
            select(func.count()).select_from(Product).where(Product.active.is_(True))
        )
        summary["territories"] = list(user.territories)
        summary["leads"] = lead_home(user)
    return summary


HOME_LIST_LIMIT = 20
HOME_POOL_LIMIT = 5


@dataclass
class LeadHome:
    """A rep's (or manager's) working list on the home page: three short lists, three queries."""

    follow_ups: list = field(default_factory=list)
    overdue: list = field(default_factory=list)
    pool_nearby: list = field(default_factory=list)
    pool_url: str | None = None
    lead_url: object = None  # lead id → the lead's page
    today: date | None = None


def lead_home(user) -> LeadHome | None:
    """Today's follow-ups, my overdue leads and pool leads in my territories; None for roles without leads.

    Follow-ups are my open leads whose next touch falls today or earlier (in
    Shanghai); overdue ones are my leads whose deadline is near or past.
    """
    if user.role not in (Role.REP, Role.MANAGER):
        return None
    today = local_today()
    mine = scoped_leads_by_other_index(user).where(Lead.assignee_id == user.id, Lead._state.in_(OPEN_STATES))
    follow_ups = db.session.scalars(
        mine.where(not_by_index(Lead.next_touch_on <= today))
        .order_by(Lead.next_touch_on, Lead.id)
        .limit(HOME_LIST_LIMIT)
    )
    overdue = db.session.scalars(
        mine.where(Lead.sla_status.in_((SlaStatus.WARNING, SlaStatus.BREACHED)))
        .order_by(Lead.sla_due_at, Lead.id)
        .limit(HOME_LIST_LIMIT)
    )
    pool = db.session.scalars(
        scoped_leads_by_other_index(user)
        .where(Lead.in_pool.is_(True), Lead._state.in_(OPEN_STATES))
        .order_by(Lead.id.desc())
        .limit(HOME_POOL_LIMIT)
    )
    return LeadHome(
        follow_ups=list(follow_ups),
        overdue=list(overdue),
        pool_nearby=list(pool),
        pool_url=url_for("leads.pool"),
        lead_url=lead_url_builder(),
        today=today,
    )
