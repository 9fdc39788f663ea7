"""Sending leads back to the pool (one, by its owner or a manager) and bulk actions of the lead list."""

from __future__ import annotations

import re

from sqlalchemy import select

from crm.access.roles import Role
from crm.extensions import db
from crm.leads.models import Lead
from crm.notify.models import Notification, NotificationKind
from crm.workflow.models import WorkflowHistory
from tests.leads.test_lead_pages import gen_lead, get_lead, people, send, signed_in, text

__all__ = ["people"]


def events(app, lead_id):
    with app.app_context():
        return [
            (h.event, h.comment)
            for h in db.session.scalars(
                select(WorkflowHistory).where(WorkflowHistory.record_id == lead_id).order_by(WorkflowHistory.id)
            )
        ]


def test_the_owner_releases_a_lead_to_the_pool_with_a_reason_and_a_colleague_claims_it(app, people, make_user):
    lead_id = gen_lead(app, people["rep"].id)
    colleague = make_user(Role.REP, territories=["440300"])
    client = signed_in(app, people["rep"])
    page = text(client.get(f"/leads/{lead_id}"))
    assert f"/leads/{lead_id}/release" in page
    version = get_lead(app, lead_id).version
    assert send(client, f"/leads/{lead_id}/release", {"seen_version": str(version), "reason": ""}).status_code == 200
    assert get_lead(app, lead_id).in_pool is False
    response = send(client, f"/leads/{lead_id}/release", {"seen_version": str(version), "reason": "客户要求换人对接"})
    assert response.status_code == 303
    lead = get_lead(app, lead_id)
    assert (lead.in_pool, lead.assignee_id) == (True, None)
    assert ("released_to_pool", "客户要求换人对接") in events(app, lead_id)
    other = signed_in(app, colleague)
    assert send(other, f"/leads/{lead_id}/claim").status_code == 303
    assert get_lead(app, lead_id).assignee_id == colleague.id


def test_a_rep_cannot_release_a_colleagues_lead_and_a_stale_page_is_409(app, people, make_user):
    colleague = make_user(Role.REP, territories=["440300"])
    lead_id = gen_lead(app, colleague.id)
    client = signed_in(app, people["rep"])
    version = get_lead(app, lead_id).version
    send(client, f"/leads/{lead_id}/release", {"seen_version": str(version), "reason": "不想跟了"})
    assert get_lead(app, lead_id).assignee_id == colleague.id
    manager = signed_in(app, people["manager"])
    stale = send(manager, f"/leads/{lead_id}/release", {"seen_version": str(version - 1), "reason": "重新分配"})
    assert stale.status_code == 409
    response = send(manager, f"/leads/{lead_id}/release", {"seen_version": str(version), "reason": "重新分配"})
    assert response.status_code == 303
    assert get_lead(app, lead_id).in_pool is True
    with app.app_context():
        told = db.session.scalars(select(Notification).where(Notification.user_id == colleague.id)).all()
        assert [n.kind for n in told] == [NotificationKind.UNASSIGNED]


def test_a_manager_bulk_reassigns_and_gets_a_report_of_what_was_refused(app, people):
    mine = [gen_lead(app, people["rep"].id) for _ in range(3)]
    lost = gen_lead(app, people["rep"].id, events=["lose"])
    beijing = gen_lead(app, people["beijing_rep"].id, territory="110101")
    client = signed_in(app, people["manager"])
    page = text(client.get("/leads/"))
    assert 'data-testid="bulk-bar"' in page
    assert 'name="lead_ids"' in page
    response = send(
        client,
        "/leads/bulk",
        {
            "action": "reassign",
            "owner_id": str(people["manager"].id),
            "reason": "交接",
            "lead_ids": [*mine, lost, beijing],
        },
    )
    assert response.status_code == 200
    report = text(response)
    for lead_id in mine:
        assert get_lead(app, lead_id).assignee_id == people["manager"].id
        assert ("reassign", "交接") in events(app, lead_id)
    assert re.search(rf'data-row="{beijing}" data-ok="no"', report)
    assert get_lead(app, beijing).assignee_id == people["beijing_rep"].id
    assert "北京" not in report  # an out-of-reach lead is not named
    assert 'data-ok="yes"' in report


def test_a_manager_bulk_releases_and_a_rep_may_not_bulk(app, people):
    ids = [gen_lead(app, people["rep"].id) for _ in range(2)]
    rep = signed_in(app, people["rep"])
    assert 'data-testid="bulk-bar"' not in text(rep.get("/leads/"))
    assert send(rep, "/leads/bulk", {"action": "release", "reason": "x", "lead_ids": ids}).status_code == 403
    manager = signed_in(app, people["manager"])
    response = send(manager, "/leads/bulk", {"action": "release", "reason": "季度清理", "lead_ids": ids})
    assert response.status_code == 200
    for lead_id in ids:
        assert get_lead(app, lead_id).in_pool is True
        assert ("released_to_pool", "季度清理") in events(app, lead_id)


def test_the_demo_has_pool_leads_the_rep_can_claim(app):
    from crm.auth.models import User
    from crm.demo import load_demo
    from crm.leads import pool

    with app.app_context():
        load_demo()
        db.session.commit()
        rep = db.session.scalars(select(User).where(User.username == "rep")).one()
        waiting = db.session.scalars(pool.pool_query(rep)).all()
        assert len(waiting) >= 2
        lead = pool.claim_lead(rep, waiting[0].id)
        assert lead.assignee_id == rep.id
        assert db.session.get(Lead, lead.id).in_pool is False
