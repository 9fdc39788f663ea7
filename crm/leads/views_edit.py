"""Editing a lead after it is created: its profile and its contacts.

Each page carries the version the user saw: a stale save answers 409 and changes
nothing. A new company name, credit code or phone is checked for duplicates as at
creation; look-alikes out of the user's reach name nothing.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm.access.roles import Role, roles_required
from crm.access.scoping import get_scoped_or_404
from crm.common.errors import BusinessError, Conflict, check_version
from crm.extensions import db
from crm.leads import services
from crm.leads.blueprint import bp
from crm.leads.forms import ContactAddForm, LeadEditForm
from crm.leads.models import Lead
from crm.leads.views import _lead_form_choices
from crm.leads.workflow import LEAD_MACHINE

EDITORS = (Role.REP, Role.MANAGER, Role.ADMIN)


def _run(service, *args, **kwargs):
    """Run a service that may find duplicates: (ok, warning). Commits on success, rolls back otherwise."""
    try:
        value = service(*args, **kwargs)
    except Conflict:
        raise
    except services.DuplicateLead as found:
        db.session.rollback()
        warning = services.warn_of_duplicates(found.duplicates, current_user)
        db.session.commit()  # the managers told of look-alikes out of reach stay told
        flash(found.message, "warning")
        return False, warning, None
    except BusinessError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return False, None, None
    db.session.commit()
    return True, None, value


def _page(lead, form, contact_form, warning=None, contact_warning=None, status=200):
    return (
        render_template(
            "leads/edit.html",
            lead=lead,
            form=form,
            contact_form=contact_form,
            warning=warning,
            contact_warning=contact_warning,
            machine=LEAD_MACHINE,
        ),
        status,
    )


def _product_ids(form, lead) -> list[int]:
    """The ticked products, and those of the lead no longer offered (not on the form, so not unticked)."""
    offered = {value for value, _label in form.product_ids.choices}
    return [*(form.product_ids.data or []), *(p.id for p in lead.products if p.id not in offered)]


def _contact_form(lead) -> ContactAddForm:
    form = ContactAddForm(formdata=None, prefix="contact")
    form.remember_version(lead)
    return form


@bp.route("/<int:lead_id>/edit", methods=["GET", "POST"])
@roles_required(*EDITORS)
def edit(lead_id):
    """The lead's profile: company, credit code, address, 显性/隐性, network, capital, logistics, products."""
    lead = get_scoped_or_404(Lead, lead_id, current_user)
    if request.method == "POST":
        check_version(lead, request.form.get("seen_version"))
    form = LeadEditForm(obj=lead) if request.method == "GET" else LeadEditForm()
    _lead_form_choices(form)
    if request.method == "GET":
        form.remember_version(lead)
        form.distributor_kind.data = lead.distributor_kind.value if lead.distributor_kind else ""
        form.product_ids.data = [p.id for p in lead.products]
    warning = None
    if form.validate_on_submit():
        ok, warning, changes = _run(
            services.update_lead,
            lead,
            current_user,
            seen_version=form.seen_version.data,
            company_name=form.company_name.data,
            campaign_id=form.campaign_id.data,
            uscc=form.uscc.data,
            address=form.address.data,
            distributor_kind=form.distributor_kind.data or None,
            product_lines=form.product_lines.data,
            terminal_coverage=form.terminal_coverage.data,
            estimated_capital=form.estimated_capital.data,
            logistics=form.logistics.data,
            next_touch_on=form.next_touch_on.data,
            product_ids=_product_ids(form, lead),
            allow_duplicate=form.allow_duplicate.data,
        )
        if ok:
            flash(_("Lead saved.") if changes else _("Nothing was changed."), "success" if changes else "info")
            return redirect(url_for("leads.detail", lead_id=lead.id), code=303)
        lead = get_scoped_or_404(Lead, lead_id, current_user)
    return _page(lead, form, _contact_form(lead), warning=warning)


@bp.route("/<int:lead_id>/contacts/new", methods=["POST"])
@roles_required(*EDITORS)
def contact_add(lead_id):
    lead = get_scoped_or_404(Lead, lead_id, current_user)
    check_version(lead, request.form.get("contact-seen_version"))
    form = ContactAddForm(prefix="contact")
    if form.validate_on_submit():
        ok, warning, _contact = _run(
            services.add_contact,
            lead,
            current_user,
            seen_version=lead.version,
            name=form.name.data,
            title=form.title.data,
            phones=[form.phone1.data, form.phone2.data],
            allow_duplicate=form.allow_duplicate.data,
        )
        if ok:
            flash(_("Contact %(name)s added.", name=form.name.data.strip()), "success")
            return redirect(url_for("leads.edit", lead_id=lead.id), code=303)
        lead = get_scoped_or_404(Lead, lead_id, current_user)
    else:
        warning = None
        flash(_("Give the contact's name."), "danger")
    edit_form = LeadEditForm(formdata=None, obj=lead)
    _lead_form_choices(edit_form)
    edit_form.remember_version(lead)
    edit_form.distributor_kind.data = lead.distributor_kind.value if lead.distributor_kind else ""
    edit_form.product_ids.data = [p.id for p in lead.products]
    form.remember_version(lead)
    return _page(lead, edit_form, form, contact_warning=warning)


@bp.route("/<int:lead_id>/contacts/<int:contact_id>/remove", methods=["POST"])
@roles_required(*EDITORS)
def contact_remove(lead_id, contact_id):
    lead = get_scoped_or_404(Lead, lead_id, current_user)
    check_version(lead, request.form.get("seen_version"))
    ok, _warning, _value = _run(
        services.remove_contact, lead, current_user, seen_version=lead.version, contact_id=contact_id
    )
    if ok:
        flash(_("Contact removed."), "success")
    return redirect(url_for("leads.edit", lead_id=lead.id), code=303)
