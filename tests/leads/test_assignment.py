"""Who owns a new lead: the county's rep (round-robin), else the city's, else the region's manager, else the pool."""

from __future__ import annotations

import itertools

import pytest

from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.leads.models import Campaign, Channel, Lead
from crm.leads.services import create_lead, pick_owner

_names = itertools.count(1)


@pytest.fixture
def new_lead(app, make_user):
    """``new_lead("440305", by=user)`` → (owner id, in_pool) of a lead created by ``by`` (an admin by default)."""
    admin = make_user(Role.ADMIN)
    with app.app_context():
        campaign = Campaign(name="网络推广", channel=Channel.WEB)
        db.session.add(campaign)
        db.session.commit()
        campaign_id = campaign.id

    def create(territory_code: str, by=None) -> tuple[int | None, bool]:
        with app.app_context():
            actor = db.session.get(User, (by or admin).id)
            lead = create_lead(
                actor,
                company_name=f"测试医药{next(_names)}有限公司",
                territory_code=territory_code,
                campaign_id=campaign_id,
                allow_duplicate=True,
            )
            db.session.commit()
            return lead.assignee_id, lead.in_pool

    return create


def test_a_lead_goes_to_the_rep_of_its_county(new_lead, make_user):
    county_rep = make_user(Role.REP, territories=["440305"])  # 南山区
    make_user(Role.REP, territories=["440304"])  # 福田区: not this lead's county
    make_user(Role.MANAGER, territories=["440000"])
    assert new_lead("440305") == (county_rep.id, False)


def test_two_reps_of_one_county_take_turns(new_lead, make_user):
    first = make_user(Role.REP, territories=["440305"])
    second = make_user(Role.REP, territories=["440305"])
    owners = [new_lead("440305")[0] for _ in range(4)]
    assert owners == [first.id, second.id, first.id, second.id]


def test_the_county_rep_comes_before_the_city_rep(new_lead, make_user):
    make_user(Role.REP, territories=["440300"])  # 深圳市
    county_rep = make_user(Role.REP, territories=["440305"])
    assert new_lead("440305")[0] == county_rep.id


def test_a_county_without_a_rep_goes_to_the_city_rep(new_lead, make_user):
    city_rep = make_user(Role.REP, territories=["440300"])
    make_user(Role.MANAGER, territories=["440000"])
    assert new_lead("440305") == (city_rep.id, False)


def test_without_a_rep_the_region_manager_owns_it(new_lead, make_user):
    manager = make_user(Role.MANAGER, territories=["440000"])  # 广东省
    make_user(Role.REP, territories=["110101"])  # a rep elsewhere does not count
    assert new_lead("440305") == (manager.id, False)


def test_with_nobody_to_take_it_the_lead_waits_in_the_pool(app, new_lead, make_user):
    make_user(Role.REP, territories=["110101"])
    make_user(Role.MANAGER, territories=["110000"])
    owner, in_pool = new_lead("440305")
    assert (owner, in_pool) == (None, True)
    with app.app_context():
        lead = db.session.scalars(db.select(Lead)).one()
        assert lead.pooled_at is not None


def test_a_rep_who_enters_a_lead_owns_it(new_lead, make_user):
    make_user(Role.REP, territories=["440305"])  # the county's rep would otherwise get it
    city_rep = make_user(Role.REP, territories=["440300"])
    assert new_lead("440305", by=city_rep) == (city_rep.id, False)


def test_a_manager_who_enters_a_lead_hands_it_to_the_county_rep(new_lead, make_user):
    manager = make_user(Role.MANAGER, territories=["440000"])
    county_rep = make_user(Role.REP, territories=["440305"])
    assert new_lead("440305", by=manager) == (county_rep.id, False)


def test_inactive_users_are_skipped(new_lead, make_user):
    make_user(Role.REP, territories=["440305"], active=False)
    city_rep = make_user(Role.REP, territories=["440300"])
    assert new_lead("440305")[0] == city_rep.id


def test_an_inactive_manager_leaves_the_lead_in_the_pool(new_lead, make_user):
    make_user(Role.MANAGER, territories=["440000"], active=False)
    assert new_lead("440305") == (None, True)


def test_round_robin_skips_an_inactive_rep(new_lead, make_user):
    first = make_user(Role.REP, territories=["440305"])
    make_user(Role.REP, territories=["440305"], active=False)
    assert [new_lead("440305")[0] for _ in range(2)] == [first.id, first.id]


def test_pick_owner_alone(app, make_user):
    county_rep = make_user(Role.REP, territories=["440305"])
    with app.app_context():
        assert pick_owner("440305") == county_rep.id
        assert pick_owner("110101") is None
