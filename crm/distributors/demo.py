"""Demo data for the road from applicant to distributor, built with the real services.

A case under review (from an applied lead in 广州), a case approved with its draft
agreement, and a distributor whose agreement (an exclusive county) is signed, with
its portal account. Called by ``crm.demo.load_demo`` after the users and leads exist.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from crm.auth.models import User
from crm.auth.passwords import hash_password
from crm.common.time import local_today
from crm.common.validators import uscc_check_char
from crm.distributors import onboarding
from crm.extensions import db
from crm.leads.models import Lead
from crm.products.models import Product
from crm.screening import services as screening
from crm.screening.models import Criterion

# What each scorecard criterion gets in the demo, with the reviewer's note.
DEMO_SCORES = {
    Criterion.CAPITAL: (85, "注册资本 2000 万，银行授信充足"),
    Criterion.RESOURCES: (80, "覆盖二级以上医院 30 家"),
    Criterion.LOGISTICS: (75, "自有冷链车 6 辆"),
    Criterion.TERMINALS: (80, "连锁药店 120 家"),
    Criterion.THINKING: (70, "愿意做学术推广"),
}

# A scan is a PDF; the demo's files are the smallest ones the upload check accepts.
_PDF = b"%PDF-1.4\n% demo scan\n" + b"0" * 64 + b"\n%%EOF\n"


def _upload(name: str) -> FileStorage:
    return FileStorage(stream=io.BytesIO(_PDF), filename=name, content_type="application/pdf")


def _case(actor, *, company: str, territory: str, uscc17: str, contact: str, phone: str, lines, lead=None):
    """A case with its lines and its licences, still in draft."""
    today = local_today()
    case = screening.open_case(
        actor,
        lead=lead,
        company_name=None if lead else company,
        uscc=uscc17 + uscc_check_char(uscc17),
        territory_code=None if lead else territory,
        contact_name=None if lead else contact,
        contact_phone=None if lead else phone,
        summary="区域龙头配送商，终端覆盖好",
    )
    for product, code, exclusive in lines:
        screening.add_line(case, actor, product_id=product.id, territory_code=code, exclusive=exclusive)
    screening.add_document(case, actor, kind="business_licence", upload=_upload("营业执照.pdf"), number=case.uscc)
    screening.add_document(
        case,
        actor,
        kind="drug_trading_licence",
        upload=_upload("药品经营许可证.pdf"),
        number=f"浙AA{uscc17[-6:]}",
        issued_on=today - timedelta(days=700),
        expires_on=today + timedelta(days=1100),
    )
    return case


def _review(case, rep, manager) -> None:
    screening.fire(case, "submit", rep, seen_version=case.version)
    screening.fire(case, "pick_up", manager, seen_version=case.version)
    for criterion, (value, note) in DEMO_SCORES.items():
        screening.score(case, manager, criterion=criterion.value, score=value, note=note)
    db.session.flush()


def load_onboarding_demo(password: str) -> None:
    """Three applicants at three steps; the signed one's portal user signs in with ``password``."""
    users = {u.username: u for u in db.session.scalars(select(User))}
    products = {p.name: p for p in db.session.scalars(select(Product))}
    rep, manager = users["rep"], users["manager"]
    rep_hz, manager_zj = users["rep_hz"], users["manager_zj"]
    dan, amo, qingre = products["复方丹参滴丸"], products["阿莫西林胶囊"], products["清热解毒口服液"]

    # 1. Under review: the applied lead in 广州 (a key region: it will need a director's second approval).
    applied = db.session.scalar(select(Lead).where(Lead.company_name == "广州天河百川医药有限公司"))
    case = _case(
        rep,
        company="",
        territory="",
        uscc17="91440106MA5BC0A07",
        contact="",
        phone="",
        lines=[(dan, "440106", False)],
        lead=applied,
    )
    _review(case, rep, manager)

    # 2. Approved, its draft agreement waiting for the manager to complete and sign it.
    case = _case(
        rep_hz,
        company="杭州临平康华医药有限公司",
        territory="330113",
        uscc17="91330113MA2HKH021",
        contact="方康华",
        phone="13800138031",
        lines=[(amo, "330113", True), (qingre, "330100", False)],
    )
    _review(case, rep_hz, manager_zj)
    _distributor, draft = screening.approve_case(case, manager_zj, seen_version=case.version, comment="资质齐全")
    onboarding.update_agreement(
        draft,
        manager_zj,
        draft.version,
        draft.starts_on,
        draft.ends_on,
        "3,000,000",
        "100000",
        "出厂价九折\n季度返利 2%，按季度回款结算",
    )

    # 3. Signed: an exclusive county, the distributor active, its contact on the portal.
    case = _case(
        rep_hz,
        company="杭州钱塘海达医药有限公司",
        territory="330114",
        uscc17="91330114MA2HHD022",
        contact="韩海达",
        phone="13800138032",
        lines=[(dan, "330114", True)],
    )
    _review(case, rep_hz, manager_zj)
    _distributor, agreement = screening.approve_case(case, manager_zj, seen_version=case.version, comment="同意")
    year = local_today().year
    onboarding.update_agreement(
        agreement,
        manager_zj,
        agreement.version,
        date(year, 1, 1),
        date(year, 12, 31),
        "5000000",
        "200000",
        "出厂价八五折\n钱塘区独家，不得跨区销售",
    )
    for credential in onboarding.sign_agreement(agreement, manager_zj, agreement.version):
        # The demo's portal user signs in with the published demo password, not the one-time one.
        portal = db.session.scalar(select(User).where(User.username == credential.username))
        portal.password_hash = hash_password(password)
    db.session.flush()
