"""Demo data for `make run`: one account per role, regions, products, distributors,
campaigns with leads in several states, and standard scripts.

The accounts and their password are listed in README.md.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from crm.access.roles import Role
from crm.auth.models import User
from crm.auth.passwords import hash_password
from crm.common.validators import uscc_check_char
from crm.distributors.demo import load_onboarding_demo
from crm.distributors.services import create_distributor
from crm.extensions import db
from crm.leads.models import Campaign, Channel, LostReason, Script
from crm.leads.services import ContactInput, create_lead
from crm.products.models import Dispensing, DosageForm, InsuranceClass, Product
from crm.territories.models import MarketTier, Territory
from crm.territories.services import load_territories
from crm.workflow import engine

DEMO_PASSWORD = "Demo@2026!"  # noqa: S105 (published in README for the demo)

# username, name, role, territory codes (reps and managers) or company key (distributors)
DEMO_USERS = (
    ("admin", "系统管理员", Role.ADMIN, ()),
    ("manager", "王经理", Role.MANAGER, ("440000",)),  # 广东省
    ("manager_zj", "陈经理", Role.MANAGER, ("330000",)),  # 浙江省
    # 招商总监: a manager with director authority, for the second approval of key-region cases.
    ("director", "张总监", Role.MANAGER, ("440000", "330000")),
    ("rep", "李代表", Role.REP, ("440300", "440100")),  # 深圳市, 广州市
    ("rep_hz", "赵代表", Role.REP, ("330100",)),  # 杭州市
    # A second rep where `rep` works (龙岗区 lies in 深圳市): the two share that county's pool.
    ("rep_lg", "孙代表", Role.REP, ("440307",)),  # 深圳市龙岗区
    ("service", "周客服", Role.SERVICE, ()),
    ("distributor", "刘经理（康达医药）", Role.DISTRIBUTOR, "kangda"),
)

DEMO_COMPANIES = {
    "kangda": ("深圳市康达医药有限公司", "440305", "91440300MA5DKD001", "刘康达"),
    "yuexiu": ("广州越秀百草药业有限公司", "440104", "91440101MA5BCY002", "黄百草"),
    "xihu": ("杭州西湖民生医药有限公司", "330106", "91330106MA2HCX003", "钱民生"),
    "jinghua": ("北京京华医药配送有限公司", "110101", "91110101MA0BJH004", "孙京华"),
}

DEMO_PRODUCTS = (
    (
        "复方丹参滴丸",
        "27mg×180丸",
        DosageForm.PILL,
        "国药准字Z10950111",
        InsuranceClass.CLASS_A,
        Dispensing.OTC,
        True,
        (True, True, True),
    ),
    (
        "阿莫西林胶囊",
        "0.25g×24粒",
        DosageForm.CAPSULE,
        "国药准字H44021351",
        InsuranceClass.CLASS_A,
        Dispensing.RX,
        False,
        (True, True, True),
    ),
    (
        "小儿感冒颗粒",
        "6g×10袋",
        DosageForm.GRANULE,
        "国药准字Z44020736",
        InsuranceClass.CLASS_B,
        Dispensing.OTC,
        False,
        (False, True, True),
    ),
    (
        "注射用头孢曲松钠",
        "1.0g",
        DosageForm.INJECTION,
        "国药准字H20033468",
        InsuranceClass.CLASS_A,
        Dispensing.RX,
        False,
        (True, False, False),
    ),
    (
        "清热解毒口服液",
        "10ml×12支",
        DosageForm.ORAL_LIQUID,
        "国药准字Z33020452",
        InsuranceClass.NONE,
        Dispensing.OTC,
        True,
        (False, True, True),
    ),
)

DEMO_MARKETS = {
    "440300": (MarketTier.TIER1, True, False),  # 深圳: key region
    "440100": (MarketTier.TIER1, True, True),  # 广州: key region, sample market
    "440600": (MarketTier.TIER2, False, False),  # 佛山
    "441900": (MarketTier.TIER2, False, False),  # 东莞
    "445300": (MarketTier.TIER3, False, False),  # 云浮
    "330100": (MarketTier.TIER1, False, True),  # 杭州: sample market
    "330600": (MarketTier.TIER2, False, False),  # 绍兴
}


# key, name, channel, market tier, regions, period, budget, actual cost (yuan)
DEMO_CAMPAIGNS = (
    (
        "fair",
        "2026 春季全国药品交易会（成都）",
        Channel.TRADE_SHOW,
        MarketTier.TIER1,
        ("440000", "330000"),
        ("2026-03-20", "2026-03-22"),
        "80000",
        "68000",
    ),
    ("paper", "医药经济报 招商专版", Channel.ADVERTISING, None, (), ("2026-01-01", "2026-06-30"), "30000", "25000"),
    (
        "south",
        "华南区域招商会（广州）",
        Channel.CONFERENCE,
        MarketTier.TIER1,
        ("440100",),
        ("2026-04-18", "2026-04-18"),
        "50000",
        "42000",
    ),
    ("web", "药品招商网 会员推广", Channel.WEB, None, (), ("2026-01-01", "2026-12-31"), "8000", "6000"),
    ("referral", "老客户相互介绍", Channel.REFERRAL, None, (), (None, None), None, "0"),
    (
        "outpost",
        "杭州办事处区域设点",
        Channel.OUTPOST,
        MarketTier.TIER1,
        ("330100",),
        ("2026-02-01", "2026-12-31"),
        "20000",
        "18000",
    ),
    (
        "calls",
        "经销商名录电话开发",
        Channel.PHONE_LIST,
        MarketTier.TIER2,
        ("440600", "441900"),
        ("2026-05-01", "2026-05-31"),
        "5000",
        "3500",
    ),
)

# company, county, campaign key, contact, phone, the events that bring it to its state
_TO_INTENT = ("contact", "follow", "show_intent")
# Leads waiting in the pool for `rep` to claim: company, county, campaign, contact, phone, why released.
DEMO_POOL_LEADS = (
    ("深圳龙岗康源医药有限公司", "440307", "fair", "邓康源", "13800138031", "原负责人调岗，重新分配"),
    ("深圳南山安心大药房连锁有限公司", "440305", "web", "许安心", "13800138032", "两个月未联系上，放回公海"),
    ("广州海珠济民医药有限公司", "440105", "south", "罗济民", "13800138033", "客户要求换人对接"),
)

DEMO_LEADS = (
    ("深圳同仁医药有限公司", "440305", "fair", "林同仁", "13800138001", ("contact", "follow")),
    ("深圳市南山康泰医药有限公司", "440305", "fair", "陈康泰", "13800138002", (*_TO_INTENT, "apply", "win")),
    ("深圳福田惠民药业有限公司", "440304", "paper", "吴惠民", "0755-8320 1234", ()),
    ("深圳宝安益生堂医药有限公司", "440306", "web", "郑益生", "13800138004", ("contact",)),
    ("深圳罗湖仁和医药有限公司", "440303", "south", "何仁和", "13800138005", _TO_INTENT),
    ("深圳市鹏城医药配送有限公司", "440306", "calls", "黄鹏城", "13800138006", ("contact", "lose")),
    ("广州天河百川医药有限公司", "440106", "south", "梁百川", "13800138007", (*_TO_INTENT, "apply")),
    ("广州越秀岭南药业有限公司", "440104", "south", "冯岭南", "13800138008", (*_TO_INTENT, "apply", "win")),
    ("广州海珠济生医药有限公司", "440105", "fair", "邓济生", "020-8123 4567", ("contact", "follow")),
    ("广州白云华康医药有限公司", "440111", "referral", "许华康", "13800138010", ("contact", "show_intent")),
    ("广州市穗安医药有限公司", "440106", "paper", "曾穗安", "13800138011", ()),
    ("广州白云山泉医药有限公司", "440111", "web", "罗山泉", "13800138012", ("lose",)),
    ("佛山禅城顺德医药有限公司", "440604", "calls", "潘顺德", "13800138013", ("contact", "follow")),
    ("云浮云城康宁医药有限公司", "445302", "calls", "谢康宁", "13800138014", ()),
    ("杭州西湖胡庆余医药有限公司", "330106", "outpost", "胡庆余", "13800138015", (*_TO_INTENT, "apply", "win")),
    ("杭州上城保和堂医药有限公司", "330102", "fair", "宋保和", "13800138016", _TO_INTENT),
    ("杭州拱墅运河医药有限公司", "330105", "outpost", "沈运河", "13800138017", ("contact", "follow")),
    ("杭州滨江江南药业有限公司", "330108", "web", "唐江南", "0571-8765 4321", ("contact",)),
    ("杭州余杭良渚医药有限公司", "330110", "paper", "钱良渚", "13800138019", (*_TO_INTENT, "lose")),
    ("杭州余杭仓前和济医药有限公司", "330110", "referral", "蒋和济", "13800138020", ()),
)

# product name (None: every product), objection, standard answer
DEMO_SCRIPTS = (
    ("复方丹参滴丸", "价格比同类产品高", "本品为独家品种、医保甲类，终端毛利高于同类；首批进货享政策支持。"),
    ("阿莫西林胶囊", "同类品种太多，利润低", "我们按区域独家授权，不做乱价；配合学术推广与终端动销支持。"),
    ("小儿感冒颗粒", "药店不愿意上新品", "提供首铺陈列费与店员培训，季节性品种可先小批量试销。"),
    (None, "你们公司规模小，不放心", "公司通过 GMP 认证，十余年经营，可安排到厂考察并提供合作经销商案例。"),
    (None, "回款周期太长", "首单款到发货，后续按信用额度结算；年度返利按季度兑现。"),
)


def _uscc(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def load_demo() -> None:
    """Insert the demo data into an empty database (territories are loaded first if missing)."""
    if db.session.get(Territory, "440300") is None:
        load_territories()
    for code, (tier, key, sample) in DEMO_MARKETS.items():
        territory = db.session.get(Territory, code)
        territory.market_tier, territory.is_key_region, territory.is_sample_market = tier, key, sample

    for name, spec, form, number, insurance, dispensing, exclusive, (hospital, pharmacy, third) in DEMO_PRODUCTS:
        db.session.add(
            Product(
                name=name,
                specification=spec,
                dosage_form=form,
                approval_number=number,
                insurance_class=insurance,
                dispensing=dispensing,
                is_exclusive=exclusive,
                for_hospital=hospital,
                for_pharmacy=pharmacy,
                for_third_terminal=third,
            )
        )

    password_hash = hash_password(DEMO_PASSWORD)
    staff = [u for u in DEMO_USERS if u[2] != Role.DISTRIBUTOR]
    for username, name, role, assignment in staff:
        user = User(username=username, display_name=name, role=role, password_hash=password_hash)
        user.territories = [db.session.get(Territory, code) for code in assignment]
        user.is_director = username == "director"
        db.session.add(user)
    db.session.flush()

    # Distributors the company already works with, registered by the administrator.
    admin = db.session.scalar(select(User).where(User.role == Role.ADMIN))
    companies = {}
    for key, (name, territory, uscc17, contact) in DEMO_COMPANIES.items():
        companies[key] = create_distributor(
            name=name, uscc=_uscc(uscc17), territory_code=territory, contact_name=contact, actor=admin
        )
    for username, name, role, assignment in DEMO_USERS:
        if role == Role.DISTRIBUTOR:
            user = User(username=username, display_name=name, role=role, password_hash=password_hash)
            user.company = companies[assignment]
            db.session.add(user)
    db.session.flush()
    _load_leads()
    # Screening and onboarding: a case under review, a draft agreement, a signed distributor.
    load_onboarding_demo(DEMO_PASSWORD)
    # Orders: the signed distributor's orders in every state, lots, credit, a statement.
    from crm.orders.demo import load_orders_demo

    load_orders_demo()
    # Returns: one waiting on a decision, one on its way back, one inspected, a refund, an exchange.
    from crm.returns.demo import load_returns_demo

    load_returns_demo()


def _load_leads() -> None:
    """Campaigns, leads driven through the lead machine as the demo users would, and scripts."""
    users = {u.username: u for u in db.session.scalars(select(User))}
    products = {p.name: p for p in db.session.scalars(select(Product))}
    campaigns = {}
    for key, name, channel, tier, regions, (starts, ends), budget, cost in DEMO_CAMPAIGNS:
        campaigns[key] = Campaign(
            name=name,
            channel=channel,
            market_tier=tier,
            starts_on=date.fromisoformat(starts) if starts else None,
            ends_on=date.fromisoformat(ends) if ends else None,
            budget=Decimal(budget) if budget else None,
            actual_cost=Decimal(cost),
            territories=[db.session.get(Territory, code) for code in regions],
            products=list(products.values())[:2],
        )
        db.session.add(campaigns[key])
    db.session.flush()

    for company, county, campaign, contact, phone, events in DEMO_LEADS:
        manager = users["manager_zj"] if county.startswith("33") else users["manager"]
        lead = create_lead(
            manager,
            company_name=company,
            territory_code=county,
            campaign_id=campaigns[campaign].id,
            contacts=[ContactInput(contact, "总经理", [phone])],
            allow_duplicate=True,
        )
        owner = db.session.get(User, lead.assignee_id) if lead.assignee_id else manager
        for event in events:
            actor = manager if event in ("win", "lose") else owner
            if event == "lose":
                engine.apply_event(
                    lead, event, actor, seen_version=lead.version, comment="价格谈不拢", data={"reason": "price"}
                )
                lead.lost_reason = LostReason.PRICE
            else:
                comment = "已签约，转经销商筛选" if event == "win" else None
                engine.apply_event(lead, event, actor, seen_version=lead.version, comment=comment)

    # The pool (公海) has something to claim: leads the manager sent back, in the rep's cities.
    from crm.leads.pool import release_to_pool

    for company, county, campaign, contact, phone, reason in DEMO_POOL_LEADS:
        lead = create_lead(
            users["manager"],
            company_name=company,
            territory_code=county,
            campaign_id=campaigns[campaign].id,
            contacts=[ContactInput(contact, "采购经理", [phone])],
            allow_duplicate=True,
        )
        engine.apply_event(lead, "contact", db.session.get(User, lead.assignee_id), seen_version=lead.version)
        db.session.flush()
        release_to_pool(lead, users["manager"], seen_version=lead.version, reason=reason)

    for product, objection, answer in DEMO_SCRIPTS:
        db.session.add(Script(product_id=products[product].id if product else None, objection=objection, answer=answer))
    db.session.flush()
