"""The rep's home page: today's follow-ups, overdue leads and pool leads nearby, in constant queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from crm.access.roles import Role
from crm.sla.services import local_today
from tests.helpers import counted_queries
from tests.leads.test_list import gen_campaign, gen_lead, signed_in


def section_ids(html: str, testid: str) -> set[int]:
    match = re.search(rf'data-testid="{testid}">(.*?)</ul>', html, re.S)
    assert match, f"no section {testid}"
    return {int(m) for m in re.findall(r'data-lead="(\d+)"', match.group(1))}


@pytest.fixture
def home(app, make_user):
    admin = make_user(Role.ADMIN)
    manager = make_user(Role.MANAGER, territories=["440000"])
    rep = make_user(Role.REP, territories=["440300"])
    colleague = make_user(Role.REP, territories=["440300"])
    campaign = gen_campaign(app)
    today = local_today()

    def lead(**kwargs):
        return gen_lead(app, admin.id, campaign, **kwargs)

    return {
        "rep": rep,
        "manager": manager,
        "admin": admin,
        "due_today": lead(owner_id=rep.id, next_touch_on=today),
        "due_before": lead(owner_id=rep.id, next_touch_on=today - timedelta(days=3)),
        "due_later": lead(owner_id=rep.id, next_touch_on=today + timedelta(days=1)),
        "colleagues": lead(owner_id=colleague.id, next_touch_on=today),
        "lost": lead(owner_id=rep.id, next_touch_on=today, events=["lose"], event_actor_id=manager.id),
        "warning": lead(owner_id=rep.id, sla_status="warning"),
        "breached": lead(owner_id=rep.id, sla_status="breached"),
        "colleague_breached": lead(owner_id=colleague.id, sla_status="breached"),
        "pool_near": lead(territory="440306", in_pool=True),
        "pool_far": lead(territory="440104", in_pool=True),
        "managers_own": lead(owner_id=manager.id, territory="440104", next_touch_on=today),
    }


def test_a_rep_sees_follow_ups_overdue_and_pool_leads_nearby(app, home):
    html = signed_in(app, home["rep"]).get("/").get_data(as_text=True)
    assert section_ids(html, "home-follow-ups") == {home["due_today"], home["due_before"]}
    assert section_ids(html, "home-overdue") == {home["warning"], home["breached"]}
    assert section_ids(html, "home-pool") == {home["pool_near"]}


def test_a_manager_sees_their_own_leads_and_the_pool_of_their_regions(app, home):
    html = signed_in(app, home["manager"]).get("/").get_data(as_text=True)
    assert section_ids(html, "home-follow-ups") == {home["managers_own"]}
    assert section_ids(html, "home-overdue") == set()
    assert section_ids(html, "home-pool") == {home["pool_near"], home["pool_far"]}


def test_the_pool_link_appears_only_when_the_pool_page_exists(app, home):
    html = signed_in(app, home["rep"]).get("/").get_data(as_text=True)
    assert ('data-testid="home-pool-link"' in html) == ("leads.pool" in app.view_functions)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SERVICE, Role.DISTRIBUTOR])
def test_roles_without_leads_of_their_own_see_no_lead_sections(app, make_user, role):
    html = signed_in(app, make_user(role)).get("/").get_data(as_text=True)
    assert 'data-testid="lead-home"' not in html


def test_the_home_page_costs_the_same_queries_with_more_leads(app, home):
    client = signed_in(app, home["rep"])
    client.get("/")
    with counted_queries(app) as few:
        assert client.get("/").status_code == 200
    campaign = gen_campaign(app)
    today = local_today()
    for _ in range(15):
        gen_lead(app, home["admin"].id, campaign, owner_id=home["rep"].id, next_touch_on=today, sla_status="breached")
        gen_lead(app, home["admin"].id, campaign, territory="440305", in_pool=True)
    with counted_queries(app) as many:
        assert client.get("/").status_code == 200
    assert len(few) == len(many)
