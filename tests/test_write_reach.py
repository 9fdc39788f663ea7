"""Writes are scoped like reads: every POST route, attacked from another province, changes nothing.

Generated from ``app.url_map`` like the read matrix (tests/test_access_matrix.py): a POST
route without a row in ``PROBES`` fails ``test_every_post_route_has_a_probe``.

The attackers are a manager of 浙江省 and a rep of 杭州市. The world holds the same records
on both sides: in 杭州 (their own) and in 广东 深圳 (someone else's). For each route and
attacker the test posts

- the route on someone else's record (a URL id out of reach), and
- the route on their own record, with every territory code and record id in the form
  pointing at 广东 (a form value out of reach),

and checks that nothing in the database or the upload folders changed. Then, for the
roles that may use the route, it posts the same form with their own values and checks
that something did change: the probe is a real use of the route, refused only for reach.
"""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.time import local_today, utcnow
from crm.extensions import db
from tests.helpers import csrf_token, gen_product, gen_user, login, valid_uscc

PDF = b"%PDF-1.7\n" + b"0" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
OWN, FOREIGN = "own", "foreign"

# What a request may write whatever it does: the security log and sign-in bookkeeping.
LOG_TABLES = {"audit_events", "login_attempts"}


@dataclass
class Side:
    """One province's records; ids filled in by the ``world`` fixture."""

    county: str
    city: str
    province: str
    ids: dict = field(default_factory=dict)

    def __getattr__(self, name):
        try:
            return self.__dict__["ids"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class World:
    app: object
    own: Side
    foreign: Side
    product_id: int
    users: dict

    def side(self, name: str) -> Side:
        return self.own if name == OWN else self.foreign

    def version(self, model, record_id) -> str:
        with self.app.app_context():
            return str(db.session.get(model, record_id).version)


def _models():
    from crm.distributors.models import Agreement, Distributor
    from crm.leads.models import Campaign, Lead, Script
    from crm.orders.models import Credit, Order, OrderDiscount
    from crm.returns.models import ReturnRequest
    from crm.screening.models import ScreeningCase
    from tests.workflow.testflow import TestRecord

    return {
        "Credit": Credit,
        "Order": Order,
        "OrderDiscount": OrderDiscount,
        "ReturnRequest": ReturnRequest,
        "Agreement": Agreement,
        "Distributor": Distributor,
        "Campaign": Campaign,
        "Lead": Lead,
        "Script": Script,
        "ScreeningCase": ScreeningCase,
        "TestRecord": TestRecord,
    }


def _m(name):
    return _models()[name]


# -- probes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """How one POST route is used, and attacked.

    ``url(w, side)`` gives the route's arguments for the record on ``side``; ``form(w, url_side,
    form_side)`` a complete, valid form for the record on ``url_side`` whose territory codes and
    ids come from ``form_side``. ``users`` are the attackers ("manager", "rep") allowed to use the
    route on their own records; the others are refused by role. ``attacks`` are the (url side,
    form side) pairs tried: a URL-only route has no form values to point elsewhere.
    """

    url: object = None
    form: object = None
    users: frozenset = frozenset()
    attacks: tuple = ((FOREIGN, FOREIGN), (OWN, FOREIGN))
    files: object = None
    self_only: str | None = None  # why the route cannot reach anyone else's records

    def url_values(self, w, side):
        return self.url(w, w.side(side)) if self.url else {}

    def form_values(self, w, url_side, form_side):
        return self.form(w, w.side(url_side), w.side(form_side)) if self.form else {}


BOTH = frozenset({"manager", "rep"})
MANAGER = frozenset({"manager"})
URL_ONLY = ((FOREIGN, FOREIGN),)
FORM_ONLY = ((OWN, FOREIGN),)


def admin_only(url=None) -> Probe:
    """A route for administrators: attackers are refused by role before anything is read."""
    return Probe(url=url, attacks=((OWN, OWN), (FOREIGN, FOREIGN)))


def self_only(reason: str) -> Probe:
    return Probe(self_only=reason)


def v(model_name, attr):
    """The form's ``seen_version``: the current version of the URL side's record ``attr``."""
    return lambda w, us, fs: {"seen_version": w.version(_m(model_name), getattr(us, attr))}


def lead_form(w, us, fs):
    return {
        "company_name": f"新线索医药{fs.county}",
        "territory_code": fs.county,
        "campaign_id": str(fs.campaign_id),
        "contacts-0-name": "李四",
        "contacts-0-phone1": "13912345678" if fs is w.own else "13987654321",
        "allow_duplicate": "y",
    }


def campaign_form(w, us, fs, **extra):
    return {
        "name": f"新活动{fs.province}",
        "channel": "trade_show",
        "territories": [fs.province],
        "market_tier": "",
        "actual_cost": "1000",
        **extra,
    }


def case_form(w, us, fs, **extra):
    return {
        "company_name": f"筛选医药{fs.county}",
        "territory_code": fs.county,
        "contact_name": "王总",
        "contact_phone": "13800138000",
        **extra,
    }


def pdf_upload():
    return {"file": (io.BytesIO(PDF), "授权书.pdf")}


UPLOAD_CSV = "企业名称,电话,地区\n上传医药,13800138000,杭州上城\n"

PROBES: dict[str, Probe] = {
    # -- the caller's own session, account and inbox -------------------------------------------
    "main.set_language": self_only("changes the caller's own language"),
    "auth.login": self_only("signs the caller in"),
    "auth.logout": self_only("signs the caller out"),
    "auth.change_password": self_only("changes the caller's own password"),
    "notify.mark_all_read": self_only("marks the caller's own notifications read (notify.inbox_query)"),
    # The form names a notification: the attacker's own, or another user's (``_notification_fix``).
    "notify.mark_read": Probe(
        users=BOTH,
        attacks=FORM_ONLY,
    ),
    # -- administration: refused by role ---------------------------------------------------------
    "admin.user_new": admin_only(),
    "admin.user_edit": admin_only(lambda w, s: {"user_id": s.rep_id}),
    "admin.user_reset_password": admin_only(lambda w, s: {"user_id": s.rep_id}),
    "admin.user_set_active": admin_only(lambda w, s: {"user_id": s.rep_id}),
    "territories.edit": admin_only(lambda w, s: {"code": s.county}),
    "products.new": admin_only(),
    "products.edit": admin_only(lambda w, s: {"product_id": w.product_id}),
    "distributors.new": admin_only(),
    "distributors.edit": admin_only(lambda w, s: {"distributor_id": s.distributor_id}),
    "sla.rule_edit": admin_only(lambda w, s: {"workflow": "leads", "state": "new"}),
    "sla.rule_reset": admin_only(lambda w, s: {"workflow": "leads", "state": "new"}),
    "sla.holidays": admin_only(),
    "sla.holiday_range": admin_only(),
    "sla.holiday_delete": admin_only(lambda w, s: {"holiday_id": w.foreign.holiday_id}),
    "sla.holiday_year_complete": admin_only(lambda w, s: {"year": 2031}),
    "screening.policy": admin_only(),
    # -- leads --------------------------------------------------------------------------------------
    "leads.new": Probe(form=lead_form, users=BOTH, attacks=FORM_ONLY),
    "leads.claim": Probe(url=lambda w, s: {"lead_id": s.pool_lead_id}, users=BOTH, attacks=URL_ONLY),
    "leads.touch": Probe(
        url=lambda w, s: {"lead_id": s.lead_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Lead"), us.lead_id),
            "kind": "call",
            "method": "random_visit",
            "summary": "电话沟通",
        },
        users=BOTH,
        attacks=URL_ONLY,
    ),
    "leads.lose": Probe(
        url=lambda w, s: {"lead_id": s.lead_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Lead"), us.lead_id),
            "reason": "price",
            "comment": "价格谈不拢",
        },
        users=BOTH,
        attacks=URL_ONLY,
    ),
    # The campaign is not a matter of reach (creation takes any, as here): only the URL is attacked.
    "leads.edit": Probe(
        url=lambda w, s: {"lead_id": s.lead_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Lead"), us.lead_id),
            "company_name": f"改过名的医药{us.county}",
            "campaign_id": str(us.campaign_id),
            "address": "新地址",
        },
        users=BOTH,
        attacks=URL_ONLY,
    ),
    "leads.contact_add": Probe(
        url=lambda w, s: {"lead_id": s.lead_id},
        form=lambda w, us, fs: {
            "contact-seen_version": w.version(_m("Lead"), us.lead_id),
            "contact-name": "新联系人",
            "contact-phone1": "13712345678" if us is w.own else "13787654321",
        },
        users=BOTH,
        attacks=URL_ONLY,
    ),
    "leads.contact_remove": Probe(
        url=lambda w, s: {"lead_id": s.lead_id, "contact_id": s.contact_id},
        form=lambda w, us, fs: {"seen_version": w.version(_m("Lead"), us.lead_id)},
        users=BOTH,
        attacks=URL_ONLY,
    ),
    "leads.release": Probe(
        url=lambda w, s: {"lead_id": s.lead_id},
        form=lambda w, us, fs: {"seen_version": w.version(_m("Lead"), us.lead_id), "reason": "放回公海"},
        users=BOTH,
        attacks=URL_ONLY,
    ),
    # The ids are in the form: the attacker's own leads, or the other province's (refused row by row).
    "leads.bulk": Probe(
        form=lambda w, us, fs: {
            "action": "release",
            "reason": "季度清理",
            "lead_ids": [str(fs.lead_id), str(fs.keep_lead_id)],
        },
        users=MANAGER,
        attacks=FORM_ONLY,
    ),
    "leads.reassign": Probe(
        url=lambda w, s: {"lead_id": s.lead_id},
        form=lambda w, us, fs: {"seen_version": w.version(_m("Lead"), us.lead_id), "owner_id": str(fs.manager_id)},
        users=MANAGER,
    ),
    "leads.merge": Probe(
        url=lambda w, s: {"lead_id": s.lead_id},
        form=lambda w, us, fs: {"seen_version": w.version(_m("Lead"), us.lead_id), "keep_id": str(fs.keep_lead_id)},
        users=MANAGER,
    ),
    "leads.campaign_new": Probe(form=campaign_form, users=MANAGER, attacks=FORM_ONLY),
    "leads.campaign_edit": Probe(
        url=lambda w, s: {"campaign_id": s.campaign_id},
        form=lambda w, us, fs: campaign_form(
            w, us, fs, seen_version=w.version(_m("Campaign"), us.campaign_id), name="改名的活动"
        ),
        users=MANAGER,
    ),
    # The scripts library is company-wide, like the product list it names.
    "leads.script_new": Probe(
        form=lambda w, us, fs: {"objection": "太贵了", "answer": "算终端毛利", "active": "y", "product_id": ""},
        users=MANAGER,
        attacks=(),
    ),
    "leads.script_edit": Probe(
        url=lambda w, s: {"script_id": w.own.script_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Script"), w.own.script_id),
            "objection": "还是太贵",
            "answer": "看终端毛利",
            "active": "y",
            "product_id": "",
        },
        users=MANAGER,
        attacks=(),
    ),
    # -- lead import: each import is its uploader's ------------------------------------------------
    "leads.import_upload": Probe(
        form=lambda w, us, fs: {"campaign_id": str(fs.campaign_id)},
        files=lambda: {
            "file": (io.BytesIO("企业名称,电话,地区\n上传医药,13800138000,杭州上城\n".encode()), "名单.csv")
        },
        users=BOTH,
        attacks=(),
    ),
    "leads.import_mapping": Probe(
        url=lambda w, s: {"import_id": s.import_id},
        form=lambda w, us, fs: {"map_company_name": "0", "map_phone": "1", "map_region": "2"},
        users=frozenset({"rep"}),
        attacks=URL_ONLY,
    ),
    "leads.import_run": Probe(
        url=lambda w, s: {"import_id": s.previewed_import_id},
        users=frozenset({"rep"}),
        attacks=URL_ONLY,
    ),
    # -- screening ---------------------------------------------------------------------------------
    "screening.new": Probe(form=case_form, users=BOTH, attacks=FORM_ONLY),
    "screening.edit": Probe(
        url=lambda w, s: {"case_id": s.case_id},
        form=lambda w, us, fs: case_form(w, us, fs, seen_version=w.version(_m("ScreeningCase"), us.case_id)),
        users=BOTH,
    ),
    "screening.add_line": Probe(
        url=lambda w, s: {"case_id": s.case_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("ScreeningCase"), us.case_id),
            "product_id": str(w.second_product_id),
            "territory_code": fs.county,
        },
        users=BOTH,
    ),
    "screening.remove_line": Probe(
        url=lambda w, s: {"case_id": s.case_id, "line_id": s.case_line_id},
        form=v("ScreeningCase", "case_id"),
        users=BOTH,
        attacks=URL_ONLY,
    ),
    "screening.upload_document": Probe(
        url=lambda w, s: {"case_id": s.case_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("ScreeningCase"), us.case_id),
            "kind": "authorization_letter",
        },
        files=pdf_upload,
        users=BOTH,
        attacks=URL_ONLY,
    ),
    "screening.score": Probe(
        url=lambda w, s: {"case_id": s.review_case_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("ScreeningCase"), us.review_case_id),
            "criterion": "capital",
            "score": "90",
            "note": "复核",
        },
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "screening.fire": Probe(
        url=lambda w, s: {"case_id": s.case_id, "event_name": "submit"},
        form=v("ScreeningCase", "case_id"),
        users=BOTH,
        attacks=URL_ONLY,
    ),
    # Own side: the mixed case holds a line in 广东 that an administrator added.
    "screening.approve": Probe(
        url=lambda w, s: {"case_id": s.mixed_case_id if s is w.own else s.review_case_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("ScreeningCase"), us.mixed_case_id if us is w.own else us.review_case_id)
        },
        users=frozenset(),  # the control is below: approving the case without the foreign line
        attacks=((OWN, OWN), (FOREIGN, FOREIGN)),
    ),
    # -- distributors and agreements -----------------------------------------------------------------
    "distributors.terminate": Probe(
        url=lambda w, s: {"distributor_id": s.distributor_id},
        form=lambda w, us, fs: {"seen_version": w.version(_m("Distributor"), us.distributor_id), "comment": "终止"},
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "distributors.agreement_edit": Probe(
        url=lambda w, s: {"agreement_id": s.agreement_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Agreement"), us.agreement_id),
            "starts_on": "2027-01-01",
            "ends_on": "2027-12-31",
            "annual_target": "100000",
            "deposit": "20000",
            "price_policy": "供货价 8 折",
        },
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "distributors.agreement_line_add": Probe(
        url=lambda w, s: {"agreement_id": s.agreement_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Agreement"), us.agreement_id),
            "product_id": str(w.second_product_id),
            "territory_code": fs.county,
            "exclusive": "y",
        },
        users=MANAGER,
    ),
    # Own side: a line of their own agreement that lies in 广东 (an administrator added it).
    "distributors.agreement_line_remove": Probe(
        url=lambda w, s: (
            {"agreement_id": s.mixed_agreement_id, "agreement_line_id": s.mixed_foreign_line_id}
            if s is w.own
            else {"agreement_id": s.agreement_id, "agreement_line_id": s.agreement_line_id}
        ),
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Agreement"), us.mixed_agreement_id if us is w.own else us.agreement_id)
        },
        attacks=((OWN, OWN), (FOREIGN, FOREIGN)),
    ),
    # Own side: the price of their own agreement's line in 广东 (an administrator added it).
    "distributors.agreement_line_price": Probe(
        url=lambda w, s: (
            {"agreement_id": s.mixed_agreement_id, "agreement_line_id": s.mixed_foreign_line_id}
            if s is w.own
            else {"agreement_id": s.agreement_id, "agreement_line_id": s.agreement_line_id}
        ),
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Agreement"), us.mixed_agreement_id if us is w.own else us.agreement_id),
            "unit_price": "12.50",
        },
        attacks=((OWN, OWN), (FOREIGN, FOREIGN)),
    ),
    "distributors.agreement_contact_add": Probe(
        url=lambda w, s: {"agreement_id": s.agreement_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Agreement"), us.agreement_id),
            "name": "赵六",
            "phone": "13700137000",
        },
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "distributors.agreement_contact_remove": Probe(
        url=lambda w, s: {"agreement_id": s.agreement_id, "agreement_contact_id": s.agreement_contact_id},
        form=v("Agreement", "agreement_id"),
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "distributors.agreement_sign": Probe(
        url=lambda w, s: {"agreement_id": s.mixed_agreement_id if s is w.own else s.agreement_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Agreement"), us.mixed_agreement_id if us is w.own else us.agreement_id)
        },
        users=frozenset(),  # the control is below: signing their agreement without the foreign line
        attacks=((OWN, OWN), (FOREIGN, FOREIGN)),
    ),
    # -- the generic workflow route ----------------------------------------------------------------
    "workflow.fire": Probe(
        url=lambda w, s: {"workflow": "testflow", "record_id": s.record_id, "event": "take"},
        form=lambda w, us, fs: {"seen_version": w.version(_m("TestRecord"), us.record_id)},
        users=BOTH,
        attacks=URL_ONLY,
    ),
    # -- orders (issue 12): the desk's routes refuse managers and reps by role; holds, releases,
    # cancellations and credit terms are theirs within their reach ---------------------------------
    "orders.confirm": Probe(
        url=lambda w, s: {"order_id": s.order_submitted}, form=v("Order", "order_submitted"), attacks=URL_ONLY
    ),
    "orders.hold": Probe(
        url=lambda w, s: {"order_id": s.order_submitted},
        form=lambda w, us, fs: {"seen_version": w.version(_m("Order"), us.order_submitted), "comment": "暂缓发货"},
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "orders.release": Probe(
        url=lambda w, s: {"order_id": s.order_on_hold},
        form=lambda w, us, fs: {"seen_version": w.version(_m("Order"), us.order_on_hold), "comment": "同意放行"},
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "orders.ask_release": Probe(
        url=lambda w, s: {"order_id": s.order_on_hold},
        form=lambda w, us, fs: {"seen_version": w.version(_m("Order"), us.order_on_hold), "comment": "月底回款"},
        users=BOTH,
        attacks=URL_ONLY,
    ),
    "orders.fire": Probe(
        url=lambda w, s: {"order_id": s.order_submitted, "order_event": "cancel"},
        form=lambda w, us, fs: {"seen_version": w.version(_m("Order"), us.order_submitted), "comment": "客户取消"},
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "orders.ship": Probe(
        url=lambda w, s: {"order_id": s.order_picking},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Order"), us.order_picking),
            "carrier": "顺丰",
            "waybill": "SF1",
        },
        attacks=URL_ONLY,
    ),
    "orders.receipt": Probe(
        url=lambda w, s: {"order_id": s.order_shipped}, form=v("Order", "order_shipped"), attacks=URL_ONLY
    ),
    "orders.invoice": Probe(
        url=lambda w, s: {"order_id": s.order_delivered},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Order"), us.order_delivered),
            "number": "26440000000000000001",
            "amount": "10",
        },
        attacks=URL_ONLY,
    ),
    "orders.lot_new": Probe(
        form=lambda w, us, fs: {
            "product_id": str(w.product_id),
            "number": "LOT-W",
            "produced_on": "2026-01-01",
            "expires_on": "2028-01-01",
            "quantity": "10",
        },
        attacks=(),
    ),
    # Lots are the maker's, not a territory's: the import is refused to managers and reps by role.
    "orders.lot_import": Probe(
        files=lambda: {
            "file": (
                io.BytesIO("批号,药品标识码,生产日期,有效期至,数量\nLOT-WI,,2026-01-01,2028-01-01,5\n".encode()),
                "批号.csv",
            )
        },
        attacks=(),
    ),
    "orders.lot_import_confirm": Probe(form=lambda w, us, fs: {"token": "0" * 32}, attacks=()),
    "orders.payment": Probe(
        url=lambda w, s: {"distributor_id": s.distributor_id},
        form=lambda w, us, fs: {"amount": "100", "method": "transfer"},
        attacks=URL_ONLY,
    ),
    "orders.credit": Probe(
        url=lambda w, s: {"distributor_id": s.distributor_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Credit"), us.distributor_id),
            "credit_limit": "5000",
            "payment_days": "60",
        },
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "orders.discount_request": Probe(
        url=lambda w, s: {"order_id": s.order_submitted, "order_line_id": s.order_submitted_line},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("Order"), us.order_submitted),
            "unit_price": "5",
            "reason": "竞品降价",
        },
        users=BOTH,
        attacks=URL_ONLY,
    ),
    "orders.discount_decide": Probe(
        url=lambda w, s: {"discount_id": s.discount_id},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("OrderDiscount"), us.discount_id),
            "decision": "approve",
            "comment": "同意",
        },
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    # The portal orders for the caller's own company: managers and reps are refused by role.
    "portal.catalogue": Probe(attacks=()),
    # -- returns (issue 13): managers decide returns in their reach; requesting, receiving,
    # inspecting, refunding and replacing are the distributor's and the desk's (refused by role) ---------
    "returns.new": Probe(
        form=lambda w, us, fs: {"shipment_id": str(fs.order_delivered_shipment), "kind": "return", "reason": "damaged"},
        attacks=(),
    ),
    "returns.fire": Probe(
        url=lambda w, s: {"return_id": s.return_requested, "return_event": "approve"},
        form=lambda w, us, fs: {"seen_version": w.version(_m("ReturnRequest"), us.return_requested)},
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "returns.reject": Probe(
        url=lambda w, s: {"return_id": s.return_requested},
        form=lambda w, us, fs: {
            "seen_version": w.version(_m("ReturnRequest"), us.return_requested),
            "comment": "超出退货期",
        },
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    "returns.policy": Probe(
        url=lambda w, s: {"agreement_id": s.agreement_id},
        form=lambda w, us, fs: {
            "window_days": "60",
            "accepts_near_expiry": "y",
            "near_expiry_months": "4",
            "manager_reasons": "quality",
            "quality_threshold": "2",
        },
        users=MANAGER,
        attacks=URL_ONLY,
    ),
    **{
        endpoint: Probe(
            url=lambda w, s: {"return_id": s.return_requested},
            form=lambda w, us, fs: {"seen_version": w.version(_m("ReturnRequest"), us.return_requested)},
            attacks=URL_ONLY,
        )
        for endpoint in (
            "returns.temperature",
            "returns.receive",
            "returns.inspect",
            "returns.refund",
            "returns.replace",
        )
    },
}

# Routes whose control is a different record than their attack (see the probes' comments).
CONTROLS = {
    "screening.approve": (
        lambda w, s: {"case_id": s.review_case_id},
        lambda w, us, fs: {"seen_version": w.version(_m("ScreeningCase"), us.review_case_id)},
        MANAGER,
    ),
    "distributors.agreement_sign": (
        lambda w, s: {"agreement_id": s.agreement_id},
        lambda w, us, fs: {"seen_version": w.version(_m("Agreement"), us.agreement_id)},
        MANAGER,
    ),
    "distributors.agreement_line_price": (
        lambda w, s: {"agreement_id": s.agreement_id, "agreement_line_id": s.agreement_line_id},
        lambda w, us, fs: {"seen_version": w.version(_m("Agreement"), us.agreement_id), "unit_price": "12.50"},
        MANAGER,
    ),
    "distributors.agreement_line_remove": (
        lambda w, s: {"agreement_id": s.agreement_id, "agreement_line_id": s.agreement_line_id},
        lambda w, us, fs: {"seen_version": w.version(_m("Agreement"), us.agreement_id)},
        MANAGER,
    ),
}


def _post_routes(app):
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and rule.endpoint != "static":
            yield rule


def test_every_post_route_has_a_probe(app):
    endpoints = {rule.endpoint for rule in _post_routes(app)}
    missing = sorted(endpoints - set(PROBES))
    assert not missing, "POST routes without a write-reach probe:\n" + "\n".join(missing)
    stale = sorted(set(PROBES) - endpoints)
    assert not stale, f"probes for routes that no longer exist: {stale}"


# -- the world ---------------------------------------------------------------------------------------

_seq = itertools.count(1)


@pytest.fixture
def world(app, testflow) -> World:
    from crm.auth.models import User
    from crm.distributors.agreements import territory_range
    from crm.distributors.models import Agreement, AgreementContact, AgreementLine
    from crm.distributors.services import create_distributor
    from crm.leads import campaigns
    from crm.leads.importer import imports_dir
    from crm.leads.imports_models import ImportStatus, LeadImport
    from crm.leads.models import Script
    from crm.leads.services import ContactInput, create_lead
    from crm.notify import queue
    from crm.notify.models import NotificationKind
    from crm.screening import services as screening
    from crm.screening.models import CaseLine, Criterion
    from crm.sla.models import HolidayOverride
    from crm.workflow import engine
    from tests.workflow.testflow import TestRecord

    own, foreign = Side("330102", "330100", "330000"), Side("440305", "440300", "440000")
    admin = gen_user(app, Role.ADMIN)
    people = {
        OWN: (gen_user(app, Role.MANAGER, territories=["330000"]), gen_user(app, Role.REP, territories=["330100"])),
        FOREIGN: (gen_user(app, Role.MANAGER, territories=["440000"]), gen_user(app, Role.REP, territories=["440300"])),
    }
    product_id = gen_product(app, name="写入矩阵片")
    second_product_id = gen_product(app, name="写入矩阵胶囊")

    def upload(data=PDF, name="营业执照.pdf"):
        from werkzeug.datastructures import FileStorage

        return FileStorage(stream=io.BytesIO(data), filename=name)

    def agreement_of(distributor_id, code, number, extra_code=None):
        agreement = Agreement(number=number, distributor_id=distributor_id)
        for line_code in filter(None, (code, extra_code)):
            lo, hi = territory_range(line_code)
            agreement.lines.append(
                AgreementLine(product_id=product_id, territory_code=line_code, code_lo=lo, code_hi=hi)
            )
        agreement.contacts.append(AgreementContact(name="矩阵联系人", phone=f"+86137{next(_seq):08d}"))
        agreement.starts_on, agreement.ends_on = local_today(), local_today() + timedelta(days=365)
        db.session.add(agreement)
        db.session.flush()
        return agreement

    def reviewing_case(rep, manager, side, extra_code=None):
        case = screening.open_case(
            rep,
            company_name=f"审核中医药{side.county}{next(_seq)}",
            uscc=valid_uscc(),
            territory_code=side.county,
            contact_name="王总",
            contact_phone="13800138000",
        )
        screening.add_line(case, rep, product_id=product_id, territory_code=side.county)
        if extra_code:  # an administrator adds a place outside the side's province
            lo = extra_code
            case.lines.append(CaseLine(product_id=second_product_id, territory_code=lo, exclusive=False))
        screening.add_document(case, rep, kind="business_licence", upload=upload(), number="9133")
        screening.add_document(
            case,
            rep,
            kind="drug_trading_licence",
            upload=upload(),
            number="浙AA5710001",
            expires_on=local_today() + timedelta(days=365),
        )
        screening.fire(case, "submit", rep, seen_version=case.version)
        screening.fire(case, "pick_up", manager, seen_version=case.version)
        for criterion in Criterion:
            screening.score(case, manager, criterion=criterion.value, score=80, note="见资料")
        return case

    with app.test_request_context():
        admin_user = db.session.get(User, admin.id)
        holiday = HolidayOverride(day=local_today() + timedelta(days=400), is_working_day=False, name="矩阵假日")
        script = Script(objection="价格太高", answer="看终端毛利")
        db.session.add_all([holiday, script])
        for name, side in ((OWN, own), (FOREIGN, foreign)):
            manager_ref, rep_ref = people[name]
            manager, rep = db.session.get(User, manager_ref.id), db.session.get(User, rep_ref.id)
            ids = side.ids
            ids.update(manager_id=manager.id, rep_id=rep.id, holiday_id=None)
            campaign = campaigns.create_campaign(
                admin_user, name=f"矩阵活动{side.province}", channel="trade_show", territory_codes=[side.province]
            )
            ids["campaign_id"] = campaign.id

            def lead(company, owner=rep, side=side, campaign=campaign):
                return create_lead(
                    owner,
                    company_name=f"{company}{side.county}",
                    territory_code=side.county,
                    campaign_id=campaign.id,
                    contacts=[ContactInput("张三", None, [f"139{next(_seq):08d}"])],
                    allow_duplicate=True,
                )

            first = lead("矩阵线索医药")
            ids["lead_id"], ids["contact_id"] = first.id, first.contacts[0].id
            ids["keep_lead_id"] = lead("保留线索医药").id
            pooled = lead("公海线索医药")
            pooled.assignee_id, pooled.in_pool, pooled.pooled_at = None, True, utcnow()
            ids["pool_lead_id"] = pooled.id

            distributor = create_distributor(
                name=f"矩阵经销商{side.county}",
                uscc=None,
                territory_code=side.county,
                contact_name=None,
                actor=admin_user,
            )
            ids["distributor_id"] = distributor.id
            agreement = agreement_of(distributor.id, side.county, f"ZS-W-{side.county}")
            ids.update(
                agreement_id=agreement.id,
                agreement_line_id=agreement.lines[0].id,
                agreement_contact_id=agreement.contacts[0].id,
            )

            case = screening.open_case(
                rep, company_name=f"草稿医药{side.county}", territory_code=side.county, contact_name="王总"
            )
            ids["case_id"] = case.id
            ids["case_line_id"] = screening.add_line(case, rep, product_id=product_id, territory_code=side.county).id
            ids["review_case_id"] = reviewing_case(rep, manager, side).id

            for_import = imports_dir() / f"write-reach-{side.county}.csv"
            for_import.write_text("企业名称,电话,地区\n导入医药,13800138000,杭州上城\n", "utf-8")
            imported = LeadImport(file_name=for_import.name, original_name="名单.csv", created_by_id=rep.id)
            previewed = LeadImport(
                file_name=for_import.name,
                original_name="名单.csv",
                created_by_id=rep.id,
                campaign_id=campaign.id,
                status=ImportStatus.PREVIEWED,
                mapping_json='{"company_name": 0, "phone": 1, "region": 2}',
                report_json='{"new": 1, "duplicates": 0, "errors": 0, "issues": []}',
                total_rows=1,
            )
            db.session.add_all([imported, previewed])
            record = TestRecord(territory_code=side.county, summary="ok")
            record.assignee_id = rep.id
            engine.start(record, admin_user)
            db.session.flush()
            ids.update(import_id=imported.id, previewed_import_id=previewed.id, record_id=record.id)
            queue(rep.id, NotificationKind.ASSIGNED, workflow="leads", record_id=ids["lead_id"], state="new")
            queue(manager.id, NotificationKind.ASSIGNED, workflow="leads", record_id=ids["lead_id"], state="new")
        db.session.flush()
        # Records that mix both sides, as an administrator may make them.
        own.ids["mixed_case_id"] = reviewing_case(
            db.session.get(User, people[OWN][1].id), db.session.get(User, people[OWN][0].id), own, foreign.county
        ).id
        mixed = agreement_of(own.distributor_id, own.county, "ZS-W-MIXED", foreign.county)
        own.ids.update(mixed_agreement_id=mixed.id, mixed_foreign_line_id=mixed.lines[1].id)
        foreign.ids["holiday_id"] = holiday.id
        from tests.orders.helpers import make_suppliable, orders_in_states, sample_lot

        lot_id = sample_lot(product_id, "WRITE-LOT")
        for side in (own, foreign):
            make_suppliable(side.distributor_id, side.county, product_id, admin_user, f"ZS-W-O-{side.county}")
            orders = orders_in_states(side.distributor_id, side.county, product_id, admin_user, lot_id)
            side.ids.update({f"order_{state}": order_id for state, order_id in orders.items()})
            from crm.orders import discounts
            from crm.orders.models import Order

            submitted, held = (db.session.get(Order, orders[state]) for state in ("submitted", "on_hold"))
            side.ids["order_submitted_line"] = submitted.lines[0].id
            side.ids["discount_id"] = discounts.request_discount(  # asked by the admin: a manager decides
                held, admin_user, seen_version=held.version, line_id=held.lines[0].id, unit_price="6", reason="测试"
            ).id
            from tests.returns.helpers import sample_return

            side.ids["order_delivered_shipment"] = db.session.get(Order, orders["delivered"]).shipments[0].id
            side.ids["return_requested"] = sample_return(orders["delivered"], admin_user)  # asked by the admin
        own.ids["script_id"] = script.id
        db.session.commit()
        from crm.notify.models import Notification

        for side, (manager_ref, rep_ref) in ((own, people[OWN]), (foreign, people[FOREIGN])):
            notes = dict(
                db.session.execute(
                    select(Notification.user_id, Notification.id).where(
                        Notification.user_id.in_([manager_ref.id, rep_ref.id])
                    )
                ).all()
            )
            side.ids["notification_ids"] = notes
    world = World(app, own, foreign, product_id, {"manager": people[OWN][0], "rep": people[OWN][1]})
    world.second_product_id = second_product_id
    return world


# -- what "nothing changed" means ------------------------------------------------------------------


def snapshot(app) -> tuple:
    """Every row of every table (the security log aside) and every stored file."""
    with app.app_context():
        rows = {}
        for table in db.metadata.sorted_tables:
            if table.name in LOG_TABLES:
                continue
            rows[table.name] = sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
        db.session.rollback()
        root = Path(app.instance_path)
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "uploads" in p.parts)
    return rows, files


def changes(before, after) -> list[str]:
    rows_before, files_before = before
    rows_after, files_after = after
    changed = [name for name in rows_before if rows_before[name] != rows_after.get(name)]
    if files_before != files_after:
        changed.append("stored files")
    return changed


def _url(app, endpoint, values) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(endpoint, **values)


def _send(app, client, endpoint, url_values, form, files):
    data = {**form, "csrf_token": csrf_token(client)}
    if files:
        data.update(files())
    return client.post(_url(app, endpoint, url_values), data=data, content_type="multipart/form-data")


def _notification_fix(w, endpoint, who, form_side):
    """A notification id is the attacker's own (control) or someone else's (attack)."""
    if endpoint != "notify.mark_read":
        return {}
    side = w.side(form_side)
    user_id = w.users[who].id if form_side == OWN else side.manager_id
    return {"notification_id": str(side.notification_ids[user_id])}


@pytest.mark.parametrize("who", ["manager", "rep"])
@pytest.mark.parametrize("endpoint", sorted(k for k, p in PROBES.items() if p.self_only is None))
def test_an_out_of_reach_write_changes_nothing(app, world, endpoint, who):
    probe = PROBES[endpoint]
    client = app.test_client()
    assert login(client, world.users[who]).status_code == 302
    attacks = list(probe.attacks)
    if who not in probe.users and (OWN, OWN) not in attacks:
        attacks.append((OWN, OWN))  # not their route at all: refused by role
    for url_side, form_side in attacks:
        form = {**probe.form_values(world, url_side, form_side), **_notification_fix(world, endpoint, who, form_side)}
        before = snapshot(app)
        response = _send(app, client, endpoint, probe.url_values(world, url_side), form, probe.files)
        assert response.status_code < 500, f"{endpoint} answered {response.status_code}"
        changed = changes(before, snapshot(app))
        assert not changed, (
            f"{who} posting {endpoint} with the URL on the {url_side} side and the form on the {form_side} "
            f"side changed {changed} (answered {response.status_code})"
        )

    url, form, users = (
        (probe.url_values, probe.form_values, probe.users)
        if endpoint not in CONTROLS
        else (
            lambda w, s: CONTROLS[endpoint][0](w, w.side(s)),
            lambda w, us, fs: CONTROLS[endpoint][1](w, w.side(us), w.side(fs)),
            CONTROLS[endpoint][2],
        )
    )
    if who in users:
        # The same use on their own records goes through: the probe is a real use of the route.
        values = {**form(world, OWN, OWN), **_notification_fix(world, endpoint, who, OWN)}
        before = snapshot(app)
        response = _send(app, client, endpoint, url(world, OWN), values, probe.files)
        assert changes(before, snapshot(app)), (
            f"{who}'s own use of {endpoint} changed nothing (answered {response.status_code}): fix the probe"
        )


def test_a_manager_of_another_province_cannot_lock_a_county_with_an_exclusive_line(app, world):
    """The attack found by hand: 浙江's manager grants 南山 exclusively on a 浙江 distributor's agreement."""
    from crm.distributors.models import AgreementLine

    client = app.test_client()
    login(client, world.users["manager"])
    form = PROBES["distributors.agreement_line_add"].form_values(world, OWN, FOREIGN)
    response = _send(
        app, client, "distributors.agreement_line_add", {"agreement_id": world.own.agreement_id}, form, None
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "广东省 深圳市 南山区 不在您负责的区域内" in page
    with app.app_context():
        lines = db.session.scalars(
            select(AgreementLine.territory_code).where(AgreementLine.agreement_id == world.own.agreement_id)
        ).all()
    assert lines == [world.own.county]


def test_who_may_edit_a_campaign(app, world, make_user):
    from crm.leads.campaigns import may_edit
    from crm.leads.models import Campaign

    national_manager = make_user(Role.MANAGER, territories=["330000", "440000"])
    with app.test_request_context():
        own = db.session.get(Campaign, world.own.campaign_id)
        foreign = db.session.get(Campaign, world.foreign.campaign_id)
        manager = db.session.get(User, world.users["manager"].id)
        both = db.session.get(User, national_manager.id)
        rep = db.session.get(User, world.users["rep"].id)
        admin = db.session.scalar(select(User).where(User.role == Role.ADMIN))
        nationwide = Campaign(name="全国广告", channel=own.channel)
        db.session.add(nationwide)
        db.session.flush()
        assert (may_edit(own, manager), may_edit(foreign, manager), may_edit(nationwide, manager)) == (
            True,
            False,
            False,
        )
        assert (may_edit(own, both), may_edit(foreign, both), may_edit(nationwide, both)) == (True, True, False)
        assert not may_edit(own, rep)
        assert all(may_edit(c, admin) for c in (own, foreign, nationwide))
        db.session.rollback()
