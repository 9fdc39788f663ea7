"""The lead pool (公海): idle leads go back with a warning a day before, and reps claim them."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from werkzeug.exceptions import NotFound

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.errors import BusinessError
from crm.extensions import db
from crm.leads import pool
from crm.leads.models import Campaign, Channel, Lead
from crm.leads.services import create_lead
from crm.notify.models import Notification
from crm.sla.calendar import current_calendar
from crm.workflow import engine
from crm.workflow.models import WorkflowHistory
from tests.helpers import csrf_token, login, post, statements_of_page

_names = itertools.count(1)

# Monday 2026-11-30, 09:00 in Shanghai. With the default 10 working days of 9 hours,
# a lead idle since then is warned at the close of Thursday 10 December (nine working
# days) and returns at the close of Friday 11 December (18:00 Shanghai, 10:00 UTC).
IDLE_SINCE = datetime(2026, 11, 30, 1, 0)
WARN_AT = datetime(2026, 12, 10, 10, 0)
DUE_AT = datetime(2026, 12, 11, 10, 0)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def people(make_user):
    return {
        "rep": make_user(Role.REP, territories=["440300"]),  # 深圳市
        "rival": make_user(Role.REP, territories=["440300"]),
        "stranger": make_user(Role.REP, territories=["110101"]),  # 北京东城区
        "manager": make_user(Role.MANAGER, territories=["440000"]),
        "admin": make_user(Role.ADMIN),
        "service": make_user(Role.SERVICE),
    }


@pytest.fixture
def gen_lead(app, people):
    """``gen_lead(owner=people["rep"], state="following")`` → id of a lead idle since IDLE_SINCE."""
    with app.app_context():
        campaign = Campaign(name="区域设点", channel=Channel.OUTPOST)
        db.session.add(campaign)
        db.session.commit()
        campaign_id = campaign.id

    def make(*, owner="rep", territory="440305", state="new", in_pool=False, idle_since=IDLE_SINCE, touched=None):
        with app.app_context():
            admin = db.session.get(User, people["admin"].id)
            manager = db.session.get(User, people["manager"].id)
            lead = create_lead(
                admin,
                company_name=f"测试医药{next(_names)}有限公司",
                territory_code=territory,
                campaign_id=campaign_id,
                owner_id=people[owner].id if owner else None,
                allow_duplicate=True,
            )
            for event_name in {"new": [], "following": ["contact", "follow"], "lost": ["lose"]}[state]:
                engine.apply_event(lead, event_name, manager, seen_version=lead.version, comment="x", now=idle_since)
            db.session.flush()
            # Only what the pool does should be in the inboxes (not the manager's moves above).
            db.session.execute(delete(Notification))
            db.session.execute(
                update(Lead)
                .where(Lead.id == lead.id)
                .values(
                    created_at=idle_since,
                    owned_since=idle_since,
                    state_entered_at=idle_since,
                    last_touch_at=touched,
                    in_pool=in_pool,
                    pooled_at=idle_since if in_pool else None,
                    assignee_id=people[owner].id if owner and not in_pool else None,
                )
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            return lead.id

    return make


def _lead(lead_id) -> Lead:
    return db.session.get(Lead, lead_id, populate_existing=True)


def _notes(kind=None) -> list[tuple[int, str, int]]:
    stmt = select(Notification.user_id, Notification.kind, Notification.record_id).order_by(Notification.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return [tuple(row) for row in db.session.execute(stmt)]


def _history(lead_id) -> list[WorkflowHistory]:
    return list(
        db.session.scalars(
            select(WorkflowHistory)
            .where(WorkflowHistory.workflow == "leads", WorkflowHistory.record_id == lead_id)
            .order_by(WorkflowHistory.id)
        )
    )


# --- returning to the pool ------------------------------------------------------


def test_the_return_time_is_ten_working_days_of_working_time(app):
    with app.app_context():
        assert app.config["LEAD_POOL_DAYS"] == 10
        calendar = current_calendar()
        assert calendar.add_working_time(IDLE_SINCE, 10 * pool.working_day(calendar)) == DUE_AT
        assert calendar.add_working_time(IDLE_SINCE, 9 * pool.working_day(calendar)) == WARN_AT


def test_an_idle_lead_returns_to_its_pool_after_n_working_days(app, gen_lead, people):
    lead_id = gen_lead(state="following")
    rep = people["rep"].id
    with app.app_context():
        # Ten calendar days are only eight working days: not yet.
        assert pool.return_stale_leads(now=IDLE_SINCE + timedelta(days=10)).returned == 0
        assert pool.return_stale_leads(now=DUE_AT - MINUTE).returned == 0
        assert _lead(lead_id).assignee_id == rep

        version = _lead(lead_id).version
        result = pool.return_stale_leads(now=DUE_AT)
        assert (result.returned, result.notifications) == (1, 1)
        lead = _lead(lead_id)
        assert (lead.in_pool, lead.pooled_at, lead.assignee_id, lead.state) == (True, DUE_AT, None, "following")
        assert lead.version == version + 1  # a page opened before the return is stale
        last = _history(lead_id)[-1]
        assert (last.event, last.from_state, last.to_state, last.actor_id) == (
            "returned_to_pool",
            "following",
            "following",
            None,
        )
        assert json.loads(last.data) == {"from": rep}
        assert _notes() == [(rep, pool.RETURNED_TO_POOL, lead_id)]

        # Idempotent: a second run, or a later one, changes nothing and notifies nobody.
        assert pool.return_stale_leads(now=DUE_AT).returned == 0
        assert pool.return_stale_leads(now=DUE_AT + timedelta(days=30)).returned == 0
        assert len(_notes()) == 1
        assert [h.event for h in _history(lead_id)].count("returned_to_pool") == 1


def test_a_recently_touched_lead_stays_with_its_owner(app, gen_lead, people):
    touched = gen_lead(touched=DUE_AT - timedelta(days=1))
    moved = gen_lead()
    with app.app_context():
        db.session.execute(update(Lead).where(Lead.id == moved).values(state_entered_at=DUE_AT - timedelta(hours=2)))
        db.session.commit()
        stale = gen_lead()
        assert pool.return_stale_leads(now=DUE_AT).returned == 1
        assert _lead(stale).in_pool
        for lead_id in (touched, moved):
            assert (_lead(lead_id).in_pool, _lead(lead_id).assignee_id) == (False, people["rep"].id)


def test_closed_and_pooled_leads_do_not_return(app, gen_lead):
    lost = gen_lead(state="lost")
    pooled = gen_lead(owner=None, in_pool=True)
    with app.app_context():
        assert pool.return_stale_leads(now=DUE_AT + timedelta(days=60)).returned == 0
        assert _lead(lost).state == "lost"
        assert _lead(pooled).pooled_at == IDLE_SINCE
        assert _notes() == []


def test_two_runs_at_once_return_a_lead_once(app, gen_lead, people):
    lead_ids = [gen_lead() for _ in range(5)]
    start = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            with app.app_context():
                start.wait()
                results.append(pool.return_stale_leads(now=DUE_AT).returned)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sum(results) == 5  # each lead by one run only
    with app.app_context():
        assert len(_notes(pool.RETURNED_TO_POOL)) == 5
        for lead_id in lead_ids:
            assert [h.event for h in _history(lead_id)].count("returned_to_pool") == 1


# --- the warning a day before -----------------------------------------------------


def test_the_owner_is_warned_once_a_working_day_before(app, gen_lead, people):
    lead_id = gen_lead()
    rep = people["rep"].id
    with app.app_context():
        assert pool.warn_before_pool(now=WARN_AT - MINUTE).warned == 0
        assert pool.warn_before_pool(now=WARN_AT).warned == 1
        assert _lead(lead_id).pool_warned_at == WARN_AT
        assert pool.warn_before_pool(now=WARN_AT + timedelta(hours=1)).warned == 0
        assert pool.warn_before_pool(now=DUE_AT - MINUTE).warned == 0
        assert _notes() == [(rep, pool.POOL_WARNING, lead_id)]
        assert _lead(lead_id).assignee_id == rep  # a warning, not a return

        # The return clears the warning, so a later owner can be warned again.
        assert pool.return_stale_leads(now=DUE_AT).returned == 1
        assert _lead(lead_id).pool_warned_at is None


def test_a_touch_after_the_warning_forgets_it_and_the_next_idle_spell_warns_again(app, gen_lead, people):
    lead_id = gen_lead()
    touch_at = WARN_AT + timedelta(hours=1)
    with app.app_context():
        assert pool.warn_before_pool(now=WARN_AT).warned == 1
        # The touch service only sets last_touch_at; the pool job notices it.
        db.session.execute(update(Lead).where(Lead.id == lead_id).values(last_touch_at=touch_at))
        db.session.commit()
        assert pool.run_pool_jobs(now=DUE_AT) is None  # nothing returned, nobody warned
        assert _lead(lead_id).pool_warned_at is None
        assert _lead(lead_id).in_pool is False

        calendar = current_calendar()
        day = pool.working_day(calendar)
        next_warning = calendar.add_working_time(touch_at, 9 * day)
        assert pool.warn_before_pool(now=next_warning - MINUTE).warned == 0
        assert pool.warn_before_pool(now=next_warning).warned == 1
        assert len(_notes(pool.POOL_WARNING)) == 2


def test_a_lead_past_its_return_time_goes_back_without_a_late_warning(app, gen_lead, people):
    lead_id = gen_lead()
    with app.app_context():
        assert pool.run_pool_jobs(now=DUE_AT + timedelta(days=3)) == "1 returned to the pool, 0 owners warned"
        assert _notes() == [(people["rep"].id, pool.RETURNED_TO_POOL, lead_id)]


def test_unowned_leads_are_not_warned(app, gen_lead):
    gen_lead(owner=None)
    with app.app_context():
        assert pool.warn_before_pool(now=WARN_AT).warned == 0


def test_pool_notifications_read_as_sentences(app, gen_lead, people):
    from crm.notify.rendering import notification_text

    lead_id = gen_lead()
    with app.app_context():
        pool.warn_before_pool(now=WARN_AT)
        pool.return_stale_leads(now=DUE_AT)
        notes = list(db.session.scalars(select(Notification).order_by(Notification.id)))
        with app.test_request_context("/", headers={"Accept-Language": "en"}):
            texts = [notification_text(note, None) for note in notes]
    assert len(texts) == 2
    assert all(f"#{lead_id}" in text for text in texts)
    assert texts[0] != texts[1]


# --- claiming ---------------------------------------------------------------------


def _claim(app, user_ref, lead_id, now=None):
    with app.app_context():
        lead = pool.claim_lead(db.session.get(User, user_ref.id), lead_id, now=now)
        db.session.commit()
        return lead.id


def test_a_rep_claims_a_pool_lead_of_their_territory(app, gen_lead, people):
    lead_id = gen_lead(owner=None, in_pool=True)
    claim_at = DUE_AT + timedelta(days=2)
    _claim(app, people["rep"], lead_id, now=claim_at)
    with app.app_context():
        lead = _lead(lead_id)
        assert (lead.in_pool, lead.assignee_id, lead.pool_warned_at) == (False, people["rep"].id, None)
        last = _history(lead_id)[-1]
        assert (last.event, last.actor_id) == ("claimed", people["rep"].id)
        # The claim starts a fresh idle spell: the next run does not send it straight back.
        assert pool.run_pool_jobs(now=claim_at + timedelta(hours=1)) is None
        assert not _lead(lead_id).in_pool


def test_a_claimed_lead_cannot_be_claimed_again(app, gen_lead, people):
    lead_id = gen_lead(owner=None, in_pool=True)
    _claim(app, people["rep"], lead_id)
    with pytest.raises(pool.AlreadyClaimed):
        _claim(app, people["rival"], lead_id)
    with app.app_context():
        assert _lead(lead_id).assignee_id == people["rep"].id


@pytest.mark.parametrize(
    ("who", "lead"),
    [
        ("stranger", "pool lead in 南山区"),  # outside the rep's territories
        ("rep", "never pooled"),
        ("rep", "lost in the pool"),
        ("admin", "pool lead in 南山区"),  # an admin owns no territory to work leads in
    ],
)
def test_claiming_what_one_cannot_claim_answers_404(app, gen_lead, people, who, lead):
    lead_id = {
        "pool lead in 南山区": lambda: gen_lead(owner=None, in_pool=True),
        "never pooled": lambda: gen_lead(owner="rival"),
        "lost in the pool": lambda: gen_lead(owner=None, in_pool=True, state="lost"),
    }[lead]()
    with app.app_context():
        before = _lead(lead_id).version
    with pytest.raises(NotFound):
        _claim(app, people[who], lead_id)
    with app.app_context():
        assert _lead(lead_id).version == before


def test_a_rep_at_the_open_lead_limit_cannot_claim(app, gen_lead, people, monkeypatch):
    monkeypatch.setitem(app.config, "LEAD_MAX_OPEN_PER_REP", 2)
    gen_lead(owner="rep")
    gen_lead(owner="rep", state="lost")  # closed leads do not count
    lead_id = gen_lead(owner=None, in_pool=True)
    other_id = gen_lead(owner=None, in_pool=True)
    _claim(app, people["rep"], lead_id)  # the second open lead
    with pytest.raises(BusinessError) as refused:
        _claim(app, people["rep"], other_id)
    assert "2" in refused.value.message
    with app.app_context():
        assert _lead(other_id).in_pool
        assert pool.open_lead_count(people["rep"].id) == 2


@pytest.mark.parametrize("rounds", [5])
def test_two_reps_claiming_at_once_one_wins(app, gen_lead, people, rounds):
    for _ in range(rounds):
        lead_id = gen_lead(owner=None, in_pool=True)
        start = threading.Barrier(2)
        outcomes, errors = {}, []

        def claim(who, lead_id=lead_id, start=start, outcomes=outcomes, errors=errors):
            try:
                with app.app_context():
                    actor = db.session.get(User, people[who].id)
                    # End the read's transaction: on SQLite every transaction outside a GET
                    # request takes the write lock, and both threads must reach the barrier.
                    db.session.commit()
                    start.wait()
                    try:
                        pool.claim_lead(actor, lead_id)
                        db.session.commit()
                        outcomes[who] = "won"
                    except pool.AlreadyClaimed as taken:
                        db.session.rollback()
                        outcomes[who] = taken.message
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=claim, args=(who,)) for who in ("rep", "rival")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors
        assert sorted(outcomes.values(), key=lambda o: o != "won")[0] == "won"
        assert list(outcomes.values()).count("won") == 1
        [winner] = [who for who, outcome in outcomes.items() if outcome == "won"]
        with app.app_context():
            lead = _lead(lead_id)
            assert (lead.in_pool, lead.assignee_id) == (False, people[winner].id)
            assert [h.event for h in _history(lead_id)].count("claimed") == 1


# --- the pool page ----------------------------------------------------------------


def test_the_pool_page_lists_the_pool_of_the_users_territories(app, gen_lead, people):
    nanshan = gen_lead(owner=None, in_pool=True)
    beijing = gen_lead(owner=None, in_pool=True, territory="110101")
    owned = gen_lead(owner="rep")
    with app.app_context():
        names = {lead_id: _lead(lead_id).company_name for lead_id in (nanshan, beijing, owned)}

    def listed(user):
        client = app.test_client()
        login(client, people[user])
        response = client.get("/leads/pool")
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        return {lead_id for lead_id, name in names.items() if name in text}

    assert listed("rep") == {nanshan}
    assert listed("manager") == {nanshan}
    assert listed("stranger") == {beijing}
    assert listed("admin") == {nanshan, beijing}


def test_the_pool_page_is_for_reps_managers_and_admins(app, people, make_user):
    people = {**people, "distributor": make_user(Role.DISTRIBUTOR)}
    for who, status in (("service", 403), ("distributor", 403), ("rep", 200), ("manager", 200), ("admin", 200)):
        client = app.test_client()
        login(client, people[who])
        assert client.get("/leads/pool").status_code == status, who


def test_the_pool_page_costs_the_same_queries_for_1_or_20_leads(app, client, gen_lead, people):
    gen_lead(owner=None, in_pool=True)
    login(client, people["rep"])
    few = statements_of_page(app, client, "/leads/pool")
    for _ in range(19):
        gen_lead(owner=None, in_pool=True, territory="440304")
    many = statements_of_page(app, client, "/leads/pool")
    assert len(few) == len(many)


def test_claiming_from_the_page(app, client, gen_lead, people):
    lead_id = gen_lead(owner=None, in_pool=True)
    login(client, people["rep"])
    response = post(client, f"/leads/{lead_id}/claim")
    assert response.status_code == 303
    with app.app_context():
        assert _lead(lead_id).assignee_id == people["rep"].id

    client = app.test_client()
    login(client, people["rival"])
    response = post(client, f"/leads/{lead_id}/claim", follow_redirects=True)
    assert response.status_code == 200
    assert "alert-warning" in response.get_data(as_text=True)  # "someone else has already claimed this lead"
    assert post(client, "/leads/999999/claim").status_code == 404


def test_the_scheduler_runs_the_pool_every_15_minutes(app):
    from crm.scheduler import build_scheduler

    job = build_scheduler(app).get_job("lead_pool")
    assert job is not None
    assert job.trigger.interval == timedelta(minutes=15)


def test_two_reps_claiming_from_the_page_at_once_one_is_told_it_is_taken(app, gen_lead, people):
    lead_id = gen_lead(owner=None, in_pool=True)
    clients = {}
    for who in ("rep", "rival"):
        client = app.test_client()
        login(client, people[who])
        clients[who] = (client, csrf_token(client))
    start = threading.Barrier(2)
    pages = {}

    def claim(who):
        client, token = clients[who]
        start.wait()
        response = client.post(f"/leads/{lead_id}/claim", data={"csrf_token": token})
        pages[who] = (response.status_code, client.get("/leads/pool").get_data(as_text=True))

    threads = [threading.Thread(target=claim, args=(who,)) for who in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [status for status, _page in pages.values()] == [303, 303]
    told = {who: ("alert-success" in page, "alert-warning" in page) for who, (_s, page) in pages.items()}
    assert sorted(told.values()) == [(False, True), (True, False)]  # one got it, the other hears it is taken
    with app.app_context():
        [winner] = [who for who, (success, _warning) in told.items() if success]
        assert _lead(lead_id).assignee_id == people[winner].id


def test_a_reassigned_lead_gets_a_fresh_idle_clock(app, gen_lead, people):
    """Handing an idle lead to another rep gives that rep the whole pool period."""
    from crm.leads.services import reassign_lead

    lead_id = gen_lead(state="following")
    with app.app_context():
        lead = _lead(lead_id)
        manager = db.session.get(User, people["manager"].id)
        reassign_lead(lead, manager, seen_version=lead.version, owner_id=people["rival"].id)
        db.session.execute(update(Lead).where(Lead.id == lead_id).values(owned_since=DUE_AT - timedelta(hours=1)))
        db.session.commit()
        assert pool.return_stale_leads(now=DUE_AT).returned == 0
        assert _lead(lead_id).assignee_id == people["rival"].id
