"""Demo data for `make run`: one account per role, regions, products, distributors.

The accounts and their password are listed in README.md.
"""

from __future__ import annotations

from crm.access.roles import Role
from crm.auth.models import User
from crm.auth.passwords import hash_password
from crm.common.validators import uscc_check_char
from crm.distributors.models import Distributor
from crm.extensions import db
from crm.products.models import Dispensing, DosageForm, InsuranceClass, Product
from crm.territories.models import MarketTier, Territory
from crm.territories.services import load_territories

DEMO_PASSWORD = "Demo@2026!"  # noqa: S105 (published in README for the demo)

# username, name, role, territory codes (reps and managers) or company key (distributors)
DEMO_USERS = (
    ("admin", "系统管理员", Role.ADMIN, ()),
    ("manager", "王经理", Role.MANAGER, ("440000",)),  # 广东省
    ("manager_zj", "陈经理", Role.MANAGER, ("330000",)),  # 浙江省
    ("rep", "李代表", Role.REP, ("440300", "440100")),  # 深圳市, 广州市
    ("rep_hz", "赵代表", Role.REP, ("330100",)),  # 杭州市
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


def _uscc(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def load_demo() -> None:
    """Insert the demo data into an empty database (territories are loaded first if missing)."""
    if db.session.get(Territory, "440300") is None:
        load_territories()
    for code, (tier, key, sample) in DEMO_MARKETS.items():
        territory = db.session.get(Territory, code)
        territory.market_tier, territory.is_key_region, territory.is_sample_market = tier, key, sample

    companies = {}
    for key, (name, territory, uscc17, contact) in DEMO_COMPANIES.items():
        companies[key] = Distributor(name=name, territory_code=territory, uscc=_uscc(uscc17), contact_name=contact)
        db.session.add(companies[key])

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
    for username, name, role, assignment in DEMO_USERS:
        user = User(username=username, display_name=name, role=role, password_hash=password_hash)
        if role == Role.DISTRIBUTOR:
            user.company = companies[assignment]
        else:
            user.territories = [db.session.get(Territory, code) for code in assignment]
        db.session.add(user)
    db.session.flush()
