"""The lead list (filters, search, paging) and its XLSX export."""

from __future__ import annotations

from flask import Response, current_app, jsonify, render_template, request, url_for
from flask_login import current_user

from crm.access.roles import Role, roles_required
from crm.common.phones import format_phone
from crm.common.spreadsheets import XlsxExport, refuse_large_export
from crm.common.time import local_naive, local_now
from crm.extensions import db
from crm.i18n import gettext as _
from crm.i18n import once_per_catalog
from crm.leads import queries
from crm.leads.blueprint import bp
from crm.leads.models import Channel, Lead
from crm.territories.models import Territory
from crm.web import fixed_url
from crm.workflow.badges import sla_badges, sla_status_labels, url_parts

LIST_ROLES = (Role.ADMIN, Role.MANAGER, Role.REP, Role.SERVICE)


def lead_url_parts() -> tuple[str, str]:
    """The lead page's URL around the id: (before, after), built once per page (see ``url_parts``)."""
    return url_parts("leads.detail", "lead_id")


def lead_url_builder():
    """A function lead id → the lead's page (see ``lead_url_parts``)."""
    before, after = lead_url_parts()
    return lambda lead_id: f"{before}{int(lead_id)}{after}"


@once_per_catalog
def state_labels() -> dict[str, str]:
    """Each lead state's label by its code, for the state menu and the rows' badges."""
    return {s.code: str(s.label) for s in Lead.__machine__.states}


@once_per_catalog
def channel_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in Channel.choices()]


@bp.route("/")
@roles_required(*LIST_ROLES)
def index():
    """The leads in the user's reach, filtered and searched; the same number of queries for any page size."""
    # The user, not the current_user proxy, which looks the user up again on every attribute.
    user = current_user._get_current_object()
    filters = queries.LeadFilters.from_args(request.args)
    size = request.args.get("size", type=int)
    size = min(max(size, 10), 100) if size else None
    page = queries.lead_page(user, filters, request.args.get("page"), size)
    territory = db.session.get(Territory, filters.territory) if filters.territory else None
    return render_template(
        "leads/list.html",
        page=page,
        filters=filters,
        size=size,
        selected_territory=territory,
        state_labels=state_labels(),
        selected_owner=_chosen(queries.owner_choices, filters.owner, user),
        selected_campaign=_chosen(queries.campaign_choices, filters.campaign),
        channels=channel_choices(),
        sla_labels=sla_status_labels(),
        sla_badges=sla_badges(),
        lead_link=lead_url_parts(),
        pool_url=_url_if_allowed("leads.pool", user),
        new_url=_url_if_allowed("leads.new", user),
        import_url=_url_if_allowed("leads.import_upload", user),
        # Managers tick rows to reassign or release them in one go (views_pool.bulk).
        bulk_form="lead-bulk" if user.role in (Role.MANAGER, Role.ADMIN) else None,
        empty_guidance=_empty_guidance(filters),
    )


def _empty_guidance(filters) -> str:
    if filters.q or set(filters.as_args()) - {"show", "sort"}:
        return _("Clear some filters, or search by pinyin initials or a phone number.")
    if filters.show == "":
        return _("Closed leads are under “Won, lost or merged”; new ones come from “New lead” or an import.")
    return _("Enter a lead with “New lead”, or import a list from a trade show.")


def _chosen(choices, value: str, *args) -> tuple[int, str] | None:
    """(id, label) of the option chosen in a remote menu, to show it selected; None when nothing valid is."""
    chosen_id = queries.int_or_none(value)
    found = choices(*args, only=chosen_id) if chosen_id is not None else []
    return found[0] if found else None


def _menu_options(rows, me: int | None = None) -> Response:
    me_label = _("me")
    return jsonify(results=[{"id": id_, "name": f"{name} ({me_label})" if id_ == me else name} for id_, name in rows])


@bp.route("/filters/owners")
@roles_required(*LIST_ROLES)
def owner_options():
    """JSON for the list's owner menu: {"results": [{"id", "name"}]}, the owners in reach whose name holds q."""
    user = current_user._get_current_object()
    rows = queries.owner_choices(user, search=request.args.get("q", "").strip())
    return _menu_options(rows, me=user.id)


@bp.route("/filters/campaigns")
@roles_required(*LIST_ROLES)
def campaign_options():
    """JSON for the list's campaign menu: {"results": [{"id", "name"}]}, the newest campaigns whose name holds q."""
    return _menu_options(queries.campaign_choices(search=request.args.get("q", "").strip()))


def _url_if_allowed(endpoint: str, user) -> str | None:
    """The URL of ``endpoint`` when the user's role may open it (``roles_required`` says who may)."""
    view = current_app.view_functions[endpoint]
    return fixed_url(endpoint) if user.role in getattr(view, "allowed_roles", frozenset()) else None


def export_headers() -> list[str]:
    return [
        _("Company name"),
        _("Unified social credit code"),
        _("Territory"),
        _("State"),
        _("Owner"),
        _("In the pool"),
        _("Campaign"),
        _("Channel"),
        _("Contacts"),
        _("Phones"),
        _("Next touch"),
        _("Created on"),
    ]


def export_row(lead: Lead) -> list:
    contacts = [c.name for c in lead.contacts]
    phones = [format_phone(p.e164) for c in lead.contacts for p in c.phones]
    return [
        lead.company_name,
        lead.uscc or "",
        lead.territory.full_name,
        str(lead.state_def.label),
        lead.assignee.display_name if lead.assignee else "",
        _("Yes") if lead.in_pool else _("No"),
        lead.campaign.name,
        str(lead.campaign.channel.label),
        "、".join(contacts),
        "、".join(phones),
        lead.next_touch_on,
        local_naive(lead.created_at).date() if lead.created_at else None,
    ]


@bp.route("/export.xlsx")
@roles_required(*LIST_ROLES)
def export():
    """The current filtered list, every page of it, as an XLSX file (refused above the configured cap)."""
    filters = queries.LeadFilters.from_args(request.args)
    refused = refuse_large_export(
        queries.filtered_leads(current_user, filters),
        lambda total, limit: _(
            "%(n)d leads match; an export holds at most %(limit)d. Narrow the filters and export again.",
            n=total,
            limit=limit,
        ),
        url_for("leads.index", **filters.as_args()),
    )
    if refused:
        return refused

    export = XlsxExport()  # names and notes are the users' text: never a formula in the file
    sheet = export.sheet(_("Leads"), export_headers())
    rows = db.session.scalars(queries.lead_export_stmt(current_user, filters).execution_options(yield_per=1000))
    for lead in rows:
        sheet.append(export_row(lead))
    stamp = local_now().strftime("%Y%m%d-%H%M")
    return export.send(f"leads-{stamp}.xlsx")
