"""Campaign pages, the comparison of what campaigns bring back, the funnel, the scripts library."""

from __future__ import annotations

from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from crm.access.roles import STAFF_ROLES, Role, roles_required
from crm.common.errors import stale_record
from crm.common.pagination import paginate
from crm.extensions import db
from crm.leads import campaigns as services
from crm.leads.blueprint import bp
from crm.leads.forms_campaigns import CampaignForm, ScriptForm
from crm.leads.models import Campaign, Channel, Script
from crm.leads.workflow import LEAD_MACHINE
from crm.products.models import Product
from crm.territories.services import territories_by_codes
from crm.web import perform

MANAGING = (Role.ADMIN, Role.MANAGER)


def _product_choices(keep_ids=()):
    keep = [int(i) for i in keep_ids if str(i).isdigit()]
    stmt = select(Product.id, Product.name, Product.specification).order_by(Product.name, Product.id)
    stmt = stmt.where(Product.active.is_(True) | Product.id.in_(keep or [0]))
    return [(pid, f"{name} {spec}") for pid, name, spec in db.session.execute(stmt)]


def _campaign_fields(form: CampaignForm) -> dict:
    return {
        "name": form.name.data,
        "channel": form.channel.data,
        "market_tier": form.market_tier.data,
        "territory_codes": form.territories.data or [],
        "product_ids": form.products.data or [],
        "starts_on": form.starts_on.data,
        "ends_on": form.ends_on.data,
        "budget": form.budget.data,
        "actual_cost": form.actual_cost.data,
        "notes": form.notes.data,
    }


def _territory_choices(form: CampaignForm) -> None:
    codes = [c for c in form.territories.data or [] if c]
    form.territories.choices = [(t.code, t.full_name) for t in territories_by_codes(codes)]


@bp.route("/campaigns/")
@roles_required(*STAFF_ROLES)
def campaigns():
    channel = request.args.get("channel") or ""
    stmt = select(Campaign).order_by(Campaign.starts_on.desc().nulls_last(), Campaign.id.desc())
    if channel in {c.value for c in Channel}:
        stmt = stmt.where(Campaign.channel == Channel(channel))
    else:
        channel = ""
    return render_template(
        "leads/campaigns/index.html",
        page=paginate(stmt, request.args.get("page")),
        channel=channel,
        channels=Channel.choices(),
    )


@bp.route("/campaigns/new", methods=["GET", "POST"])
@roles_required(*MANAGING)
def campaign_new():
    form = CampaignForm(product_choices=_product_choices())
    _territory_choices(form)
    if form.validate_on_submit():
        outcome = perform(services.create_campaign, current_user, **_campaign_fields(form))
        if outcome.ok:
            campaign = outcome.value
            flash(_("Campaign %(name)s created.", name=campaign.name), "success")
            return redirect(url_for("leads.campaign_detail", campaign_id=campaign.id))
    return render_template("leads/campaigns/form.html", form=form, campaign=None)


@bp.route("/campaigns/<int:campaign_id>")
@roles_required(*STAFF_ROLES)
def campaign_detail(campaign_id):
    campaign = db.get_or_404(Campaign, campaign_id)
    return render_template(
        "leads/campaigns/detail.html",
        campaign=campaign,
        may_edit=services.may_edit(campaign, current_user),
        states=services.state_counts(campaign, current_user),
        machine=LEAD_MACHINE,
        result=services.campaign_return(campaign, current_user),
        stages=services.REPORT_STAGES,
    )


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@roles_required(*MANAGING)
def campaign_edit(campaign_id):
    campaign = db.get_or_404(Campaign, campaign_id)
    if not services.may_edit(campaign, current_user):
        abort(403)  # staff may read every campaign; who keeps it: ``may_edit``
    current_products = [str(p.id) for p in campaign.products]
    form = CampaignForm(obj=campaign, product_choices=_product_choices(current_products))
    if request.method == "GET":
        form.remember_version(campaign)
        form.channel.data = campaign.channel.value
        form.market_tier.data = campaign.market_tier.value if campaign.market_tier else ""
        form.territories.data = [t.code for t in campaign.territories]
        form.products.data = current_products
    _territory_choices(form)
    if form.validate_on_submit():
        outcome = perform(
            services.update_campaign,
            campaign,
            current_user,
            seen_version=form.seen_version.data,
            **_campaign_fields(form),
        )
        if outcome.ok:
            flash(_("Saved."), "success")
            return redirect(url_for("leads.campaign_detail", campaign_id=campaign.id))
    elif request.method == "POST" and not form.seen_version.data:
        # A form without the version it was loaded with cannot be trusted: reload.
        raise stale_record()
    return render_template("leads/campaigns/form.html", form=form, campaign=campaign)


@bp.route("/campaigns/compare")
@roles_required(*MANAGING)
def campaign_compare():
    period = {}
    for arg in ("starts_on", "ends_on"):
        try:
            period[arg] = date.fromisoformat(request.args.get(arg) or "")
        except ValueError:
            period[arg] = None  # empty or garbled: no bound
    comparison = services.compare_campaigns(current_user, **period)
    return render_template(
        "leads/campaigns/compare.html",
        comparison=comparison,
        stages=services.REPORT_STAGES,
        machine=LEAD_MACHINE,
        period=period,
    )


@bp.route("/funnel")
@roles_required(*MANAGING)
def funnel():
    regions = services.funnel_regions(current_user)
    code = request.args.get("region") or ""
    region = next((r for r in regions if r.code == code), None)
    if code and region is None:
        abort(404)
    counts = services.funnel(current_user, region)
    stages = [(s, str(LEAD_MACHINE.state(s).label), counts.reached[s]) for s in services.FUNNEL_STAGES]
    chart = {
        "title": region.full_name if region else _("All my regions"),
        "label": _("Leads that reached the stage"),
        "labels": [label for _s, label, _n in stages],
        "values": [n for _s, _l, n in stages],
    }
    return render_template("leads/campaigns/funnel.html", regions=regions, region=region, stages=stages, chart=chart)


# --- scripts library ---


@bp.route("/scripts/")
@roles_required(*STAFF_ROLES)
def scripts():
    product = request.args.get("product") or ""
    managing = current_user.role in MANAGING
    show_inactive = managing and request.args.get("all") == "1"
    product_ids = [int(product)] if product.isdigit() else []
    stmt = services.scripts_for(product_ids, include_inactive=show_inactive)
    return render_template(
        "leads/scripts/index.html",
        page=paginate(stmt, request.args.get("page")),
        products=_product_choices(product_ids),
        product=product if product_ids else "",
        show_inactive=show_inactive,
        managing=managing,
    )


@bp.route("/scripts/new", methods=["GET", "POST"])
@roles_required(*MANAGING)
def script_new():
    form = ScriptForm(product_choices=_product_choices())
    if request.method == "GET" and (request.args.get("product") or "").isdigit():
        form.product_id.data = request.args["product"]
    if form.validate_on_submit():
        fields = {f: form[f].data for f in ("product_id", "objection", "answer", "active")}
        if perform(services.create_script, **fields).ok:
            flash(_("Script saved."), "success")
            return redirect(url_for("leads.scripts"))
    return render_template("leads/scripts/form.html", form=form, script=None)


@bp.route("/scripts/<int:script_id>/edit", methods=["GET", "POST"])
@roles_required(*MANAGING)
def script_edit(script_id):
    script = db.get_or_404(Script, script_id)
    form = ScriptForm(obj=script, product_choices=_product_choices([script.product_id or 0]))
    if request.method == "GET":
        form.remember_version(script)
        form.product_id.data = str(script.product_id or "")
    if form.validate_on_submit():
        fields = {f: form[f].data for f in ("product_id", "objection", "answer", "active")}
        if perform(services.update_script, script, seen_version=form.seen_version.data, **fields).ok:
            flash(_("Saved."), "success")
            return redirect(url_for("leads.scripts"))
    elif request.method == "POST" and not form.seen_version.data:
        raise stale_record()
    return render_template("leads/scripts/form.html", form=form, script=script)
