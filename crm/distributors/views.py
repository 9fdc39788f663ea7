"""Distributor pages: the list, the profile with its agreements, the portal's own page, and coverage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from crm.access.roles import STAFF_ROLES, Role, roles_required
from crm.access.scoping import get_scoped_or_404, scoped
from crm.auth.models import User
from crm.common.errors import check_version
from crm.common.pagination import paginate
from crm.common.spreadsheets import XlsxExport, refuse_large_export
from crm.common.time import local_naive, local_now, local_today
from crm.distributors import onboarding, services
from crm.distributors.coverage import coverage_for
from crm.distributors.forms import AgreementForm, DistributorForm
from crm.distributors.licences import WARN_DAYS, licences_of
from crm.distributors.models import EXPIRING_KINDS, Agreement, AgreementStatus, Distributor, QualificationDocument
from crm.distributors.workflow import DISTRIBUTOR_MACHINE
from crm.extensions import db
from crm.products.models import Product
from crm.territories.models import Territory
from crm.web import perform
from crm.workflow import engine

bp = Blueprint("distributors", __name__, url_prefix="/distributors")

SIGNERS = (Role.MANAGER, Role.ADMIN)


# The list's sortable columns (templates/_list.html sort headers); "" is by name.
DISTRIBUTOR_SORTS = {"name": Distributor.name, "state": Distributor._state, "created": Distributor.id}


@dataclass
class DistributorFilters:
    """What the distributor list (and its export) was asked for; anything that does not parse is ignored."""

    state: str
    q: str
    sort: str

    @classmethod
    def from_args(cls, args) -> DistributorFilters:
        state = args.get("state") or ""
        if state not in {s.code for s in DISTRIBUTOR_MACHINE.states}:
            state = ""
        sort = args.get("sort") or ""
        if sort.lstrip("-") not in DISTRIBUTOR_SORTS:
            sort = ""
        return cls(state, (args.get("q") or "").strip()[:64], sort)

    def as_args(self) -> dict[str, str]:
        """The non-empty filters, for page, sort and export links."""
        return {k: v for k, v in {"q": self.q, "state": self.state, "sort": self.sort}.items() if v}

    def apply(self, stmt):
        if self.q:
            stmt = stmt.where(Distributor.name.contains(self.q) | Distributor.uscc.contains(self.q.upper()))
        if self.state:
            stmt = stmt.where(Distributor._state == self.state)
        key, descending = self.sort.lstrip("-") or "name", self.sort.startswith("-")
        column = DISTRIBUTOR_SORTS[key]
        order = column.desc() if descending else column.asc()
        if key == "name":
            return stmt.order_by(order, Distributor.id)
        return stmt.order_by(order, Distributor.name, Distributor.id)


@bp.route("/")
@roles_required(*STAFF_ROLES)
def index():
    filters = DistributorFilters.from_args(request.args)
    page = paginate(filters.apply(scoped(Distributor, current_user)), request.args.get("page"))
    return render_template(
        "distributors/index.html",
        page=page,
        q=filters.q,
        state=filters.state,
        sort=filters.sort,
        args=filters.as_args(),
        state_options=[(s.code, s.label) for s in DISTRIBUTOR_MACHINE.states],
        machine=DISTRIBUTOR_MACHINE,
        licences=_licence_summaries([d.id for d in page.items]),
    )


@bp.route("/export.xlsx")
@roles_required(*STAFF_ROLES)
def export():
    """The distributor list as filtered and sorted, every page of it, as XLSX (refused above the configured cap)."""
    filters = DistributorFilters.from_args(request.args)
    stmt = filters.apply(scoped(Distributor, current_user))
    refused = refuse_large_export(
        stmt,
        lambda total, limit: _(
            "%(n)d distributors match; an export holds at most %(limit)d. Narrow the search and export again.",
            n=total,
            limit=limit,
        ),
        url_for("distributors.index", **filters.as_args()),
    )
    if refused:
        return refused
    export = XlsxExport()  # company and contact names are users' text: never a formula in the file
    sheet = export.sheet(
        _("Distributors"),
        [
            _("Company name"),
            _("State"),
            _("Territory"),
            _("Unified social credit code"),
            _("Licences on file"),
            _("Licences expiring or expired"),
            _("Registered"),
        ],
    )
    distributors = list(db.session.scalars(stmt).unique())
    for start in range(0, len(distributors), 1000):
        chunk = distributors[start : start + 1000]
        summaries = _licence_summaries([d.id for d in chunk])
        for d in chunk:
            summary = summaries.get(d.id, LicenceSummary(0, 0))
            sheet.append(
                [
                    d.name,
                    str(d.state_def.label),
                    d.territory.full_name,
                    d.uscc,
                    summary.on_file,
                    summary.warnings,
                    local_naive(d.created_at),
                ]
            )
    return export.send(f"distributors-{local_now().strftime('%Y%m%d-%H%M')}.xlsx")


@dataclass(frozen=True)
class LicenceSummary:
    """What the list's 证照 column says of one distributor's current licences."""

    on_file: int  # current (not superseded) licences
    warnings: int  # of those, expired or expiring within WARN_DAYS


def _licence_summaries(distributor_ids: list[int]) -> dict[int, LicenceSummary]:
    """distributor id → its licences on file and how many need attention; one query for the page."""
    if not distributor_ids:
        return {}
    limit = local_today() + timedelta(days=WARN_DAYS)
    expiring = QualificationDocument.kind.in_(EXPIRING_KINDS) & (QualificationDocument.expires_on <= limit)
    stmt = (
        select(
            QualificationDocument.distributor_id,
            func.count(),
            func.count().filter(expiring),
        )
        .where(
            QualificationDocument.distributor_id.in_(distributor_ids),
            QualificationDocument.superseded_at.is_(None),
        )
        .group_by(QualificationDocument.distributor_id)
    )
    return {did: LicenceSummary(total, warn) for did, total, warn in db.session.execute(stmt)}


@bp.route("/<int:distributor_id>")
@roles_required(*STAFF_ROLES)
def detail(distributor_id):
    distributor = get_scoped_or_404(Distributor, distributor_id, current_user)
    return _render_detail(distributor)


@bp.route("/mine")
@roles_required(Role.DISTRIBUTOR)
def my_company():
    if current_user.company_id is None:
        abort(404)
    return _render_detail(get_scoped_or_404(Distributor, current_user.company_id, current_user))


def _render_detail(distributor, status: int = 200):
    staff = current_user.role in STAFF_ROLES
    may_sign = current_user.role in SIGNERS
    today = local_today()
    context = {
        "distributor": distributor,
        "machine": DISTRIBUTOR_MACHINE,
        "staff": staff,
        "may_sign": may_sign,
        "agreements": list(distributor.agreements),
        "licences": licences_of(distributor.id),
        "today": today,
        "portal_users": [],
        "history": [],
        "events": [],
        "case": None,
        "case_url": None,
        "products": [],
    }
    if staff:
        context["portal_users"] = list(
            db.session.scalars(select(User).where(User.company_id == distributor.id).order_by(User.username))
        )
        context["history"] = engine.history_of(distributor)
        context["events"] = engine.available_events(distributor, current_user)
        context["case"], context["case_url"] = _case_link(distributor)
        if may_sign and any(a.status == AgreementStatus.DRAFT for a in distributor.agreements):
            context["products"] = list(
                db.session.scalars(select(Product).where(Product.active.is_(True)).order_by(Product.name))
            )
    return render_template("distributors/detail.html", **context), status


def _case_link(distributor):
    from crm.screening.models import ScreeningCase  # screening's models import this package's

    case = db.session.scalars(
        select(ScreeningCase).where(ScreeningCase.distributor_id == distributor.id).order_by(ScreeningCase.id)
    ).first()
    return case, (url_for("screening.detail", case_id=case.id) if case else None)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new():
    form = DistributorForm()
    _territory_choices(form)
    if form.validate_on_submit():
        outcome = perform(
            services.create_distributor,
            name=form.name.data,
            uscc=form.uscc.data,
            territory_code=form.territory_code.data,
            contact_name=form.contact_name.data,
            actor=current_user,
        )
        if outcome.ok:
            distributor = outcome.value
            flash(_("Distributor %(name)s created.", name=distributor.name), "success")
            return redirect(url_for("distributors.detail", distributor_id=distributor.id))
    return render_template("distributors/form.html", form=form, distributor=None)


@bp.route("/<int:distributor_id>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit(distributor_id):
    distributor = get_scoped_or_404(Distributor, distributor_id, current_user)
    form = DistributorForm(obj=distributor)
    if request.method == "GET":
        form.remember_version(distributor)
    _territory_choices(form)
    if form.validate_on_submit():
        outcome = perform(
            services.update_distributor,
            distributor,
            seen_version=form.seen_version.data,
            name=form.name.data,
            uscc=form.uscc.data,
            territory_code=form.territory_code.data,
            contact_name=form.contact_name.data,
        )
        if outcome.ok:
            flash(_("Saved."), "success")
            return redirect(url_for("distributors.detail", distributor_id=distributor.id))
    return render_template("distributors/form.html", form=form, distributor=distributor)


def _territory_choices(form):
    code = form.territory_code.data
    territory = db.session.get(Territory, code) if code else None
    form.territory_code.choices = [("", "")] + ([(territory.code, territory.full_name)] if territory else [])


@bp.route("/<int:distributor_id>/terminate", methods=["POST"])
@roles_required(*SIGNERS)
def terminate(distributor_id):
    """End the relationship: agreements end, portal accounts are deactivated (409 on a stale page)."""
    distributor = get_scoped_or_404(Distributor, distributor_id, current_user)
    check_version(distributor, request.form.get("seen_version"))
    outcome = perform(
        onboarding.terminate_distributor,
        distributor,
        current_user,
        request.form.get("seen_version"),
        request.form.get("comment"),
    )
    if outcome.ok:
        flash(_("%(name)s is terminated.", name=distributor.name), "success")
    return _back_to(distributor_id)


# -- agreements -------------------------------------------------------------------


def agreement_or_404(agreement_id) -> Agreement:
    """An agreement of a distributor the user may see, or 404."""
    agreement = db.session.get(Agreement, agreement_id)
    if agreement is None:
        abort(404)
    get_scoped_or_404(Distributor, agreement.distributor_id, current_user)
    return agreement


def _stale_or_404(agreement_id) -> Agreement:
    # The version first, as the engine does: a stale page hears "reload", not a rule.
    agreement = agreement_or_404(agreement_id)
    check_version(agreement, request.form.get("seen_version"))
    return agreement


def _back_to(distributor_id):
    return redirect(url_for("distributors.detail", distributor_id=distributor_id) + "#agreements", code=303)


@bp.route("/agreements/<int:agreement_id>/edit", methods=["GET", "POST"])
@roles_required(*SIGNERS)
def agreement_edit(agreement_id):
    agreement = agreement_or_404(agreement_id)
    form = AgreementForm(obj=agreement)
    if request.method == "GET":
        form.remember_version(agreement)
    if form.validate_on_submit():
        outcome = perform(
            onboarding.update_agreement,
            agreement,
            current_user,
            form.seen_version.data,
            form.starts_on.data,
            form.ends_on.data,
            form.annual_target.data,
            form.deposit.data,
            form.price_policy.data,
        )
        if outcome.ok:
            flash(_("Saved."), "success")
            return _back_to(agreement.distributor_id)
    return render_template("distributors/agreement_form.html", form=form, agreement=agreement)


@bp.route("/agreements/<int:agreement_id>/lines", methods=["POST"])
@roles_required(*SIGNERS)
def agreement_line_add(agreement_id):
    agreement = _stale_or_404(agreement_id)
    outcome = perform(
        onboarding.add_line,
        agreement,
        current_user,
        request.form.get("seen_version"),
        request.form.get("product_id"),
        (request.form.get("territory_code") or "").strip(),
        request.form.get("exclusive") in ("y", "1", "on"),
        request.form.get("unit_price"),
    )
    if outcome.ok:
        flash(_("Added to agreement %(number)s.", number=agreement.number), "success")
    return _back_to(agreement.distributor_id)


@bp.route("/agreements/<int:agreement_id>/lines/<int:agreement_line_id>/price", methods=["POST"])
@roles_required(*SIGNERS)
def agreement_line_price(agreement_id, agreement_line_id):
    agreement = _stale_or_404(agreement_id)
    outcome = perform(
        onboarding.set_line_price,
        agreement,
        current_user,
        request.form.get("seen_version"),
        agreement_line_id,
        request.form.get("unit_price"),
    )
    if outcome.ok:
        flash(_("Price saved for %(product)s.", product=outcome.value.product.name), "success")
    return _back_to(agreement.distributor_id)


@bp.route("/agreements/<int:agreement_id>/lines/<int:agreement_line_id>/remove", methods=["POST"])
@roles_required(*SIGNERS)
def agreement_line_remove(agreement_id, agreement_line_id):
    agreement = _stale_or_404(agreement_id)
    outcome = perform(
        onboarding.remove_line, agreement, current_user, request.form.get("seen_version"), agreement_line_id
    )
    if outcome.ok:
        flash(_("Removed from agreement %(number)s.", number=agreement.number), "success")
    return _back_to(agreement.distributor_id)


@bp.route("/agreements/<int:agreement_id>/contacts", methods=["POST"])
@roles_required(*SIGNERS)
def agreement_contact_add(agreement_id):
    agreement = _stale_or_404(agreement_id)
    outcome = perform(
        onboarding.add_contact,
        agreement,
        current_user,
        request.form.get("seen_version"),
        request.form.get("name"),
        request.form.get("phone"),
        request.form.get("email"),
    )
    if outcome.ok:
        flash(_("Contact added to agreement %(number)s.", number=agreement.number), "success")
    return _back_to(agreement.distributor_id)


@bp.route("/agreements/<int:agreement_id>/contacts/<int:agreement_contact_id>/remove", methods=["POST"])
@roles_required(*SIGNERS)
def agreement_contact_remove(agreement_id, agreement_contact_id):
    agreement = _stale_or_404(agreement_id)
    outcome = perform(
        onboarding.remove_contact, agreement, current_user, request.form.get("seen_version"), agreement_contact_id
    )
    if outcome.ok:
        flash(_("Contact removed from agreement %(number)s.", number=agreement.number), "success")
    return _back_to(agreement.distributor_id)


@bp.route("/agreements/<int:agreement_id>/sign", methods=["POST"])
@roles_required(*SIGNERS)
def agreement_sign(agreement_id):
    """Sign; the answer is the one page that shows the new portal passwords (never stored, never shown again)."""
    agreement = _stale_or_404(agreement_id)
    outcome = perform(onboarding.sign_agreement, agreement, current_user, request.form.get("seen_version"))
    if not outcome.ok:
        return _back_to(agreement.distributor_id)
    response = render_template("distributors/signed.html", agreement=agreement, credentials=outcome.value)
    # The passwords must not stay in any cache, nor be shown again by the back button.
    return response, 200, {"Cache-Control": "no-store"}


# -- coverage ---------------------------------------------------------------------


@bp.route("/coverage")
@roles_required(Role.MANAGER, Role.ADMIN)
def coverage():
    """Per product: which places have an active distributor, exclusive or not, and which key regions have none."""
    return render_template("distributors/coverage.html", rows=coverage_for(current_user))
