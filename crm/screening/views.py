"""Screening pages: the case list, the approvals inbox, one case with its documents, scores and gates, the policy.

Views parse the form, call one service from ``crm.screening.services`` through
``perform`` (commit, or roll back and show why) and redirect back to the case. A
POST from a page showing an older version of the case answers 409 before
anything else; a case outside the user's territories answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from crm.access.roles import STAFF_ROLES, Role, roles_required
from crm.access.scoping import get_scoped_or_404, scoped
from crm.common import uploads
from crm.common.errors import check_version
from crm.common.pagination import paginate
from crm.common.spreadsheets import XlsxExport, refuse_large_export
from crm.common.time import local_naive, local_now
from crm.distributors.models import QualificationDocument
from crm.extensions import db
from crm.leads.models import Lead
from crm.products.models import Product
from crm.screening import gates, services
from crm.screening.forms import CaseForm, DecisionForm, DocumentForm, LineForm, PolicyForm, ScoreForm
from crm.screening.models import Criterion, ScreeningCase
from crm.screening.workflow import SCREENING_MACHINE as MACHINE
from crm.territories.models import Territory
from crm.web import perform
from crm.workflow import engine
from crm.workflow.badges import sla_status_labels

bp = Blueprint("screening", __name__, url_prefix="/screening")

APPLICANT_SIDE = (Role.REP, Role.MANAGER, Role.ADMIN)
MANAGERS = (Role.MANAGER, Role.ADMIN)
INBOX_STATES = ("submitted", "reviewing", "recommended")


@bp.app_template_global()
def may_start_screening(lead: Lead) -> bool:
    """For the lead page: whether to offer "Start screening" (an applied lead, in reach, no open case)."""
    return services.may_open_from(lead, current_user)


def is_director(user) -> bool:
    return user.role == Role.ADMIN or (user.role == Role.MANAGER and user.is_director)


# -- lists ---------------------------------------------------------------------------------


# The list's sortable columns (templates/_list.html sort headers); "" is newest first.
CASE_SORTS = {"created": ScreeningCase.id, "company": ScreeningCase.company_name, "deadline": ScreeningCase.sla_due_at}


@dataclass
class CaseFilters:
    """What the case list (and its export) was asked for; anything that does not parse is ignored."""

    state: str
    q: str
    sort: str

    @classmethod
    def from_args(cls, args) -> CaseFilters:
        state = (args.get("state") or "").strip()
        if state not in {s.code for s in MACHINE.states}:
            state = ""
        sort = args.get("sort") or ""
        if sort.lstrip("-") not in CASE_SORTS:
            sort = ""
        return cls(state, (args.get("q") or "").strip()[:64], sort)

    def as_args(self) -> dict[str, str]:
        """The non-empty filters, for page, sort and export links."""
        return {k: v for k, v in {"q": self.q, "state": self.state, "sort": self.sort}.items() if v}

    def apply(self, stmt):
        if self.state:
            stmt = stmt.where(ScreeningCase._state == self.state)
        if self.q:
            stmt = stmt.where(ScreeningCase.company_name.contains(self.q) | ScreeningCase.uscc.contains(self.q.upper()))
        key, descending = self.sort.lstrip("-"), self.sort.startswith("-")
        if not key:
            return stmt.order_by(ScreeningCase.id.desc())
        column = CASE_SORTS[key]
        order = column.desc() if descending else column.asc()
        if key == "deadline":  # cases without a deadline (drafts, closed ones) after the others
            return stmt.order_by(ScreeningCase.sla_due_at.is_(None), order, ScreeningCase.id.desc())
        return stmt.order_by(order, ScreeningCase.id.desc())


def _cases(user):
    """The cases in ``user``'s reach with what a list row shows, loaded in the same statement."""
    return scoped(ScreeningCase, user).options(joinedload(ScreeningCase.assignee))


@bp.route("/")
@roles_required(*STAFF_ROLES)
def index():
    """The cases in the user's reach, newest first, filtered and sorted; two queries a page."""
    filters = CaseFilters.from_args(request.args)
    page = paginate(filters.apply(_cases(current_user)), request.args.get("page"))
    return render_template(
        "screening/index.html",
        page=page,
        state=filters.state,
        q=filters.q,
        sort=filters.sort,
        args=filters.as_args(),
        state_options=[(s.code, s.label) for s in MACHINE.states],
        machine=MACHINE,
        may_open=current_user.role in APPLICANT_SIDE,
    )


@bp.route("/export.xlsx")
@roles_required(*STAFF_ROLES)
def export():
    """The case list as filtered and sorted, every page of it, as XLSX (refused above the configured cap)."""
    filters = CaseFilters.from_args(request.args)
    stmt = filters.apply(_cases(current_user))
    refused = refuse_large_export(
        stmt,
        lambda total, limit: _(
            "%(n)d screening cases match; an export holds at most %(limit)d. Narrow the search and export again.",
            n=total,
            limit=limit,
        ),
        url_for("screening.index", **filters.as_args()),
    )
    if refused:
        return refused
    deadlines = sla_status_labels()
    export = XlsxExport()  # company names and the rest are users' text: never a formula in the file
    sheet = export.sheet(
        _("Screening cases"),
        [
            "#",
            _("Company name"),
            _("Unified social credit code"),
            _("Territory"),
            _("State"),
            _("Handled by"),
            _("Deadline"),
            _("Due by"),
            _("Opened"),
        ],
    )
    for case in db.session.scalars(stmt).unique():
        sheet.append(
            [
                case.id,
                case.company_name,
                case.uscc,
                case.territory.full_name,
                str(MACHINE.state(case.state).label),
                case.assignee.display_name if case.assignee else None,
                deadlines.get(case.sla_status, ""),
                local_naive(case.sla_due_at),
                local_naive(case.created_at),
            ]
        )
    return export.send(f"screening-cases-{local_now().strftime('%Y%m%d-%H%M')}.xlsx")


@bp.route("/approvals")
@roles_required(*MANAGERS)
def approvals():
    """Cases waiting on a manager or a director, the most urgent deadline first (none last)."""
    stmt = (
        scoped(ScreeningCase, current_user)
        .options(joinedload(ScreeningCase.assignee), joinedload(ScreeningCase.submitted_by))
        .where(ScreeningCase._state.in_(INBOX_STATES))
        .order_by(
            sql_case((ScreeningCase.sla_due_at.is_(None), 1), else_=0),
            ScreeningCase.sla_due_at,
            ScreeningCase.id,
        )
    )
    page = paginate(stmt, request.args.get("page"))
    return render_template("screening/approvals.html", page=page, director=is_director(current_user))


# -- opening and editing -------------------------------------------------------------------


def _territory_choice(code: str | None) -> list[tuple[str, str]]:
    territory = db.session.get(Territory, code) if code else None
    return [("", "")] + ([(territory.code, territory.full_name)] if territory else [])


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*APPLICANT_SIDE)
def new():
    """Open a case, from an applied lead (``?lead_id=``: its company, territory and contact are copied) or blank."""
    form = CaseForm()
    lead_id = request.values.get("lead_id", type=int)
    lead = get_scoped_or_404(Lead, lead_id, current_user) if lead_id else None
    if request.method == "GET" and lead is not None:
        contact = lead.contacts[0] if lead.contacts else None
        form.lead_id.data = lead.id
        form.company_name.data = lead.company_name
        form.uscc.data = lead.uscc
        form.territory_code.data = lead.territory_code
        form.address.data = lead.address
        form.contact_name.data = contact.name if contact else None
        form.contact_phone.data = contact.phones[0].e164 if contact and contact.phones else None
    form.territory_code.choices = _territory_choice(form.territory_code.data)
    if form.validate_on_submit():
        outcome = perform(
            services.open_case,
            current_user,
            lead=lead,
            company_name=form.company_name.data,
            uscc=form.uscc.data,
            territory_code=form.territory_code.data,
            address=form.address.data,
            contact_name=form.contact_name.data,
            contact_phone=form.contact_phone.data,
            summary=form.summary.data,
        )
        if outcome.ok:
            flash(_("Screening case #%(id)d opened.", id=outcome.value.id), "success")
            return redirect(url_for("screening.detail", case_id=outcome.value.id), code=303)
    return render_template("screening/form.html", form=form, case=None, lead=lead)


def _case_for_post(case_id: int) -> ScreeningCase:
    """The case (404 when out of reach); a POST from a page showing an older version answers 409 first."""
    case = get_scoped_or_404(ScreeningCase, case_id, current_user)
    check_version(case, request.form.get("seen_version"))
    return case


@bp.route("/<int:case_id>/edit", methods=["GET", "POST"])
@roles_required(*APPLICANT_SIDE)
def edit(case_id):
    """Edit the applicant's profile while the case is a draft or waits for information."""
    case = get_scoped_or_404(ScreeningCase, case_id, current_user)
    if request.method == "POST":
        check_version(case, request.form.get("seen_version"))
    form = CaseForm(obj=case)
    if request.method == "GET":
        form.remember_version(case)
    form.territory_code.choices = _territory_choice(form.territory_code.data)
    if form.validate_on_submit():
        outcome = perform(
            services.update_case,
            case,
            current_user,
            seen_version=form.seen_version.data,
            company_name=form.company_name.data,
            uscc=form.uscc.data,
            territory_code=form.territory_code.data,
            address=form.address.data,
            contact_name=form.contact_name.data,
            contact_phone=form.contact_phone.data,
            summary=form.summary.data,
        )
        if outcome.ok:
            flash(_("Saved."), "success")
            return redirect(url_for("screening.detail", case_id=case.id), code=303)
    return render_template("screening/form.html", form=form, case=case, lead=case.lead)


# -- the case page ---------------------------------------------------------------------------


@bp.route("/<int:case_id>")
@roles_required(*STAFF_ROLES)
def detail(case_id):
    """The case: applicant, lines, documents, scorecard, every gate passed or failed, actions, history."""
    case = get_scoped_or_404(ScreeningCase, case_id, current_user)
    user = current_user
    editable = case.state in services.EDITABLE_STATES and user.role in APPLICANT_SIDE
    line_form = LineForm()
    line_form.territory_code.choices = _territory_choice(case.territory_code)
    line_form.territory_code.data = case.territory_code
    if editable:
        products = db.session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.name)).all()
        line_form.product_id.choices = [(str(p.id), p.name) for p in products]
    approve_refusal = None
    if case.state in MACHINE.event("approve").sources and user.role in MANAGERS:
        approve_refusal = engine.refusal(case, "approve", user)
    document_form, score_form = DocumentForm(), ScoreForm()
    for form in (line_form, document_form, score_form):
        form.remember_version(case)
    scores = {s.criterion: s for s in case.scores}
    rules = gates.policy()
    return render_template(
        "screening/detail.html",
        case=case,
        record=case,
        machine=MACHINE,
        events=services.button_events(case, user),
        history=engine.history_of(case),
        gate_results=gates.report(case, user) if case.state not in ("approved", "rejected", "contracted") else [],
        documents=list(case.documents),
        editable=editable,
        can_upload=case.state in services.DOCUMENT_STATES and user.role in APPLICANT_SIDE,
        can_score=case.state in services.SCORING_STATES and user.role in MANAGERS,
        show_approve=case.state in MACHINE.event("approve").sources and user.role in MANAGERS,
        approve_refusal=approve_refusal,
        line_form=line_form,
        document_form=document_form,
        score_form=score_form,
        decision_form=DecisionForm(),
        criteria=list(Criterion),
        scores=scores,
        rules=rules,
        weighted=gates.weighted_score(case),
        key_region=gates.is_key_region(case),
        max_mb=uploads.megabytes(services.document_limit()),
    )


def _back(case: ScreeningCase, anchor: str | None = None):
    return redirect(url_for("screening.detail", case_id=case.id, _anchor=anchor), code=303)


def _flash_form_errors(form) -> None:
    for field in form:
        for error in field.errors:
            flash(f"{field.label.text}: {error}", "danger")


@bp.route("/<int:case_id>/lines", methods=["POST"])
@roles_required(*APPLICANT_SIDE)
def add_line(case_id):
    case = _case_for_post(case_id)
    form = LineForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return _back(case, "lines")
    outcome = perform(
        services.add_line,
        case,
        current_user,
        product_id=form.product_id.data,
        territory_code=form.territory_code.data,
        exclusive=form.exclusive.data,
    )
    if outcome.ok:
        line = outcome.value
        message = _("Added: %(product)s in %(place)s.", product=line.product.name, place=line.territory.full_name)
        flash(message, "success")
    return _back(case, "lines")


@bp.route("/<int:case_id>/lines/<int:line_id>/delete", methods=["POST"])
@roles_required(*APPLICANT_SIDE)
def remove_line(case_id, line_id):
    case = _case_for_post(case_id)
    if perform(services.remove_line, case, current_user, line_id=line_id).ok:
        flash(_("Removed."), "success")
    return _back(case, "lines")


@bp.route("/<int:case_id>/documents", methods=["POST"])
@roles_required(*APPLICANT_SIDE)
def upload_document(case_id):
    """Upload a qualification document; a refused file leaves the case as it was and says why."""
    case = _case_for_post(case_id)
    form = DocumentForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return _back(case, "documents")
    outcome = perform(
        services.add_document,
        case,
        current_user,
        kind=form.kind.data,
        upload=form.file.data,
        number=form.number.data,
        scope=form.scope.data,
        issued_on=form.issued_on.data,
        expires_on=form.expires_on.data,
    )
    if outcome.ok:
        flash(_("%(kind)s uploaded.", kind=outcome.value.kind.label), "success")
    return _back(case, "documents")


@bp.route("/<int:case_id>/documents/<int:document_id>")
@roles_required(*STAFF_ROLES)
def document(case_id, document_id):
    """A document's file, only to users who may see the case (404 otherwise, like a missing one)."""
    case = get_scoped_or_404(ScreeningCase, case_id, current_user)
    item = db.session.get(QualificationDocument, document_id)
    if item is None or item.case_id != case.id:
        abort(404)
    return uploads.send_stored(services.DOCUMENT_AREA, item.stored_name)


@bp.route("/<int:case_id>/scores", methods=["POST"])
@roles_required(*MANAGERS)
def score(case_id):
    case = _case_for_post(case_id)
    form = ScoreForm()
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return _back(case, "scorecard")
    outcome = perform(
        services.score, case, current_user, criterion=form.criterion.data, score=form.score.data, note=form.note.data
    )
    if outcome.ok:
        flash(_("Score saved: %(criterion)s.", criterion=outcome.value.criterion.label), "success")
    return _back(case, "scorecard")


@bp.route("/<int:case_id>/events/<event_name>", methods=["POST"])
@roles_required(*APPLICANT_SIDE)
def fire(case_id, event_name):
    """One of the case's buttons: submit, pick up, ask for or provide information, recommend, reject."""
    case = _case_for_post(case_id)
    if event_name not in services.BUTTON_EVENTS:
        abort(404)
    outcome = perform(
        services.fire,
        case,
        event_name,
        current_user,
        seen_version=request.form.get("seen_version"),
        comment=request.form.get("comment"),
    )
    if outcome.ok:
        flash(_("Done: %(event)s.", event=MACHINE.event(event_name).label), "success")
    return _back(case)


@bp.route("/<int:case_id>/approve", methods=["POST"])
@roles_required(*MANAGERS)
def approve(case_id):
    """Approve the case (every gate must pass): the distributor is created in onboarding with a draft agreement."""
    case = _case_for_post(case_id)
    outcome = perform(
        services.approve_case,
        case,
        current_user,
        seen_version=request.form.get("seen_version"),
        comment=request.form.get("comment"),
    )
    if outcome.ok:
        distributor, _agreement = outcome.value
        flash(_("Approved: %(name)s is now a distributor in onboarding.", name=distributor.name), "success")
    return _back(case)


# -- the admin's policy --------------------------------------------------------------------------


@bp.route("/policy", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def policy():
    """Scorecard weights, pass mark and how long licences must still run; a stale form answers 409."""
    rules = gates.policy()
    if request.method == "POST":
        check_version(rules, request.form.get("seen_version"))
    form = PolicyForm(obj=rules)
    if request.method == "GET":
        form.remember_version(rules)
    if form.validate_on_submit():
        outcome = perform(
            services.update_policy,
            current_user,
            seen_version=form.seen_version.data,
            weights={c.value: getattr(form, f"weight_{c.value}").data for c in Criterion},
            pass_threshold=form.pass_threshold.data,
            licence_min_days=form.licence_min_days.data,
        )
        if outcome.ok:
            flash(_("Screening policy saved."), "success")
            return redirect(url_for("screening.policy"), code=303)
    return render_template("screening/policy.html", form=form, rules=rules, criteria=list(Criterion))
