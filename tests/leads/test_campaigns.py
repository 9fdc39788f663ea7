"""Campaigns (商机传播): managers keep them, staff read them, and the comparison of what each
channel and market tier brought back, with every figure worked out by hand below."""

from __future__ import annotations

import html
import itertools
from datetime import date
from decimal import Decimal

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select, update

from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.leads import campaigns as services
from crm.leads.models import Campaign, Channel
from crm.leads.services import create_lead
from crm.leads.workflow import LEAD_MACHINE
from crm.territories.models import MarketTier, Territory
from crm.workflow import engine
from tests.helpers import counted_queries, gen_product, login, post

_names = itertools.count(1)

# The events that bring a new lead to each state (the short way: intent straight from contacted
# where the path says so).
PATHS = {
    "new": [],
    "contacted": ["contact"],
    "following": ["contact", "follow"],
    "intent": ["contact", "follow", "show_intent"],
    "applied": ["contact", "follow", "show_intent", "apply"],
    "won": ["contact", "follow", "show_intent", "apply", "win"],
    "won_fast": ["contact", "show_intent", "apply", "win"],
    "intent_then_lost": ["contact", "follow", "show_intent", "lose"],
    "lost": ["lose"],
    "merged": ["merge"],
}


def said(app, msgid: str, **values) -> str:
    """The message as a Chinese user reads it (whether or not the catalogue translates it yet)."""
    with app.test_request_context(), force_locale("zh_CN"):
        return gettext(msgid, **values)


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def gen_campaign(app, actor_id, *, channel=Channel.TRADE_SHOW, cost=None, tier=None, territories=(), name=None):
    with app.app_context():
        campaign = services.create_campaign(
            db.session.get(User, actor_id),
            name=name or f"测试活动{next(_names)}",
            channel=channel.value,
            market_tier=tier.value if tier else "",
            territory_codes=list(territories),
            actual_cost=cost,
        )
        db.session.commit()
        return campaign.id


def drive_lead(app, actor_id, campaign_id, territory, path="new") -> int:
    """A lead created through ``create_lead`` and moved through the engine along ``PATHS[path]``."""
    with app.app_context():
        actor = db.session.get(User, actor_id)
        lead = create_lead(
            actor,
            company_name=f"测试医药{next(_names)}有限公司",
            territory_code=territory,
            campaign_id=campaign_id,
            allow_duplicate=True,
        )
        for name in PATHS[path]:
            comment = "测试" if LEAD_MACHINE.event(name).comment_required else None
            engine.apply_event(lead, name, actor, seen_version=lead.version, comment=comment)
        db.session.commit()
        return lead.id


def make_people(make_user) -> dict:
    """An admin, a manager of both provinces who drives the data set, a Guangdong manager,
    a Shenzhen rep and a service desk user."""
    return {
        "admin": make_user(Role.ADMIN),
        # Drives the data set: a manager of both provinces can fire every event on every lead.
        "boss": make_user(Role.MANAGER, territories=["440000", "330000"]),
        "manager": make_user(Role.MANAGER, territories=["440000"]),
        "rep": make_user(Role.REP, territories=["440300"]),
        "service": make_user(Role.SERVICE),
    }


@pytest.fixture
def users(make_user):
    return make_people(make_user)


@pytest.fixture
def world(app, users):
    return build_world(app, users)


def build_world(app, users) -> dict:
    """Four campaigns, eight counted leads and one merged, across three tiers and one without a tier.

    Tiers: 深圳 (city) tier 1, so 南山区 inherits it; 佛山 tier 2; 云城区 (a county) tier 3
    itself; 杭州 tier 1; 韶关 has none, nor has 广东.
    """
    with app.app_context():
        for code, tier in (
            ("440300", MarketTier.TIER1),
            ("440600", MarketTier.TIER2),
            ("445302", MarketTier.TIER3),
            ("330100", MarketTier.TIER1),
        ):
            db.session.execute(update(Territory).where(Territory.code == code).values(market_tier=tier))
        db.session.commit()
    boss, admin = users["boss"].id, users["admin"].id
    # Nationwide campaigns are kept by an administrator; the boss covers 广东 and 浙江 campaigns.
    a = gen_campaign(app, admin, channel=Channel.ADVERTISING, cost="12000")
    b = gen_campaign(app, admin, channel=Channel.TRADE_SHOW, cost="9000.00")
    c = gen_campaign(app, boss, channel=Channel.WEB, cost="500", tier=MarketTier.TIER2, territories=["440000"])
    d = gen_campaign(app, admin, channel=Channel.REFERRAL)
    gen_campaign(app, boss, channel=Channel.CONFERENCE, cost="800", territories=["330000"])  # 浙江 only
    leads = {
        "L1": drive_lead(app, boss, a, "440305", "won"),
        "L2": drive_lead(app, boss, a, "440305", "intent_then_lost"),
        "L3": drive_lead(app, boss, a, "440604", "contacted"),
        "L4": drive_lead(app, boss, a, "330106", "applied"),
        "L5": drive_lead(app, boss, b, "440604", "new"),
        "L6": drive_lead(app, boss, b, "445302", "won_fast"),
        "L7": drive_lead(app, boss, b, "440203", "following"),
        "L8": drive_lead(app, boss, d, "440305", "merged"),
        "L9": drive_lead(app, boss, d, "440305", "lost"),
    }
    return {"campaigns": {"A": a, "B": b, "C": c, "D": d}, "leads": leads}


def _figures(row):
    return (
        row.leads,
        *(row.reached(s) for s in services.REPORT_STAGES),
        row.cost_rounded,
        row.cost_per_lead,
        row.cost_per_won,
    )


def D(text):
    return Decimal(text) if text is not None else None


def compare_as(app, user_id):
    with app.test_request_context(), force_locale("en"):
        result = services.compare_campaigns(db.session.get(User, user_id))
        return (
            {row.key: _figures(row) for row in result.by_channel},
            {row.key: _figures(row) for row in result.by_tier},
            _figures(result.total),
        )


def test_comparison_by_channel_and_tier_for_everyone(app, users, world):
    by_channel, by_tier, total = compare_as(app, users["admin"].id)
    # leads, contacted, intent, applied, won, cost, per lead, per won
    assert by_channel == {
        # L1 won, L2 intent then lost, L3 contacted, L4 applied.
        Channel.ADVERTISING: (4, 4, 3, 2, 1, D("12000.00"), D("3000.00"), D("12000.00")),
        # L5 new, L6 won (skipped following), L7 following.
        Channel.TRADE_SHOW: (3, 2, 1, 1, 1, D("9000.00"), D("3000.00"), D("9000.00")),
        # No leads, but the money was spent.
        Channel.WEB: (0, 0, 0, 0, 0, D("500.00"), None, None),
        # L9 lost while new; L8 was merged into another lead and is not counted. No cost given.
        Channel.REFERRAL: (1, 0, 0, 0, 0, D("0.00"), D("0.00"), None),
        Channel.CONFERENCE: (0, 0, 0, 0, 0, D("800.00"), None, None),
    }
    # A's 12000 splits 3/4 to tier 1 (L1, L2, L4) and 1/4 to tier 2 (L3); B's 9000 a third each;
    # C has no leads, so its 500 stays in the tier it targeted; the Zhejiang conference has no tier.
    assert by_tier == {
        MarketTier.TIER1: (4, 3, 3, 2, 1, D("9000.00"), D("2250.00"), D("9000.00")),
        MarketTier.TIER2: (2, 1, 0, 0, 0, D("6500.00"), D("3250.00"), None),
        MarketTier.TIER3: (1, 1, 1, 1, 1, D("3000.00"), D("3000.00"), D("3000.00")),
        None: (1, 1, 0, 0, 0, D("3800.00"), D("3800.00"), None),
    }
    assert total == (8, 6, 4, 3, 2, D("22300.00"), D("2787.50"), D("11150.00"))
    with app.test_request_context(), force_locale("en"):
        result = services.compare_campaigns(db.session.get(User, users["admin"].id))
        crossed = {row.key: _figures(row) for row in result.by_channel_and_tier}
    assert crossed == {
        "advertising-tier1": (3, 3, 3, 2, 1, D("9000.00"), D("3000.00"), D("9000.00")),
        "advertising-tier2": (1, 1, 0, 0, 0, D("3000.00"), D("3000.00"), None),
        "trade_show-tier2": (1, 0, 0, 0, 0, D("3000.00"), D("3000.00"), None),
        "trade_show-tier3": (1, 1, 1, 1, 1, D("3000.00"), D("3000.00"), D("3000.00")),
        "trade_show-none": (1, 1, 0, 0, 0, D("3000.00"), D("3000.00"), None),
        "conference-none": (0, 0, 0, 0, 0, D("800.00"), None, None),
        "referral-tier1": (1, 0, 0, 0, 0, D("0.00"), D("0.00"), None),
        "web-tier2": (0, 0, 0, 0, 0, D("500.00"), None, None),
    }
    assert list(crossed)[:2] == ["advertising-tier1", "advertising-tier2"]


def test_comparison_for_a_manager_counts_only_their_territories(app, users, world):
    by_channel, by_tier, total = compare_as(app, users["manager"].id)
    # L4 lies in Hangzhou: A keeps three of its four leads here, so three quarters of its cost.
    assert by_channel[Channel.ADVERTISING] == (3, 3, 2, 1, 1, D("9000.00"), D("3000.00"), D("9000.00"))
    assert by_channel[Channel.TRADE_SHOW] == (3, 2, 1, 1, 1, D("9000.00"), D("3000.00"), D("9000.00"))
    assert by_channel[Channel.WEB] == (0, 0, 0, 0, 0, D("500.00"), None, None)
    assert Channel.CONFERENCE not in by_channel  # aimed at Zhejiang, no leads here
    assert by_tier[MarketTier.TIER1] == (3, 2, 2, 1, 1, D("6000.00"), D("2000.00"), D("6000.00"))
    # 18500 over 7 leads is 2642.857…, rounded half up to the fen.
    assert total == (7, 5, 3, 2, 2, D("18500.00"), D("2642.86"), D("9250.00"))


def test_comparison_page_renders_the_tables(app, users, world, client):
    login(client, users["admin"])
    page = page_text(client.get("/leads/campaigns/compare"))
    assert 'data-testid="by-channel"' in page
    assert 'data-testid="by-tier"' in page
    assert "¥12,000.00" in page
    assert "¥11,150.00" in page
    assert said(app, "Tier not set") in page


def test_comparison_keeps_campaigns_running_in_the_period(app, users, client):
    spring = gen_campaign(app, users["admin"].id, channel=Channel.TRADE_SHOW, cost="1000")
    autumn = gen_campaign(app, users["admin"].id, channel=Channel.WEB, cost="300")
    with app.app_context():
        db.session.get(Campaign, spring).starts_on = date(2026, 3, 1)
        db.session.get(Campaign, spring).ends_on = date(2026, 3, 31)
        db.session.get(Campaign, autumn).starts_on = date(2026, 9, 1)
        db.session.commit()
    login(client, users["admin"])
    everything = page_text(client.get("/leads/campaigns/compare"))
    assert "¥1,300.00" in everything
    summer_on = page_text(client.get("/leads/campaigns/compare?starts_on=2026-06-01&ends_on=bad"))
    assert 'data-row="web"' in summer_on
    assert 'data-row="trade_show"' not in summer_on
    assert 'value="2026-06-01"' in summer_on


def test_comparison_costs_a_fixed_number_of_queries(app, users, world):
    with counted_queries(app) as statements, app.test_request_context():
        services.compare_campaigns(db.session.get(User, users["admin"].id))
    few = len(statements)
    for _ in range(3):
        gen_campaign(app, users["admin"].id, channel=Channel.OUTPOST, cost="100")
    drive_lead(app, users["boss"].id, world["campaigns"]["A"], "440604", "contacted")
    with counted_queries(app) as statements, app.test_request_context():
        services.compare_campaigns(db.session.get(User, users["admin"].id))
    assert len(statements) == few <= 6


def test_campaign_page_counts_states_and_cost(app, users, world, client):
    a = world["campaigns"]["A"]
    login(client, users["admin"])
    page = page_text(client.get(f"/leads/campaigns/{a}"))
    assert 'data-state="won"' in page
    with app.test_request_context():
        campaign = db.session.get(Campaign, a)
        assert services.state_counts(campaign, db.session.get(User, users["admin"].id)) == {
            "won": 1,
            "lost": 1,
            "contacted": 1,
            "applied": 1,
        }
        mine = services.campaign_return(campaign, db.session.get(User, users["rep"].id))
        # The Shenzhen rep sees L1 and L2 of A's four leads: half its cost.
        assert _figures(mine) == (2, 2, 2, 1, 1, D("6000.00"), D("3000.00"), D("6000.00"))
    assert "¥3,000.00" in page
    assert "¥12,000.00" in page


def campaign_form(**overrides) -> dict:
    data = {
        "name": "2026 成都全国药品交易会",
        "channel": Channel.TRADE_SHOW.value,
        "market_tier": MarketTier.TIER2.value,
        "territories": ["440300", "440600"],
        "starts_on": "2026-03-20",
        "ends_on": "2026-03-22",
        "budget": "80000",
        "actual_cost": "76543.21",
        "notes": "展位 A-101",
    }
    data.update(overrides)
    return data


def test_manager_creates_and_edits_a_campaign(app, users, client):
    product = gen_product(app, name="复方丹参片")
    login(client, users["manager"])
    response = post(client, "/leads/campaigns/new", campaign_form(products=[str(product)]))
    assert response.status_code == 302
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.actual_cost == Decimal("76543.21")
        assert campaign.budget == Decimal("80000.00")
        assert [t.code for t in campaign.territories] == ["440300", "440600"]
        assert [p.id for p in campaign.products] == [product]
        assert campaign.market_tier == MarketTier.TIER2
        campaign_id, version = campaign.id, campaign.version
    assert response.headers["Location"].endswith(f"/leads/campaigns/{campaign_id}")

    form = client.get(f"/leads/campaigns/{campaign_id}/edit").get_data(as_text=True)
    assert f'name="seen_version" type="hidden" value="{version}"' in form
    edited = campaign_form(name="2026 成都药交会", actual_cost="80000", seen_version=str(version))
    assert post(client, f"/leads/campaigns/{campaign_id}/edit", edited).status_code == 302
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert (campaign.name, campaign.actual_cost, campaign.version) == ("2026 成都药交会", Decimal("80000.00"), 2)

    # The same form again is now stale: someone (we) saved in between.
    stale = post(client, f"/leads/campaigns/{campaign_id}/edit", {**edited, "name": "晚了"})
    assert stale.status_code == 409
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).name == "2026 成都药交会"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"budget": "-1"}, ("Enter an amount of 0 or more.", {})),
        ({"actual_cost": "-0.01"}, ("Enter an amount of 0 or more.", {})),
        ({"ends_on": "2026-03-01"}, ("The campaign cannot end before it starts.", {})),
        ({"territories": ["330100"]}, ("%(place)s is outside your territories.", {"place": "浙江省 杭州市"})),
        ({"territories": ["999999"]}, ("One of the regions does not exist. Pick them from the list.", {})),
        ({"name": ""}, ("This field is required.", {})),
    ],
)
def test_campaign_validation_messages(app, users, client, overrides, message):
    login(client, users["manager"])
    response = post(client, "/leads/campaigns/new", campaign_form(**overrides))
    assert response.status_code == 200
    msgid, values = message
    if msgid == "This field is required.":
        assert "is-invalid" in response.get_data(as_text=True)
    else:
        assert said(app, msgid, **values) in page_text(response)
    with app.app_context():
        assert db.session.scalar(select(Campaign)) is None


def test_service_refuses_negative_and_garbled_amounts(app, users):
    with app.test_request_context(), force_locale("en"):
        admin = db.session.get(User, users["admin"].id)
        for amount, message in (("-5", "Budget cannot be negative."), ("abc", "Budget must be an amount in yuan")):
            with pytest.raises(services.BusinessError) as error:
                services.create_campaign(admin, name="x", channel="web", budget=amount)
            assert message in error.value.message
        campaign = services.create_campaign(admin, name="x", channel="web", budget="1,234.565")
        assert campaign.budget == Decimal("1234.57")


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [("admin", 200, 200), ("manager", 200, 200), ("rep", 200, 403), ("service", 200, 403)],
)
def test_campaign_access_per_role(app, users, client, role, read, write):
    # A 广东 campaign: the 广东 manager keeps it (a nationwide one is the admin's, see test_write_reach).
    campaign = gen_campaign(app, users["admin"].id, name="可见活动", territories=["440000"])
    login(client, users[role])
    assert client.get("/leads/campaigns/").status_code == read
    assert client.get(f"/leads/campaigns/{campaign}").status_code == read
    assert client.get("/leads/campaigns/new").status_code == write
    assert client.get(f"/leads/campaigns/{campaign}/edit").status_code == write
    reports = 200 if role in ("admin", "manager") else 403
    assert client.get("/leads/campaigns/compare").status_code == reports
    assert client.get("/leads/funnel").status_code == reports


def test_distributor_and_anonymous_see_no_campaign(app, users, client, make_user):
    campaign = gen_campaign(app, users["admin"].id)
    assert client.get(f"/leads/campaigns/{campaign}").status_code == 302
    login(client, make_user(Role.DISTRIBUTOR))
    assert client.get("/leads/campaigns/").status_code == 403
    assert client.get(f"/leads/campaigns/{campaign}").status_code == 403


def test_demo_data_has_campaigns_leads_in_every_state_and_a_lead_found_by_initials(app):
    from crm.demo import DEMO_LEADS, DEMO_POOL_LEADS, load_demo
    from crm.leads.models import Lead, Script
    from crm.leads.services import search_condition

    with app.test_request_context():
        load_demo()
        db.session.commit()
        states = set(db.session.scalars(select(Lead._state)))
        assert states == {"new", "contacted", "following", "intent", "applied", "won", "lost"}
        assert db.session.scalar(select(db.func.count()).select_from(Lead)) == len(DEMO_LEADS) + len(DEMO_POOL_LEADS)
        found = db.session.scalars(select(Lead.company_name).where(search_condition("sztr"))).all()
        assert found == ["深圳同仁医药有限公司"]
        assert db.session.scalar(select(db.func.count()).select_from(Script)) >= 3
        comparison = services.compare_campaigns(db.session.scalar(select(User).where(User.username == "manager")))
        assert comparison.total.leads == sum(1 for lead in (*DEMO_LEADS, *DEMO_POOL_LEADS) if lead[1].startswith("44"))


def test_editing_can_clear_regions_products_and_amounts(app, users, client):
    product = gen_product(app)
    login(client, users["admin"])
    post(client, "/leads/campaigns/new", campaign_form(products=[str(product)], market_tier=""))
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        campaign_id, version = campaign.id, campaign.version
        assert campaign.market_tier is None
    # As a browser sends it: an empty multi-select is left out, an emptied input is sent empty.
    cleared = {**campaign_form(budget="", actual_cost=""), "territories": []}
    response = post(client, f"/leads/campaigns/{campaign_id}/edit", {**cleared, "seen_version": str(version)})
    assert response.status_code == 302
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert (campaign.territories, campaign.products, campaign.budget, campaign.actual_cost) == ([], [], None, None)
