"""Signing a draft agreement: the distributor, the case, the lead and the portal accounts change together."""

from __future__ import annotations

import html
import re

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.auth.models import AuditEvent, User
from crm.distributors.models import Agreement, AgreementLine, Distributor
from crm.extensions import db
from crm.leads.models import Lead
from crm.screening.models import ScreeningCase
from crm.workflow.models import WorkflowHistory
from tests.helpers import csrf_token, login, post


def said(app, msgid: str, **values) -> str:
    with app.test_request_context(), force_locale("zh_CN"):
        return gettext(msgid, **values)


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def snapshot(app, made) -> dict:
    """Everything signing touches, to show that a refused signing changed nothing."""
    with app.app_context():
        agreement = db.session.get(Agreement, made.agreement_id)
        distributor = db.session.get(Distributor, made.distributor_id)
        case = db.session.get(ScreeningCase, made.case_id)
        lead = db.session.get(Lead, made.lead_id) if made.lead_id else None
        return {
            "agreement": (agreement.status.value, agreement.version, agreement.signed_at),
            "distributor": (distributor.state, distributor.version),
            "case": case.state,
            "lead": lead.state if lead else None,
            "users": db.session.scalar(select(func.count()).select_from(User).where(User.role == Role.DISTRIBUTOR)),
            "history": db.session.scalar(select(func.count()).select_from(WorkflowHistory)),
        }


def sign(client, app, made, version=None):
    if version is None:
        with app.app_context():
            version = db.session.get(Agreement, made.agreement_id).version
    return post(client, f"/distributors/agreements/{made.agreement_id}/sign", {"seen_version": version})


def test_signing_activates_wins_contracts_and_opens_portal_accounts(app, client, factory, people, products):
    made = factory.draft([(products["丹参滴丸"], "440305", True)])
    login(client, people[Role.MANAGER])
    detail = page_text(client.get(f"/distributors/{made.distributor_id}"))
    assert f"/distributors/agreements/{made.agreement_id}/sign" in detail
    response = sign(client, app, made)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = page_text(response)
    username = re.search(r'data-username="([^"]+)"', page).group(1)
    password = re.search(r'data-testid="password">([^<]+)<', page).group(1)
    assert username == "13800138000"  # the contact's mobile, national digits
    assert len(password) >= 10

    with app.app_context():
        agreement = db.session.get(Agreement, made.agreement_id)
        assert agreement.status.value == "signed"
        assert agreement.signed_by_id == people[Role.MANAGER].id
        assert agreement.signed_at is not None
        assert db.session.get(Distributor, made.distributor_id).state == "active"
        assert db.session.get(ScreeningCase, made.case_id).state == "contracted"
        lead = db.session.get(Lead, made.lead_id)
        assert lead.state == "won"
        win = db.session.scalars(
            select(WorkflowHistory).where(WorkflowHistory.workflow == "leads", WorkflowHistory.record_id == lead.id)
        ).all()[-1]
        assert win.event == "win"
        assert agreement.number in win.comment
        user = db.session.scalar(select(User).where(User.username == username))
        assert (user.role, user.company_id, user.display_name, user.active) == (
            Role.DISTRIBUTOR,
            made.distributor_id,
            "张经理",
            True,
        )
        assert password not in user.password_hash
        assert agreement.contacts[0].user_id == user.id
        audit = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "user_created")).all()
        assert [(a.user_id, username in a.detail) for a in audit] == [(people[Role.MANAGER].id, True)]

    # the profile shows the signed agreement and the new account, never the password
    detail = page_text(client.get(f"/distributors/{made.distributor_id}"))
    assert username in detail
    assert password not in detail

    # the contact signs in with the password shown once and sees only the own company
    other = factory.draft([(products["阿莫西林胶囊"], "440304", False)], name="福田别家医药有限公司")
    portal = app.test_client()
    assert login(portal, username, password).status_code == 302
    mine = page_text(portal.get("/distributors/mine"))
    assert "深圳测试医药1有限公司" in mine
    assert agreement.number in mine
    assert "福田别家医药有限公司" not in mine
    assert 'data-testid="history"' not in mine  # internal comments stay on the staff side
    assert portal.get(f"/distributors/{other.distributor_id}").status_code == 403
    assert portal.get(f"/distributors/{made.distributor_id}").status_code == 403


def test_every_contact_gets_an_account_and_a_taken_phone_gets_a_generated_username(
    app, client, factory, people, products, make_user
):
    make_user(Role.REP, username="13800138000", territories=["440300"])
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    with app.app_context():
        version = db.session.get(Agreement, made.agreement_id).version
    assert (
        post(
            client,
            f"/distributors/agreements/{made.agreement_id}/contacts",
            {"seen_version": version, "name": "李会计", "phone": "139 0013 9000", "email": "li@example.com"},
        ).status_code
        == 303
    )
    page = page_text(sign(client, app, made))
    usernames = re.findall(r'data-username="([^"]+)"', page)
    assert len(usernames) == 2
    assert usernames[1] == "13900139000"
    assert usernames[0].startswith("dist-")
    with app.app_context():
        assert db.session.scalar(select(User.email).where(User.username == "13900139000")) == "li@example.com"


def test_a_lead_not_applied_keeps_its_state_and_gets_a_note(app, client, factory, people, products):
    made = factory.draft([(products["丹参滴丸"], "440305", False)], lead_state="intent")
    login(client, people[Role.ADMIN])
    assert sign(client, app, made).status_code == 200
    with app.app_context():
        assert db.session.get(Lead, made.lead_id).state == "intent"
        last = db.session.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.workflow == "leads", WorkflowHistory.record_id == made.lead_id)
            .order_by(WorkflowHistory.id.desc())
        ).first()
        assert (last.event, last.from_state, last.to_state) == ("agreement_signed", "intent", "intent")


def test_signing_refused_on_a_clash_changes_nothing(app, client, factory, people, products):
    # Two cases approved before either agreement existed (the race the re-check is for).
    first_case = factory.approved_case([(products["丹参滴丸"], "440305", True)])
    second_case = factory.approved_case([(products["丹参滴丸"], "440000", True)], name="广东全省医药有限公司")
    first = factory.onboard(first_case)
    second = factory.onboard(second_case)
    login(client, people[Role.MANAGER])
    before = snapshot(app, second)
    response = sign(client, app, second)
    assert response.status_code == 303
    message = page_text(client.get(response.headers["Location"]))
    assert "深圳测试医药1有限公司" in message  # the clash is named
    assert "ZS-" in message
    assert snapshot(app, second) == before
    # the first one, too, waits until the other draft is gone
    assert sign(client, app, first).status_code == 303
    assert snapshot(app, first)["agreement"][0] == "draft"


def test_signing_needs_a_line_and_a_contact(app, client, factory, people, products):
    made = factory.draft([(products["丹参滴丸"], "440305", False)], phone=None)
    login(client, people[Role.MANAGER])
    with app.app_context():
        agreement = db.session.get(Agreement, made.agreement_id)
        contact_id = agreement.contacts[0].id
        version = agreement.version
    assert (
        post(
            client,
            f"/distributors/agreements/{made.agreement_id}/contacts/{contact_id}/remove",
            {"seen_version": version},
        ).status_code
        == 303
    )
    before = snapshot(app, made)
    response = sign(client, app, made)
    assert response.status_code == 303
    assert said(app, "Name at least one contact person before signing: they get the portal accounts.") in page_text(
        client.get(response.headers["Location"])
    )
    assert snapshot(app, made) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AgreementLine)) == 1


@pytest.mark.parametrize("seen", ["", "0", "abc"])
def test_stale_signing_answers_409(app, client, factory, people, products, seen):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    before = snapshot(app, made)
    response = post(client, f"/distributors/agreements/{made.agreement_id}/sign", {"seen_version": seen})
    assert response.status_code == 409
    assert snapshot(app, made) == before


def test_only_managers_in_reach_and_admins_sign(app, client, factory, people, products, make_user):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    for role in (Role.REP, Role.SERVICE):
        login(client, people[role])
        assert sign(client, app, made).status_code == 403
        client.post("/auth/logout", data={"csrf_token": csrf_token(client)})
    login(client, make_user(Role.MANAGER, territories=["110000"]))
    assert sign(client, app, made).status_code == 404
    assert snapshot(app, made)["agreement"][0] == "draft"


def test_a_signed_agreement_is_no_longer_editable(app, client, factory, people, products):
    made = factory.signed([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    with app.app_context():
        version = db.session.get(Agreement, made.agreement_id).version
    response = post(
        client,
        f"/distributors/agreements/{made.agreement_id}/lines",
        {"seen_version": version, "product_id": products["阿莫西林胶囊"], "territory_code": "440304"},
    )
    assert response.status_code == 303
    assert "ZS-" in page_text(client.get(response.headers["Location"]))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AgreementLine)) == 1
    assert sign(client, app, made).status_code == 303


def test_terminating_ends_agreements_and_locks_the_portal_out(app, client, factory, people, products):
    made = factory.draft([(products["丹参滴丸"], "440305", True)])
    login(client, people[Role.MANAGER])
    page = page_text(sign(client, app, made))
    username = re.search(r'data-username="([^"]+)"', page).group(1)
    password = re.search(r'data-testid="password">([^<]+)<', page).group(1)
    portal = app.test_client()
    assert login(portal, username, password).status_code == 302
    with app.app_context():
        version = db.session.get(Distributor, made.distributor_id).version
    refused = post(client, f"/distributors/{made.distributor_id}/terminate", {"seen_version": version, "comment": ""})
    assert refused.status_code == 303
    with app.app_context():
        assert db.session.get(Distributor, made.distributor_id).state == "active"
    response = post(
        client, f"/distributors/{made.distributor_id}/terminate", {"seen_version": version, "comment": "多次窜货"}
    )
    assert response.status_code == 303
    with app.app_context():
        distributor = db.session.get(Distributor, made.distributor_id)
        assert distributor.state == "terminated"
        assert [a.status.value for a in distributor.agreements] == ["ended"]
        assert distributor.agreements[0].ended_at is not None
        assert db.session.scalar(select(User.active).where(User.username == username)) is False
    assert portal.get("/distributors/mine").status_code == 302  # signed out
    assert login(app.test_client(), username, password).status_code == 200  # refused
    stale = post(client, f"/distributors/{made.distributor_id}/terminate", {"seen_version": version, "comment": "x"})
    assert stale.status_code == 409
