"""One lead's pages: create, view with its timeline, log a touch, mark lost, reassign, merge.

Views parse the form, call one service from ``crm.leads.services`` and commit; a
rule the user broke comes back as a message on the same page, a stale page as 409.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from crm.access.roles import STAFF_ROLES, Role, roles_required
from crm.access.scoping import get_scoped_or_404, scoped
from crm.auth.models import User
from crm.common import uploads
from crm.common.errors import BusinessError, check_version
from crm.extensions import db
from crm.leads import services
from crm.leads.blueprint import bp
from crm.leads.campaigns import scripts_for
from crm.leads.forms import MAX_CONTACTS, LeadForm, LostForm, MergeForm, ReassignForm, TouchForm
from crm.leads.models import Campaign, Lead, Touch
from crm.leads.workflow import LEAD_MACHINE, OPEN_STATES
from crm.products.models import Product
from crm.territories.models import Territory
from crm.web import perform
from crm.workflow import engine
from crm.workflow.models import WorkflowHistory

CREATORS = (Role.REP, Role.MANAGER, Role.ADMIN)
TOUCHERS = (Role.REP, Role.MANAGER)
MANAGERS = (Role.MANAGER, Role.ADMIN)
# A chain of merges deeper than this is not followed on a timeline.
MAX_MERGE_DEPTH = 10


# -- creation --------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*CREATORS)
def new():
    """Enter a lead; a look-alike of existing leads is shown to the user, who may create it anyway."""
    form = LeadForm()
    _lead_form_choices(form)
    warning = None
    if form.validate_on_submit():
        contacts = [
            services.ContactInput(
                entry.form.name.data, entry.form.title.data, [entry.form.phone1.data, entry.form.phone2.data]
            )
            for entry in form.contacts
        ]
        try:
            lead = services.create_lead(
                current_user,
                company_name=form.company_name.data,
                territory_code=form.territory_code.data,
                campaign_id=form.campaign_id.data,
                contacts=contacts,
                uscc=form.uscc.data,
                address=form.address.data,
                distributor_kind=form.distributor_kind.data or None,
                product_lines=form.product_lines.data,
                terminal_coverage=form.terminal_coverage.data,
                estimated_capital=form.estimated_capital.data,
                logistics=form.logistics.data,
                product_ids=form.product_ids.data or [],
                next_touch_on=form.next_touch_on.data,
                allow_duplicate=form.allow_duplicate.data,
            )
        except services.DuplicateLead as found:
            db.session.rollback()
            warning = services.warn_of_duplicates(found.duplicates, current_user)
            db.session.commit()  # the managers told of look-alikes out of reach stay told
            flash(found.message, "warning")
        except BusinessError as error:
            db.session.rollback()
            flash(error.message, "danger")
        else:
            db.session.commit()
            flash(_("Lead %(name)s created.", name=lead.company_name), "success")
            return redirect(url_for("leads.detail", lead_id=lead.id), code=303)
    return render_template(
        "leads/form.html", form=form, warning=warning, machine=LEAD_MACHINE, max_contacts=MAX_CONTACTS
    )


def _lead_form_choices(form) -> None:
    """Choices of the new-lead form and the edit form (which has no territory: it stays)."""
    if hasattr(form, "territory_code"):
        code = form.territory_code.data
        territory = db.session.get(Territory, code) if code else None
        form.territory_code.choices = [("", "")] + ([(territory.code, territory.full_name)] if territory else [])
    campaigns = db.session.scalars(select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.id.desc())).all()
    form.campaign_id.choices = [(c.id, f"{c.name} · {c.channel.label}") for c in campaigns]
    products = db.session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.name)).all()
    form.product_ids.choices = [(p.id, p.name) for p in products]


# -- the lead page -----------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a lead's timeline: a touch or a history row, of this lead or of one merged into it."""

    at: datetime
    order: int
    touch: Touch | None = None
    history: WorkflowHistory | None = None
    data: dict | None = None
    lead_id: int | None = None
    merged: bool = False  # from a lead merged into this one


def merged_lead_ids(lead: Lead) -> list[int]:
    """Ids of the leads merged into ``lead``, directly or through a chain of merges."""
    found: list[int] = []
    frontier = [lead.id]
    for _depth in range(MAX_MERGE_DEPTH):
        frontier = list(db.session.scalars(select(Lead.id).where(Lead.merged_into_id.in_(frontier))))
        frontier = [i for i in frontier if i not in found and i != lead.id]
        if not frontier:
            break
        found.extend(frontier)
    return found


def lead_timeline(lead: Lead, merged_ids: list[int]) -> list[TimelineEntry]:
    """Touches and workflow history of the lead and the leads merged into it, newest first: two queries."""
    ids = [lead.id, *merged_ids]
    history = db.session.scalars(
        select(WorkflowHistory).where(WorkflowHistory.workflow == LEAD_MACHINE.name, WorkflowHistory.record_id.in_(ids))
    ).all()
    touches = db.session.scalars(select(Touch).where(Touch.lead_id.in_(ids))).all()
    entries = [TimelineEntry(t.at, t.id, touch=t, lead_id=t.lead_id, merged=t.lead_id != lead.id) for t in touches]
    for h in history:
        if h.event == "log_touch":
            continue  # the touch itself is on the timeline
        entries.append(
            TimelineEntry(
                h.at,
                h.id,
                history=h,
                data=json.loads(h.data) if h.data else {},
                lead_id=h.record_id,
                merged=h.record_id != lead.id,
            )
        )
    return sorted(entries, key=lambda e: (e.at, e.history is not None, e.order), reverse=True)


def _user_names(entries: list[TimelineEntry], lead: Lead) -> dict[int, str]:
    ids = {lead.assignee_id} if lead.assignee_id else set()
    for entry in entries:
        if entry.history is not None and entry.history.event == "reassign":
            ids.update(v for v in (entry.data.get("from"), entry.data.get("to")) if v)
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(sorted(ids)))).all())


@bp.route("/<int:lead_id>")
@roles_required(*STAFF_ROLES)
def detail(lead_id):
    """The lead: profile, contacts, owner, SLA, the actions open to the user, and one timeline."""
    lead = get_scoped_or_404(Lead, lead_id, current_user)
    merged_ids = merged_lead_ids(lead)
    timeline = lead_timeline(lead, merged_ids)
    return render_template(
        "leads/detail.html",
        lead=lead,
        record=lead,
        machine=LEAD_MACHINE,
        events=engine.available_events(lead, current_user),
        timeline=timeline,
        user_names=_user_names(timeline, lead),
        can_touch=current_user.role in TOUCHERS and lead.state != "merged",
        can_edit=current_user.role in CREATORS and lead.state != "merged",
        can_lose=engine.refusal(lead, "lose", current_user) is None,
        can_reassign=current_user.role in MANAGERS and lead.state != "merged",
        can_release=lead.state in OPEN_STATES
        and not lead.in_pool
        and (current_user.role in MANAGERS or lead.assignee_id == current_user.id),
        can_merge=engine.refusal(lead, "merge", current_user) is None,
    )


# -- touches -------------------------------------------------------------------------


def _lead_and_form(lead_id: int, form_class):
    """The lead (404 when out of reach) and its versioned form.

    A POST from a page showing an older version answers 409 before anything else,
    so a stale page hears "reload" rather than a complaint about a state it never saw.
    """
    lead = get_scoped_or_404(Lead, lead_id, current_user)
    if request.method == "POST":
        check_version(lead, request.form.get("seen_version"))
    form = form_class()
    if request.method == "GET":
        form.remember_version(lead)
    return lead, form


@bp.route("/<int:lead_id>/touches/new", methods=["GET", "POST"])
@roles_required(*TOUCHERS)
def touch(lead_id):
    """The phone-sized touch form, with the standard scripts for the lead's products beside it."""
    lead, form = _lead_and_form(lead_id, TouchForm)
    if request.method == "GET":
        form.next_touch_on.data = None  # the lead's date is the old plan; the rep sets the next one
    if form.validate_on_submit():
        photo = _uploaded_photo(form)
        outcome = perform(
            services.log_touch,
            lead,
            current_user,
            seen_version=form.seen_version.data,
            kind=form.kind.data,
            method=form.method.data,
            summary=form.summary.data,
            outcome=form.outcome.data,
            next_step=form.next_step.data,
            next_touch_on=form.next_touch_on.data,
            photo=photo,
        )
        if outcome.ok:
            flash(_("Touch recorded."), "success")
            return redirect(url_for("leads.detail", lead_id=lead.id), code=303)
    return render_template(
        "leads/touch.html",
        form=form,
        lead=lead,
        # Scripts for the lead's products and the general ones; every script while none is named.
        scripts=list(db.session.scalars(scripts_for([p.id for p in lead.products]))),
        photo_limit_mb=current_app.config["TOUCH_PHOTO_MAX_BYTES"] // (1024 * 1024),
    )


def _uploaded_photo(form: TouchForm) -> bytes | None:
    """The uploaded bytes, read no further than one byte past the limit (the service refuses more)."""
    return uploads.read_limited(form.photo.data, current_app.config["TOUCH_PHOTO_MAX_BYTES"])


@bp.route("/<int:lead_id>/touches/<int:touch_id>/photo")
@roles_required(*STAFF_ROLES)
def touch_photo(lead_id, touch_id):
    """A touch's photo, only to users who may see the lead (or the lead it was merged into)."""
    lead = get_scoped_or_404(Lead, lead_id, current_user)
    item = db.session.get(Touch, touch_id)
    if item is None or not item.photo_name or item.lead_id not in (lead.id, *merged_lead_ids(lead)):
        abort(404)
    return uploads.send_stored(services.TOUCH_PHOTO_AREA, item.photo_name)


# -- lost, reassign, merge -----------------------------------------------------------


@bp.route("/<int:lead_id>/lost", methods=["GET", "POST"])
@roles_required(*CREATORS)
def lose(lead_id):
    """Close the lead as lost: a reason from the list and a comment are required."""
    lead, form = _lead_and_form(lead_id, LostForm)
    if form.validate_on_submit():
        outcome = perform(
            services.mark_lost,
            lead,
            current_user,
            seen_version=form.seen_version.data,
            reason=form.reason.data,
            comment=form.comment.data,
        )
        if outcome.ok:
            flash(_("The lead is marked lost."), "success")
            return redirect(url_for("leads.detail", lead_id=lead.id), code=303)
    return render_template("leads/lost.html", form=form, lead=lead, refusal=engine.refusal(lead, "lose", current_user))


@bp.route("/<int:lead_id>/owner", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def reassign(lead_id):
    """Give the lead to a rep or manager whose territories cover it."""
    lead, form = _lead_and_form(lead_id, ReassignForm)
    owners = services.possible_owners(lead)
    form.owner_id.choices = [("", "—")] + [(str(u.id), f"{u.display_name} · {u.role.label}") for u in owners]
    if form.validate_on_submit():
        outcome = perform(
            services.reassign_lead,
            lead,
            current_user,
            seen_version=form.seen_version.data,
            owner_id=form.owner_id.data,
            comment=form.comment.data,
        )
        if outcome.ok:
            flash(_("The lead now belongs to %(name)s.", name=lead.assignee.display_name), "success")
            return redirect(url_for("leads.detail", lead_id=lead.id), code=303)
    return render_template("leads/reassign.html", form=form, lead=lead, owners=owners)


MERGE_CANDIDATES = 20


@bp.route("/<int:lead_id>/merge", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def merge(lead_id):
    """Merge this lead into another: find the one to keep by name or phone, look at both, confirm."""
    drop = get_scoped_or_404(Lead, lead_id, current_user)
    if request.method == "POST":
        check_version(drop, request.form.get("seen_version"))
    form = MergeForm()
    if form.validate_on_submit():
        keep = get_scoped_or_404(Lead, _int(form.keep_id.data), current_user)
        if not perform(services.merge_leads, keep, drop, current_user, seen_version=form.seen_version.data).ok:
            return redirect(url_for("leads.merge", lead_id=drop.id, keep=keep.id), code=303)
        flash(_("Lead #%(drop)s merged into this lead.", drop=drop.id), "success")
        return redirect(url_for("leads.detail", lead_id=keep.id), code=303)

    q = (request.args.get("q") or "").strip()
    candidates = []
    condition = services.search_condition(q)
    if condition is not None:
        candidates = db.session.scalars(
            scoped(Lead, current_user)
            .where(condition, Lead.id != drop.id, Lead._state != "merged")
            .order_by(Lead.id.desc())
            .limit(MERGE_CANDIDATES)
        ).all()
    keep = None
    keep_id = _int(request.args.get("keep"))
    if keep_id:
        keep = get_scoped_or_404(Lead, keep_id, current_user)
        form.keep_id.data = keep.id
    form.remember_version(drop)
    return render_template(
        "leads/merge.html",
        form=form,
        lead=drop,
        keep=keep,
        q=q,
        candidates=candidates,
        refusal=engine.refusal(drop, "merge", current_user),
    )


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
