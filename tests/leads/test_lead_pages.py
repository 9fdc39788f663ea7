"""One lead's pages: creation (owner rules, duplicates, bad input), the lead page, lost, reassign."""

from __future__ import annotations

import itertools
import re
from datetime import datetime

import pytest
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.leads.models import Campaign, Channel, Lead, LeadContact, LostReason
from crm.leads.services import ContactInput, create_lead
from crm.notify.models import Notification
from crm.workflow import engine
from crm.workflow.models import WorkflowHistory
from tests.helpers import csrf_token, login, valid_uscc

_names = itertools.count(1)


# -- factories shared by the lead page tests ----------------------------------------


def gen_campaign(app, *, name: str | None = None) -> int:
    with app.app_context():
        campaign = Campaign(name=name or f"测试推介会{next(_names)}", channel=Channel.CONFERENCE)
        db.session.add(campaign)
        db.session.commit()
        return campaign.id


def gen_lead(
    app,
    actor_id: int,
    *,
    name: str | None = None,
    territory: str = "440305",
    phones=(),
    contact: str = "张经理",
    events=(),
    event_actor_id: int | None = None,
    product_ids=(),
    now: datetime | None = None,
) -> int:
    """A lead made by ``create_lead`` and moved by the engine through ``events``, as users would."""
    campaign_id = gen_campaign(app)
    with app.app_context():
        actor = db.session.get(User, actor_id)
        lead = create_lead(
            actor,
            company_name=name or f"页面测试医药{next(_names)}有限公司",
            territory_code=territory,
            campaign_id=campaign_id,
            contacts=[ContactInput(contact, phones=list(phones))] if phones else [],
            product_ids=list(product_ids),
            allow_duplicate=True,
        )
        mover = db.session.get(User, event_actor_id or actor_id)
        for event in events:
            engine.apply_event(lead, event, mover, seen_version=lead.version, comment="测试", now=now)
        db.session.commit()
        return lead.id


@pytest.fixture
def people(make_user):
    return {
        "admin": make_user(Role.ADMIN),
        "manager": make_user(Role.MANAGER, territories=["440000"]),
        "rep": make_user(Role.REP, territories=["440300"]),
        "guangzhou_rep": make_user(Role.REP, territories=["440100"]),
        "beijing_rep": make_user(Role.REP, territories=["110000"]),
        "service": make_user(Role.SERVICE),
        "distributor": make_user(Role.DISTRIBUTOR),
    }


def signed_in(app, user):
    client = app.test_client()
    assert login(client, user).status_code == 302
    return client


def send(client, path, data=None, **kwargs):
    """POST with the session's CSRF token (multipart when a file is in ``data``)."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client)}, **kwargs)


def get_lead(app, lead_id) -> Lead:
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        db.session.expunge(lead)
        return lead


def text(response) -> str:
    return response.get_data(as_text=True)


# -- creation ---------------------------------------------------------------------


def lead_form(campaign_id, **overrides):
    data = {
        "company_name": "深圳南山康泰医药有限公司",
        "territory_code": "440305",
        "campaign_id": str(campaign_id),
        "address": "南山区科技园1号",
        "distributor_kind": "explicit",
        "product_lines": "抗生素、心脑血管",
        "terminal_coverage": "二级医院 12 家，连锁药店 40 家",
        "estimated_capital": "500",
        "logistics": "自有冷链车 3 辆",
        "contacts-0-name": "王总",
        "contacts-0-title": "总经理",
        "contacts-0-phone1": "138 0013 8000",
        "contacts-0-phone2": "0755-8888 1234",
        "contacts-1-name": "",
        "contacts-2-name": "",
        "next_touch_on": "2026-12-03",
    }
    data.update(overrides)
    return data


def lead_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Lead.id)))


def test_a_rep_who_enters_a_lead_owns_it(app, people):
    campaign = gen_campaign(app)
    client = signed_in(app, people["rep"])
    assert client.get("/leads/new").status_code == 200

    response = send(client, "/leads/new", lead_form(campaign))
    assert response.status_code == 303, text(response)
    lead_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        assert lead.assignee_id == people["rep"].id
        assert lead.state == "new"
        assert lead.sla_due_at is not None
        assert lead.estimated_capital == 500
        assert lead.distributor_kind.value == "explicit"
        phones = [p.e164 for c in lead.contacts for p in c.phones]
        assert phones == ["+8613800138000", "+8675588881234"]

    page = text(client.get(f"/leads/{lead_id}"))
    assert "深圳南山康泰医药有限公司" in page
    assert 'href="tel:+8613800138000"' in page
    assert "138 0013 8000" in page  # national format
    assert "0755 8888 1234" in page
    assert 'data-sla="ok"' in page


def test_a_manager_who_enters_a_lead_gives_it_to_the_rep_of_the_county(app, people, make_user):
    nanshan_rep = make_user(Role.REP, territories=["440305"])
    campaign = gen_campaign(app)
    client = signed_in(app, people["manager"])
    response = send(client, "/leads/new", lead_form(campaign))
    assert response.status_code == 303, text(response)
    lead_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    assert get_lead(app, lead_id).assignee_id == nanshan_rep.id


def test_a_look_alike_is_shown_with_its_reasons_then_created_anyway(app, people):
    existing = gen_lead(app, people["rep"].id, name="深圳南山康泰医药有限公司", phones=["13800138000"])
    campaign = gen_campaign(app)
    client = signed_in(app, people["rep"])

    response = send(client, "/leads/new", lead_form(campaign, **{"company_name": "深圳南山 康泰医药（有限公司）"}))
    assert response.status_code == 200
    page = text(response)
    assert f'data-duplicate="{existing}"' in page
    assert f'href="/leads/{existing}"' in page
    assert "same phone number" in page or "电话" in page
    assert 'name="allow_duplicate"' in page
    assert lead_count(app) == 1

    response = send(client, "/leads/new", lead_form(campaign, allow_duplicate="y"))
    assert response.status_code == 303
    assert lead_count(app) == 2


def duplicate_alerts(app) -> list[tuple[int, int]]:
    """(reader, lead) of every "look-alike entered elsewhere" notification."""
    with app.app_context():
        rows = db.session.execute(
            select(Notification.user_id, Notification.record_id).where(Notification.kind == "lead_duplicate_elsewhere")
        )
        return sorted(tuple(r) for r in rows)


def test_a_look_alike_outside_the_territories_says_nothing_about_it_and_its_managers_are_told(app, people, make_user):
    beijing = [make_user(Role.MANAGER, territories=["110000"]) for _ in range(2)]
    existing = gen_lead(
        app,
        people["admin"].id,
        name="北京同仁医药有限公司",
        territory="110101",
        phones=["13800138000"],
        events=["contact", "show_intent", "apply"],
        event_actor_id=people["beijing_rep"].id,
    )
    campaign = gen_campaign(app)
    client = signed_in(app, people["rep"])
    probe = lead_form(campaign, company_name="北京同仁医药有限公司")  # same name and phone as the 北京 lead
    response = send(client, "/leads/new", probe)
    assert response.status_code == 200
    page = text(response)
    assert 'data-testid="duplicate-elsewhere"' in page
    assert "data-duplicate=" not in page
    assert f"#{existing}" not in page
    assert f"/leads/{existing}" not in page
    for detail in ("Applied", "已申请", "same phone number", "电话相同", "same company name", "公司名称相同"):
        assert detail not in page, detail
    assert 'name="allow_duplicate"' in page
    assert lead_count(app) == 1
    assert duplicate_alerts(app) == sorted((m.id, existing) for m in beijing)

    # The same rep trying again tells nobody twice; another rep's probe is a new pair.
    send(client, "/leads/new", probe)
    assert duplicate_alerts(app) == sorted((m.id, existing) for m in beijing)
    send(signed_in(app, people["guangzhou_rep"]), "/leads/new", {**probe, "territory_code": "440104"})
    assert duplicate_alerts(app) == sorted([(m.id, existing) for m in beijing] * 2)

    # The 北京 manager reads who entered it and what matched, in their own inbox.
    inbox = text(signed_in(app, beijing[0]).get("/notifications"))
    with app.app_context():
        rep_name = db.session.get(User, people["rep"].id).display_name
    assert rep_name in inbox
    assert "电话相同" in inbox
    assert "公司名称相同" in inbox


def test_a_look_alike_nobody_manages_is_told_to_the_administrators(app, people):
    existing = gen_lead(app, people["admin"].id, name="上海无人医药有限公司", territory="310101")
    campaign = gen_campaign(app)
    send(signed_in(app, people["rep"]), "/leads/new", lead_form(campaign, company_name="上海无人医药有限公司"))
    assert duplicate_alerts(app) == [(people["admin"].id, existing)]


@pytest.mark.parametrize(
    ("field", "value"),
    [("contacts-0-phone1", "12345"), ("contacts-1-phone2", "0755-12"), ("uscc", "91440300MA5EXAMPLE")],
)
def test_a_bad_phone_or_credit_code_is_named_and_nothing_is_saved(app, people, field, value):
    campaign = gen_campaign(app)
    client = signed_in(app, people["rep"])
    data = lead_form(campaign, **{field: value})
    if field.startswith("contacts-1"):
        data["contacts-1-name"] = "李会计"
    response = send(client, "/leads/new", data)
    assert response.status_code == 200
    assert re.search(r'alert-danger" role="alert">[^<]*' + re.escape(value), text(response)), (
        "the message names the value"
    )
    assert lead_count(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(LeadContact.id))) == 0


def test_a_valid_credit_code_is_kept(app, people):
    campaign = gen_campaign(app)
    client = signed_in(app, people["rep"])
    code = valid_uscc()
    response = send(client, "/leads/new", lead_form(campaign, uscc=code.lower()))
    assert response.status_code == 303
    assert get_lead(app, int(response.headers["Location"].rsplit("/", 1)[-1])).uscc == code


def test_a_lead_outside_the_reps_territories_cannot_be_entered(app, people):
    campaign = gen_campaign(app)
    client = signed_in(app, people["rep"])
    response = send(client, "/leads/new", lead_form(campaign, territory_code="110101"))
    assert response.status_code == 200
    assert lead_count(app) == 0


# -- the lead page ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("rep", 200),
        ("manager", 200),
        ("admin", 200),
        ("service", 200),
        ("guangzhou_rep", 404),
        ("beijing_rep", 404),
        ("distributor", 403),
    ],
)
def test_who_sees_the_lead_page(app, people, who, status):
    lead_id = gen_lead(app, people["rep"].id)
    assert signed_in(app, people[who]).get(f"/leads/{lead_id}").status_code == status


def test_the_page_shows_the_buttons_of_the_events_open_to_the_user(app, people):
    lead_id = gen_lead(app, people["rep"].id, events=["contact"])
    page = text(signed_in(app, people["rep"]).get(f"/leads/{lead_id}"))
    assert 'data-event="follow"' in page
    assert 'data-event="show_intent"' in page
    assert 'data-event="lose"' not in page
    assert 'data-event="log_touch"' not in page
    assert f'href="/leads/{lead_id}/touches/new"' in page
    assert f'href="/leads/{lead_id}/owner"' not in page  # reps do not reassign


def test_the_generic_route_refuses_hidden_events(app, people):
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["manager"])
    version = get_lead(app, lead_id).version
    response = send(client, f"/workflows/leads/{lead_id}/events/lose", {"seen_version": version, "comment": "x"})
    assert response.status_code == 404


# -- lost -------------------------------------------------------------------------


def test_lost_needs_a_reason_and_a_comment(app, people):
    lead_id = gen_lead(app, people["rep"].id, events=["contact"])
    client = signed_in(app, people["rep"])
    assert client.get(f"/leads/{lead_id}/lost").status_code == 200
    version = get_lead(app, lead_id).version

    response = send(client, f"/leads/{lead_id}/lost", {"seen_version": version, "comment": "老板不感兴趣"})
    assert response.status_code == 200
    assert get_lead(app, lead_id).state == "contacted"
    response = send(client, f"/leads/{lead_id}/lost", {"seen_version": version, "reason": "price"})
    assert response.status_code == 200
    assert get_lead(app, lead_id).state == "contacted"
    response = send(client, f"/leads/{lead_id}/lost", {"seen_version": version, "reason": "nonsense", "comment": "x"})
    assert response.status_code == 200
    assert get_lead(app, lead_id).state == "contacted"

    response = send(
        client, f"/leads/{lead_id}/lost", {"seen_version": version, "reason": "price", "comment": "嫌毛利低"}
    )
    assert response.status_code == 303
    lead = get_lead(app, lead_id)
    assert lead.state == "lost"
    assert lead.lost_reason == LostReason.PRICE
    with app.app_context():
        last = db.session.scalars(
            select(WorkflowHistory).where(WorkflowHistory.record_id == lead_id).order_by(WorkflowHistory.id.desc())
        ).first()
        assert (last.event, last.comment) == ("lose", "嫌毛利低")
        assert '"price"' in last.data


def test_a_stale_lost_form_answers_409(app, people):
    lead_id = gen_lead(app, people["rep"].id, events=["contact"])
    client = signed_in(app, people["rep"])
    version = get_lead(app, lead_id).version
    response = send(client, f"/leads/{lead_id}/lost", {"seen_version": version - 1, "reason": "price", "comment": "x"})
    assert response.status_code == 409
    assert get_lead(app, lead_id).state == "contacted"


def test_a_manager_can_reopen_a_lost_lead_with_the_generic_button(app, people):
    lead_id = gen_lead(app, people["rep"].id, events=["contact"])
    client = signed_in(app, people["rep"])
    version = get_lead(app, lead_id).version
    send(client, f"/leads/{lead_id}/lost", {"seen_version": version, "reason": "capital", "comment": "资金不足"})
    assert 'data-event="reopen"' not in text(client.get(f"/leads/{lead_id}"))
    manager = signed_in(app, people["manager"])
    assert 'data-event="reopen"' in text(manager.get(f"/leads/{lead_id}"))
    version = get_lead(app, lead_id).version
    response = send(
        manager, f"/workflows/leads/{lead_id}/events/reopen", {"seen_version": version, "comment": "又有兴趣"}
    )
    assert response.status_code == 303
    assert get_lead(app, lead_id).state == "following"


# -- reassign ---------------------------------------------------------------------


def test_reassign_only_to_someone_whose_territories_cover_the_lead(app, people, make_user):
    lead_id = gen_lead(app, people["rep"].id)
    other_shenzhen_rep = make_user(Role.REP, territories=["440300"])
    client = signed_in(app, people["manager"])
    page = text(client.get(f"/leads/{lead_id}/owner"))
    assert f'value="{other_shenzhen_rep.id}"' in page
    assert f'value="{people["guangzhou_rep"].id}"' not in page
    version = get_lead(app, lead_id).version

    for owner in (people["guangzhou_rep"].id, people["beijing_rep"].id, people["service"].id, 999999, "abc"):
        response = send(client, f"/leads/{lead_id}/owner", {"seen_version": version, "owner_id": owner})
        assert response.status_code == 200, owner
        assert get_lead(app, lead_id).assignee_id == people["rep"].id
    response = send(client, f"/leads/{lead_id}/owner", {"seen_version": version, "owner_id": people["rep"].id})
    assert response.status_code == 200  # already the owner

    response = send(
        client,
        f"/leads/{lead_id}/owner",
        {"seen_version": version, "owner_id": other_shenzhen_rep.id, "comment": "他熟"},
    )
    assert response.status_code == 303
    assert get_lead(app, lead_id).assignee_id == other_shenzhen_rep.id
    with app.app_context():
        note = db.session.scalars(
            select(WorkflowHistory).where(WorkflowHistory.event == "reassign", WorkflowHistory.record_id == lead_id)
        ).one()
        assert f'"from": {people["rep"].id}' in note.data
        assert f'"to": {other_shenzhen_rep.id}' in note.data
        notes = db.session.scalars(select(Notification).where(Notification.user_id == other_shenzhen_rep.id)).all()
        assert [(n.kind, n.record_id, n.message) for n in notes] == [("assigned", lead_id, "他熟")]
    page = text(client.get(f"/leads/{lead_id}"))
    assert 'data-event="reassign"' in page
    assert f"测试{other_shenzhen_rep.username}" in page


def notification_texts(app, user_id: int) -> list[tuple[str, str]]:
    """(kind, sentence) of every notification ``user_id`` got, as the inbox, mail and robots word it."""
    from crm.notify.rendering import text_for

    with app.app_context():
        user = db.session.get(User, user_id)
        notes = db.session.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
        ).all()
        return [(note.kind, text_for(user, note)) for note in notes]


def test_the_rep_who_loses_a_lead_is_told_who_has_it_and_every_sentence_names_the_company(app, people, make_user):
    lead_id = gen_lead(app, people["rep"].id, name="深圳康泰医药有限公司")
    other = make_user(Role.REP, territories=["440300"])
    manager = signed_in(app, people["manager"])
    version = get_lead(app, lead_id).version
    response = send(manager, f"/leads/{lead_id}/owner", {"seen_version": version, "owner_id": other.id})
    assert response.status_code == 303

    assert notification_texts(app, people["rep"].id) == [
        (
            "unassigned",
            f"招商线索「深圳康泰医药有限公司」#{lead_id}（新建） 已改由 测试{other.username} 负责，不再由您跟进",
        )
    ]
    assert notification_texts(app, other.id) == [
        ("assigned", f"招商线索「深圳康泰医药有限公司」#{lead_id}（新建） 已分配给您")
    ]


def test_a_lost_lead_is_worded_as_lost_not_as_moving_on(app, people):
    lead_id = gen_lead(app, people["rep"].id, name="广州百草堂药业有限公司")
    manager = signed_in(app, people["manager"])
    version = get_lead(app, lead_id).version
    response = send(
        manager, f"/leads/{lead_id}/lost", {"seen_version": version, "reason": "price", "comment": "已与竞品签约"}
    )
    assert response.status_code == 303
    ((kind, sentence),) = notification_texts(app, people["rep"].id)
    assert kind == "transition"
    assert sentence == f"招商线索「广州百草堂药业有限公司」#{lead_id} 已被标记为流失 — 已与竞品签约"
    assert "下一环节" not in sentence


def test_reps_cannot_reassign_and_stale_pages_answer_409(app, people, make_user):
    lead_id = gen_lead(app, people["rep"].id)
    other = make_user(Role.REP, territories=["440300"])
    version = get_lead(app, lead_id).version
    rep = signed_in(app, people["rep"])
    assert send(rep, f"/leads/{lead_id}/owner", {"seen_version": version, "owner_id": other.id}).status_code == 403
    manager = signed_in(app, people["manager"])
    response = send(manager, f"/leads/{lead_id}/owner", {"seen_version": version + 1, "owner_id": other.id})
    assert response.status_code == 409
    assert get_lead(app, lead_id).assignee_id == people["rep"].id


def test_reassigning_a_pool_lead_takes_it_out_of_the_pool(app, people):
    campaign = gen_campaign(app)
    with app.app_context():
        admin = db.session.get(User, people["admin"].id)
        lead = create_lead(admin, company_name="无人区医药", territory_code="420102", campaign_id=campaign)
        db.session.commit()
        lead_id = lead.id
        assert lead.in_pool
        assert lead.assignee_id is None
    page = text(signed_in(app, people["admin"]).get(f"/leads/{lead_id}"))
    assert 'data-testid="in-pool"' in page
    page = text(signed_in(app, people["admin"]).get(f"/leads/{lead_id}/owner"))
    assert "请先把该区域分配给代表或经理" in page  # nobody covers 武汉 yet
