"""Campaigns (商机传播) and what they bring back: leads per stage, cost per lead and per won distributor.

Also the funnel per region and the library of standard scripts (标准话术).

A lead counts for every stage up to the furthest one it ever reached, read from
the lead workflow's history: a lead that showed intent and was then lost still
counts as contacted and as intent. Merged leads are duplicates of another lead
and are not counted at all.

Costs are the campaign's actual cost. When a report splits a campaign's leads
into groups (market tiers, or the part of them inside a manager's territories),
each group carries the share of the cost that its leads are of all the
campaign's leads; a campaign without leads keeps its whole cost in its own
channel and targeted tier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import case, false, func, or_, select
from sqlalchemy.orm import aliased

from crm.access.roles import Role
from crm.access.scoping import OutOfReach, covers, territories_in_reach, territory_condition
from crm.common.errors import BusinessError, check_version
from crm.extensions import db
from crm.leads.models import Campaign, Channel, Lead, Script, campaign_territories
from crm.products.models import Product
from crm.territories.models import MarketTier, Territory
from crm.territories.services import territories_by_codes
from crm.workflow.models import WorkflowHistory

# The funnel, in order; a lead that reached a stage has passed every stage before it.
FUNNEL_STAGES = ("new", "contacted", "following", "intent", "applied", "won")
STAGE_RANK = {state: rank for rank, state in enumerate(FUNNEL_STAGES)}
# The columns of the comparison table.
REPORT_STAGES = ("contacted", "intent", "applied", "won")
CENT = Decimal("0.01")


# --- campaigns ---------------------------------------------------------------------------


def _money(value, label) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise BusinessError(_("%(field)s must be an amount in yuan, e.g. 12000.50.", field=label)) from None
    if not amount.is_finite():
        raise BusinessError(_("%(field)s must be an amount in yuan, e.g. 12000.50.", field=label))
    if amount < 0:
        raise BusinessError(_("%(field)s cannot be negative.", field=label))
    if amount >= Decimal("1e12"):
        raise BusinessError(_("%(field)s is too large.", field=label))
    return amount.quantize(CENT, ROUND_HALF_UP)


def may_edit(campaign: Campaign, user) -> bool:
    """Who keeps a campaign: administrators, and managers whose territories cover every region it targets.

    Its cost feeds the cost per lead of every region it targets, so a manager may not
    change what another province reports. A campaign that targets no region is
    nationwide: only administrators keep it.
    """
    if user.role == Role.ADMIN:
        return True
    if user.role != Role.MANAGER:
        return False
    codes = [t.code for t in campaign.territories]
    return bool(codes) and all(covers(user, code) for code in codes)


def _apply(campaign: Campaign, actor, fields: dict) -> None:
    name = (fields.get("name") or "").strip()
    if not name:
        raise BusinessError(_("Enter the medium or event name of the campaign."))
    if len(name) > 128:
        raise BusinessError(_("The campaign name is too long (at most 128 characters)."))
    try:
        channel = Channel(fields.get("channel"))
    except ValueError:
        raise BusinessError(_("Choose the campaign's channel from the list.")) from None
    tier_value = fields.get("market_tier") or None
    try:
        tier = MarketTier(tier_value) if tier_value else None
    except ValueError:
        raise BusinessError(_("Choose the market tier from the list.")) from None
    starts_on, ends_on = fields.get("starts_on"), fields.get("ends_on")
    if starts_on and ends_on and ends_on < starts_on:
        raise BusinessError(_("The campaign cannot end before it starts."))
    budget = _money(fields.get("budget"), _("Budget"))
    actual_cost = _money(fields.get("actual_cost"), _("Actual cost"))

    codes = sorted({c for c in fields.get("territory_codes") or () if c})
    unknown = _("One of the regions does not exist. Pick them from the list.")
    if actor.role == Role.ADMIN:
        territories = territories_by_codes(codes)
        if len(territories) != len(codes):
            raise BusinessError(unknown)
    else:
        territories = territories_in_reach(actor, codes, unknown=unknown)
        if not territories:
            raise BusinessError(
                _("Choose at least one of your regions: a nationwide campaign is kept by an administrator.")
            )
    product_ids = sorted({int(p) for p in fields.get("product_ids") or () if str(p).strip()})
    products = list(db.session.scalars(select(Product).where(Product.id.in_(product_ids)))) if product_ids else []
    if len(products) != len(product_ids):
        raise BusinessError(_("One of the products does not exist. Pick them from the list."))

    campaign.name, campaign.channel, campaign.market_tier = name, channel, tier
    campaign.starts_on, campaign.ends_on = starts_on, ends_on
    campaign.budget, campaign.actual_cost = budget, actual_cost
    campaign.notes = (fields.get("notes") or "").strip() or None
    campaign.territories = territories
    campaign.products = products


def create_campaign(actor, **fields) -> Campaign:
    """Add a campaign (managers and administrators); amounts are yuan, never negative."""
    campaign = Campaign()
    _apply(campaign, actor, fields)
    db.session.add(campaign)
    db.session.flush()
    return campaign


def update_campaign(campaign: Campaign, actor, *, seen_version, **fields) -> None:
    """Edit a campaign (see ``may_edit``); a form loaded before someone else's save answers a conflict."""
    check_version(campaign, seen_version)
    if not may_edit(campaign, actor):
        raise OutOfReach(
            _("Only an administrator, or a manager who covers every region it targets, edits this campaign.")
        )
    _apply(campaign, actor, fields)
    db.session.flush()


def campaign_choices() -> list[tuple[int, str]]:
    """(id, "name · channel") of every campaign, newest first, for pickers on other pages."""
    rows = db.session.execute(select(Campaign.id, Campaign.name, Campaign.channel).order_by(Campaign.id.desc())).all()
    return [(cid, f"{name} · {channel.label}") for cid, name, channel in rows]


# --- what campaigns bring back -----------------------------------------------------------


def _reach_subquery():
    """(lead id, rank of the furthest funnel stage it ever entered), from the lead history."""
    rank = case(
        *((WorkflowHistory.to_state == state, rank) for state, rank in STAGE_RANK.items()),
        else_=-1,
    )
    return (
        select(WorkflowHistory.record_id.label("lead_id"), func.max(rank).label("rank"))
        .where(WorkflowHistory.workflow == "leads")
        .group_by(WorkflowHistory.record_id)
        .subquery("reach")
    )


def _tier_column():
    """The market tier of a lead's territory, or of its nearest ancestor that has one."""
    own, parent, grandparent = aliased(Territory), aliased(Territory), aliased(Territory)
    column = func.coalesce(own.market_tier, parent.market_tier, grandparent.market_tier)
    joins = (
        (own, own.code == Lead.territory_code),
        (parent, parent.code == own.parent_code),
        (grandparent, grandparent.code == parent.parent_code),
    )
    return column, joins


@dataclass
class StageCounts:
    """Leads that reached each funnel stage."""

    reached: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FUNNEL_STAGES, 0))

    @property
    def leads(self) -> int:
        return self.reached["new"]

    def add(self, other: StageCounts) -> None:
        for stage in FUNNEL_STAGES:
            self.reached[stage] += other.reached[stage]


def _stage_sums(reach):
    return [func.sum(case((reach.c.rank >= rank, 1), else_=0)) for rank in range(len(FUNNEL_STAGES))]


def _grouped_counts(user, group_columns, *conditions, joins=()) -> dict[tuple, StageCounts]:
    """Stage counts of the user's (non-merged) leads, grouped by ``group_columns``, in one query."""
    reach = _reach_subquery()
    stmt = select(*group_columns, *_stage_sums(reach)).select_from(Lead).join(reach, reach.c.lead_id == Lead.id)
    for target, on in joins:
        stmt = stmt.outerjoin(target, on)
    stmt = stmt.where(Lead._state != "merged", territory_condition(user, Lead.territory_code), *conditions)
    stmt = stmt.group_by(*group_columns)
    result = {}
    width = len(group_columns)
    for row in db.session.execute(stmt):
        counts = StageCounts()
        for stage, value in zip(FUNNEL_STAGES, row[width:], strict=True):
            counts.reached[stage] = int(value or 0)
        result[tuple(row[:width])] = counts
    return result


def state_counts(campaign: Campaign, user) -> dict[str, int]:
    """The campaign's leads the user may see, by their current state."""
    rows = db.session.execute(
        select(Lead._state, func.count())
        .where(Lead.campaign_id == campaign.id, territory_condition(user, Lead.territory_code))
        .group_by(Lead._state)
    ).all()
    return dict(rows)


@dataclass
class ReturnRow:
    """One row of a comparison: leads per stage, what they cost, and the cost per lead and per win."""

    key: object
    label: str
    counts: StageCounts = field(default_factory=StageCounts)
    cost: Decimal = Decimal("0")

    @property
    def leads(self) -> int:
        return self.counts.leads

    def reached(self, stage: str) -> int:
        return self.counts.reached[stage]

    @property
    def cost_rounded(self) -> Decimal:
        return self.cost.quantize(CENT, ROUND_HALF_UP)

    @property
    def cost_per_lead(self) -> Decimal | None:
        return _per(self.cost, self.leads)

    @property
    def cost_per_won(self) -> Decimal | None:
        return _per(self.cost, self.counts.reached["won"])


def _per(cost: Decimal, count: int) -> Decimal | None:
    return (cost / count).quantize(CENT, ROUND_HALF_UP) if count else None


def campaign_return(campaign: Campaign, user) -> ReturnRow:
    """The campaign's leads the user may see per stage, with their share of its cost."""
    counts = _grouped_counts(user, [Lead.campaign_id], Lead.campaign_id == campaign.id)
    row = ReturnRow(campaign.id, campaign.name, counts.get((campaign.id,), StageCounts()))
    total = _total_leads([campaign.id]).get(campaign.id, 0)
    cost = campaign.actual_cost or Decimal("0")
    row.cost = cost if not total else cost * row.leads / total
    return row


def _total_leads(campaign_ids) -> dict[int, int]:
    if not campaign_ids:
        return {}
    rows = db.session.execute(
        select(Lead.campaign_id, func.count())
        .where(Lead.campaign_id.in_(list(campaign_ids)), Lead._state != "merged")
        .group_by(Lead.campaign_id)
    ).all()
    return dict(rows)


def _visible_campaigns(user, counted_ids) -> list[Campaign]:
    """Campaigns whose leads the user counts, plus those without leads aimed at the user's regions."""
    stmt = select(Campaign)
    if user.role in (Role.MANAGER, Role.REP):
        ranges = [t.code_range for t in user.territories]
        mine = or_(false(), *(campaign_territories.c.territory_code.between(lo, hi) for lo, hi in ranges))
        targets_mine = Campaign.id.in_(select(campaign_territories.c.campaign_id).where(mine))
        untargeted = ~Campaign.id.in_(select(campaign_territories.c.campaign_id))
        stmt = stmt.where(or_(Campaign.id.in_(list(counted_ids) or [0]), targets_mine, untargeted))
    return list(db.session.scalars(stmt.order_by(Campaign.id)))


@dataclass
class Comparison:
    by_channel: list[ReturnRow]
    by_tier: list[ReturnRow]
    # The document's question itself: each channel in each market tier.
    by_channel_and_tier: list[ReturnRow]
    total: ReturnRow


def compare_campaigns(user, *, starts_on: date | None = None, ends_on: date | None = None) -> Comparison:
    """Which media are worth their money in which markets: leads, stages reached and cost,
    by channel and by market tier, over the leads the user may see.

    Three grouped queries whatever the number of campaigns: stage counts per
    (campaign, tier), all leads per campaign (to share out costs), the campaigns.
    ``starts_on``/``ends_on`` keep campaigns running in that period.
    """
    tier, joins = _tier_column()
    counts = _grouped_counts(user, [Lead.campaign_id, tier], joins=joins)
    counted_ids = {cid for cid, _tier in counts}
    campaigns = _visible_campaigns(user, counted_ids)
    if starts_on:
        campaigns = [c for c in campaigns if c.ends_on is None or c.ends_on >= starts_on]
    if ends_on:
        campaigns = [c for c in campaigns if c.starts_on is None or c.starts_on <= ends_on]
    by_id = {c.id: c for c in campaigns}
    totals = _total_leads(by_id)

    channels = {ch: ReturnRow(ch, ch.label) for ch in Channel}
    tiers = {t: ReturnRow(t, t.label) for t in MarketTier}
    tiers[None] = ReturnRow(None, _("Tier not set"))
    total = ReturnRow("total", _("Total"))
    tier_labels = {key: row.label for key, row in tiers.items()}
    pairs: dict[tuple, ReturnRow] = {}

    def pair(channel, tier):
        key = (channel, tier)
        if key not in pairs:
            pairs[key] = ReturnRow(f"{channel}-{tier or 'none'}", f"{channel.label} · {tier_labels[tier]}")
        return pairs[key]

    for (campaign_id, tier_value), stage_counts in counts.items():
        campaign = by_id.get(campaign_id)
        if campaign is None:
            continue
        key = MarketTier(tier_value) if tier_value else None
        cost = (campaign.actual_cost or Decimal("0")) * stage_counts.leads / totals[campaign_id]
        for row in (channels[campaign.channel], tiers[key], pair(campaign.channel, key), total):
            row.counts.add(stage_counts)
            row.cost += cost
    for campaign in campaigns:
        if not totals.get(campaign.id):  # no leads anywhere: its whole cost stays in its own rows
            channel, tier = campaign.channel, campaign.market_tier
            for row in (channels[channel], tiers[tier], pair(channel, tier), total):
                row.cost += campaign.actual_cost or Decimal("0")

    def shown(rows):
        return [r for r in rows if r.leads or r.cost]

    tier_order = {tier: n for n, tier in enumerate([*MarketTier, None])}
    ordered_pairs = [pairs[k] for k in sorted(pairs, key=lambda k: (list(Channel).index(k[0]), tier_order[k[1]]))]
    return Comparison(shown(channels.values()), shown(tiers.values()), shown(ordered_pairs), total)


# --- the funnel per region ---------------------------------------------------------------


def funnel_regions(user) -> list[Territory]:
    """The provinces and cities a funnel can be drawn for: a manager's own regions and the
    cities in them; for an administrator, the provinces and cities that have leads."""
    if user.role == Role.MANAGER:
        own = sorted(user.territories, key=lambda t: t.code)
        provinces = [t for t in own if t.level == 1]
        cities = []
        if provinces:
            cities = list(
                db.session.scalars(
                    select(Territory).where(
                        Territory.level == 2, Territory.parent_code.in_([t.code for t in provinces])
                    )
                )
            )
        regions = {t.code: t for t in [*own, *cities] if t.level <= 2}
        return [regions[code] for code in sorted(regions)]
    codes = db.session.scalars(select(Lead.territory_code).distinct()).all()
    wanted = {c[:2] + "0000" for c in codes} | {c[:4] + "00" for c in codes}
    return [t for t in territories_by_codes(sorted(wanted)) if t.level <= 2]


def funnel(user, region: Territory | None) -> StageCounts:
    """Leads the user may see, in ``region`` (or all of them), that reached each stage."""
    conditions = []
    if region is not None:
        lo, hi = region.code_range
        conditions.append(Lead.territory_code.between(lo, hi))
    counts = _grouped_counts(user, [], *conditions)
    return next(iter(counts.values()), StageCounts())


# --- standard scripts (标准话术) ---------------------------------------------------------


def _apply_script(script: Script, fields: dict) -> None:
    objection = (fields.get("objection") or "").strip()
    answer = (fields.get("answer") or "").strip()
    if not objection:
        raise BusinessError(_("Enter the objection the script answers."))
    if len(objection) > 200:
        raise BusinessError(_("The objection is too long (at most 200 characters)."))
    if not answer:
        raise BusinessError(_("Enter the answer a rep should give."))
    product_id = fields.get("product_id") or None
    if product_id:
        product = db.session.get(Product, int(product_id))
        if product is None:
            raise BusinessError(_("Choose the product from the list."))
        script.product_id = product.id
    else:
        script.product_id = None
    script.objection, script.answer = objection, answer
    script.active = bool(fields.get("active", True))


def create_script(**fields) -> Script:
    """Add a standard answer to an objection, for one product or for all (no product)."""
    script = Script()
    _apply_script(script, fields)
    db.session.add(script)
    db.session.flush()
    return script


def update_script(script: Script, *, seen_version, **fields) -> None:
    """Edit a script; clearing ``active`` withdraws it from the reps' list. Stale forms conflict."""
    check_version(script, seen_version)
    _apply_script(script, fields)
    db.session.flush()


def scripts_for(product_ids=(), *, include_inactive: bool = False):
    """A SELECT of scripts for these products (and those for every product), by product and objection.

    The touch form shows ``scripts_for(lead's product ids)`` beside it.
    """
    stmt = select(Script).outerjoin(Product, Product.id == Script.product_id)
    if product_ids:
        stmt = stmt.where(or_(Script.product_id.in_(list(product_ids)), Script.product_id.is_(None)))
    if not include_inactive:
        stmt = stmt.where(Script.active.is_(True))
    return stmt.order_by(Product.name.is_(None), Product.name, Script.objection, Script.id)
