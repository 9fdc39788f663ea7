"""The demo shows the road from applicant to distributor: a case under review, a draft, a signed agreement."""

from __future__ import annotations

from sqlalchemy import select

from crm.auth.models import User
from crm.distributors.models import Agreement, Distributor
from crm.extensions import db
from crm.screening.models import ScreeningCase
from tests.helpers import login


def test_demo_has_a_case_in_review_a_draft_and_a_signed_distributor_with_its_portal_user(app, client):
    from crm.demo import DEMO_PASSWORD, load_demo

    with app.test_request_context():
        load_demo()
        db.session.commit()
        cases = dict(db.session.execute(select(ScreeningCase.company_name, ScreeningCase._state)).all())
        assert cases == {
            "广州天河百川医药有限公司": "reviewing",
            "杭州临平康华医药有限公司": "approved",
            "杭州钱塘海达医药有限公司": "contracted",
        }
        agreements = {
            a.distributor.name: (a.status.value, [(li.territory_code, li.exclusive) for li in a.lines])
            for a in db.session.scalars(select(Agreement))
        }
        assert agreements == {
            "杭州临平康华医药有限公司": ("draft", [("330113", True), ("330100", False)]),
            "杭州钱塘海达医药有限公司": ("signed", [("330114", True), ("330114", False)]),  # + orders demo
        }
        signed = db.session.scalar(select(Distributor).where(Distributor.name == "杭州钱塘海达医药有限公司"))
        assert signed.state == "active"
        portal = db.session.scalar(select(User).where(User.company_id == signed.id))
        username = portal.username
    assert username == "13800138032"
    login(client, username, DEMO_PASSWORD)
    page = client.get("/distributors/mine").get_data(as_text=True)
    assert "杭州钱塘海达医药有限公司" in page
