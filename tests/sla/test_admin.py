"""The SLA admin pages: rules per state and the holiday calendar, seen through the deadlines they produce."""

from __future__ import annotations

import re
from datetime import UTC, date, timedelta

import pytest
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.auth.models import AuditEvent
from crm.extensions import db
from crm.sla import services
from crm.sla.calendar import load_calendar
from crm.sla.clock import SHANGHAI, _package_knows
from crm.sla.models import HolidayOverride, SlaRule
from tests.helpers import login, post
from tests.workflow.testflow import TestRecord

RULE_URL = "/admin/sla/rules/testflow/open"


@pytest.fixture
def admin(app, client, make_user, testflow):
    user = make_user(Role.ADMIN)
    login(client, user)
    return user


def _record(app, record_id) -> TestRecord:
    with app.app_context():
        return db.session.get(TestRecord, record_id)


def _expected_due(app, record: TestRecord, duration: timedelta):
    with app.test_request_context():
        return load_calendar().add_working_time(record.state_entered_at, duration)


def _rules(app) -> list[SlaRule]:
    with app.app_context():
        return list(db.session.scalars(select(SlaRule)))


def _audit(app, event: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == event))


def _save(client, duration="1.5", warn="50", escalate="service", version="0", url=RULE_URL):
    return post(
        client,
        url,
        {"duration_hours": duration, "warn_percent": warn, "escalate_to": escalate, "seen_version": version},
    )


# -- rules -------------------------------------------------------------------


def test_rules_page_lists_every_state_that_can_carry_an_sla(client, admin):
    page = client.get("/admin/sla/rules").get_data(as_text=True)
    listed = re.findall(r'data-rule="testflow/(\w+)"', page)
    assert listed == ["open", "working", "done"]  # waiting pauses the clock; closed and cancelled are final


def test_rules_page_works_without_any_workflow(app, client, make_user, monkeypatch):
    from crm.workflow import registry

    monkeypatch.setattr(registry, "_MODELS", {})  # an installation with no workflow yet
    login(client, make_user(Role.ADMIN))
    page = client.get("/admin/sla/rules")
    assert page.status_code == 200
    assert 'data-testid="no-workflows"' in page.get_data(as_text=True)


def test_edited_rule_sets_the_deadline_of_the_next_record_entering_the_state(app, client, admin, drive):
    before = _record(app, drive("open"))

    form = client.get(RULE_URL).get_data(as_text=True)
    assert re.search(r'name="duration_hours"[^>]*value="4"', form)  # the machine's default, in hours
    assert _save(client, duration="1.5", warn="50").status_code == 302

    after = _record(app, drive("open"))
    assert after.sla_due_at == _expected_due(app, after, timedelta(minutes=90))
    assert after.sla_warn_at == _expected_due(app, after, timedelta(minutes=45))
    # The record that was already waiting keeps the deadline it was promised.
    assert _record(app, before.id).sla_due_at == before.sla_due_at == _expected_due(app, before, timedelta(hours=4))
    [rule] = _rules(app)
    assert (rule.duration_minutes, rule.warn_percent, rule.escalate_to) == (90, 50, Role.SERVICE)
    assert _audit(app, "sla_rule_changed") == 1
    assert "1.5" in client.get("/admin/sla/rules").get_data(as_text=True)


def test_zero_hours_switches_the_sla_off(app, client, admin, drive):
    assert _save(client, duration="0").status_code == 302
    record = _record(app, drive("open"))
    assert (record.sla_status, record.sla_due_at, record.sla_next_check_at) == (None, None, None)


@pytest.mark.parametrize(
    ("duration", "warn", "escalate", "message"),
    [
        ("abc", "80", "manager", "working hours"),
        ("-2", "80", "manager", "negative"),
        ("1.234", "80", "manager", "whole number of minutes"),
        ("99999", "80", "manager", "at most"),
        ("", "80", "manager", "0 switches the SLA off"),
        ("8", "100", "manager", "between 1 and 99"),
        ("8", "0", "manager", "between 1 and 99"),
        ("8", "half", "manager", "between 1 and 99"),
        ("8", "80", "distributor", "Not a valid choice"),
    ],
)
def test_invalid_rule_says_why_and_saves_nothing(app, client, admin, duration, warn, escalate, message):
    post(client, "/language", {"locale": "en"})  # messages checked in English; Chinese is the default
    response = _save(client, duration=duration, warn=warn, escalate=escalate)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert _rules(app) == []
    assert _audit(app, "sla_rule_changed") == 0


def test_invalid_rule_message_is_chinese_by_default(app, client, admin):
    response = _save(client, warn="150")
    assert "1% 到 99%" in response.get_data(as_text=True)
    assert _rules(app) == []


def test_stale_rule_form_is_a_conflict(app, client, admin):
    assert _save(client, duration="2", version="0").status_code == 302
    # A second admin's form, loaded before the first save, still says "no override yet".
    stale = _save(client, duration="3", version="0")
    assert stale.status_code == 409
    [rule] = _rules(app)
    assert rule.duration_minutes == 120
    assert _save(client, duration="3", version=str(rule.version)).status_code == 302
    assert _rules(app)[0].duration_minutes == 180


def test_reset_returns_to_the_default(app, client, admin, drive):
    _save(client, duration="1")
    [rule] = _rules(app)
    assert post(client, RULE_URL + "/reset", {"seen_version": "0"}).status_code == 409
    assert post(client, RULE_URL + "/reset", {"seen_version": str(rule.version)}).status_code == 302
    assert _rules(app) == []
    assert _audit(app, "sla_rule_reset") == 1
    record = _record(app, drive("open"))
    assert record.sla_due_at == _expected_due(app, record, timedelta(hours=4))


@pytest.mark.parametrize("url", [RULE_URL, "/admin/sla/rules/testflow/closed", "/admin/sla/rules/nope/open"])
def test_states_without_an_sla_and_unknown_workflows_are_404(client, admin, url):
    assert client.get(url).status_code == (200 if url == RULE_URL else 404)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.SERVICE, Role.DISTRIBUTOR])
def test_only_admins_edit_rules_and_holidays(app, client, make_user, testflow, role):
    login(client, make_user(role, territories=["440000"] if role in (Role.MANAGER, Role.REP) else ()))
    assert client.get(RULE_URL).status_code == 403
    assert _save(client).status_code == 403
    assert post(client, "/admin/sla/holidays", {"day": "2026-12-30", "kind": "holiday", "name": "x"}).status_code == 403
    assert _rules(app) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(HolidayOverride)) == 0


# -- holiday calendar --------------------------------------------------------


def _add_day(client, day: date, name="公司假日", kind="holiday"):
    return post(client, "/admin/sla/holidays", {"day": day.isoformat(), "kind": kind, "name": name})


def _days(app) -> dict[date, tuple[bool, str]]:
    with app.app_context():
        return {h.day: (h.is_working_day, h.name) for h in db.session.scalars(select(HolidayOverride))}


def test_a_holiday_moves_the_deadline(app, client, admin, drive):
    first = _record(app, drive("open"))
    local_due_day = first.sla_due_at.replace(tzinfo=UTC).astimezone(SHANGHAI).date()  # a working day
    assert _add_day(client, local_due_day).status_code == 303
    assert _days(app) == {local_due_day: (False, "公司假日")}
    assert _audit(app, "holiday_added") == 1

    second = _record(app, drive("open"))
    assert second.sla_due_at == _expected_due(app, second, timedelta(hours=4))
    # Pushed past the new holiday.
    assert second.sla_due_at.replace(tzinfo=UTC).astimezone(SHANGHAI).date() > local_due_day


def test_an_adjusted_working_day_counts(app, client, admin):
    saturday = date(2026, 12, 26)
    assert _add_day(client, saturday, name="调休上班", kind="workday").status_code == 303
    with app.test_request_context():
        calendar = load_calendar()
    assert calendar.is_working_day(saturday)


def test_adding_a_period_and_refusing_an_overlap(app, client, admin):
    response = post(
        client,
        "/admin/sla/holidays/range",
        {"range-first": "2027-10-01", "range-last": "2027-10-07", "range-kind": "holiday", "range-name": "国庆节"},
    )
    assert response.status_code == 303
    assert len(_days(app)) == 7
    page = client.get("/admin/sla/holidays?year=2027").get_data(as_text=True)
    assert len(re.findall(r'<tr data-day="2027-10-0\d">', page)) == 7

    post(client, "/language", {"locale": "en"})
    overlap = post(
        client,
        "/admin/sla/holidays/range",
        {"range-first": "2027-10-07", "range-last": "2027-10-09", "range-kind": "workday", "range-name": "调休上班"},
    )
    assert overlap.status_code == 200
    assert "Already in the calendar: 2027-10-07" in overlap.get_data(as_text=True)
    assert len(_days(app)) == 7

    too_long = post(
        client,
        "/admin/sla/holidays/range",
        {"range-first": "2027-01-01", "range-last": "2027-03-01", "range-kind": "holiday", "range-name": "x"},
    )
    assert "at most 31 days" in too_long.get_data(as_text=True)
    nameless = _add_day(client, date(2027, 5, 1), name=" ")
    assert "Give the day a name" in nameless.get_data(as_text=True)
    assert len(_days(app)) == 7


def test_deleting_a_day(app, client, admin):
    _add_day(client, date(2026, 12, 31))
    with app.app_context():
        holiday_id = db.session.scalar(select(HolidayOverride.id))
    assert post(client, f"/admin/sla/holidays/{holiday_id}/delete").status_code == 303
    assert _days(app) == {}
    assert _audit(app, "holiday_deleted") == 1
    assert post(client, f"/admin/sla/holidays/{holiday_id}/delete").status_code == 404


@pytest.fixture
def late_2026(monkeypatch):
    """Today is 28 November 2026: the plan for 2027 is not published yet."""
    if _package_knows(2027):
        pytest.skip("the installed chinese_calendar already knows 2027")
    monkeypatch.setattr(services, "local_today", lambda: date(2026, 11, 28))


def _warned_years(page: str) -> list[str]:
    return re.findall(r'data-testid="unknown-year" data-year="(\d+)"', page)


def test_unknown_year_warning_until_its_plan_is_marked_complete(app, client, admin, late_2026, make_user):
    assert _warned_years(client.get("/admin/sla/holidays").get_data(as_text=True)) == ["2027"]
    home = client.get("/").get_data(as_text=True)
    assert _warned_years(home) == ["2027"]
    assert "2027年法定节假日尚未录入：截止时间暂按周一至周五计算" in home

    manager = app.test_client()
    login(manager, make_user(Role.MANAGER, territories=["440000"]))
    assert _warned_years(manager.get("/").get_data(as_text=True)) == []  # the banner is for admins

    _add_day(client, date(2027, 1, 1), name="元旦")
    # One day (or only 春节) is not a plan: the warning stays until an admin marks the year complete.
    assert _warned_years(client.get("/admin/sla/holidays").get_data(as_text=True)) == ["2027"]
    assert _warned_years(client.get("/").get_data(as_text=True)) == ["2027"]

    assert post(client, "/admin/sla/holidays/year/2027/complete", {"complete": "1"}).status_code == 303
    assert _warned_years(client.get("/admin/sla/holidays").get_data(as_text=True)) == []
    assert _warned_years(client.get("/").get_data(as_text=True)) == []
    assert _audit(app, "holiday_year_completed") == 1

    assert post(client, "/admin/sla/holidays/year/2027/complete", {"complete": "0"}).status_code == 303
    assert _warned_years(client.get("/").get_data(as_text=True)) == ["2027"]
    assert _audit(app, "holiday_year_reopened") == 1


def test_an_empty_year_cannot_be_marked_complete(app, client, admin, late_2026):
    response = post(client, "/admin/sla/holidays/year/2027/complete", {"complete": "1"}, follow_redirects=True)
    assert "2027年" in response.get_data(as_text=True)
    assert _warned_years(response.get_data(as_text=True)) == ["2027"]
    assert _audit(app, "holiday_year_completed") == 0


def test_the_holiday_page_shows_the_built_in_statutory_days(app, client, admin):
    page = client.get("/admin/sla/holidays?year=2026").get_data(as_text=True)
    assert "本年度尚未录入日期" not in page
    built_in = page.split('data-testid="built-in-days"', 1)[1].split("</section>", 1)[0]
    assert 'data-day="2026-02-17"' in built_in  # 春节, a day off
    assert "春节" in built_in
    assert 'data-day="2026-02-28"' in built_in  # a Saturday worked (调休)
    assert "调休上班" in built_in
    assert 'data-testid="year-completion"' not in page  # the software knows 2026: nothing to mark


def test_a_year_the_software_does_not_know_says_so(app, client, admin, late_2026):
    page = client.get("/admin/sla/holidays?year=2027").get_data(as_text=True)
    assert 'data-testid="no-built-in"' in page
    assert 'data-testid="year-completion"' in page
