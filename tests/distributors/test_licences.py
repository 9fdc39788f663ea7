"""The licence watch: expiring and expired licences flagged and notified once per level, and the report."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from flask import render_template
from flask_babel import gettext
from sqlalchemy import select, update

from crm.access.roles import Role
from crm.auth.models import User
from crm.common import uploads
from crm.common.time import local_today
from crm.distributors.licences import level_for, licences_of, run_watch, watch
from crm.distributors.models import Distributor, DocumentKind, ExpiryAlert, QualificationDocument
from crm.extensions import db
from crm.notify.models import Notification, NotificationKind
from crm.notify.rendering import text_for
from crm.workflow import engine
from tests.helpers import gen_distributor, login, statements_of_page

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 12, 1)
PDF = b"%PDF-1.4\n" + b"0" * 64
EXPIRING = NotificationKind.LICENCE_EXPIRING
EXPIRED = NotificationKind.LICENCE_EXPIRED
_numbers = itertools.count(1)


@pytest.fixture
def people(make_user):
    return {
        "rep": make_user(Role.REP, territories=["440300"]),
        "manager": make_user(Role.MANAGER, territories=["440000"]),
        "beijing_manager": make_user(Role.MANAGER, territories=["110000"]),
        "beijing_rep": make_user(Role.REP, territories=["110100"]),
        "admin": make_user(Role.ADMIN),
        "service": make_user(Role.SERVICE),
    }


def gen_company(app, make_user, rep=None, territory="440305", name=None) -> tuple[int, list[int]]:
    """A distributor looked after by ``rep``, with two active portal users and a deactivated one."""
    distributor_id = gen_distributor(app, territory, name=name)
    if rep is not None:
        with app.app_context():
            db.session.execute(update(Distributor).where(Distributor.id == distributor_id).values(assignee_id=rep.id))
            db.session.commit()
    portal = [make_user(Role.DISTRIBUTOR, company_id=distributor_id) for _ in range(2)]
    make_user(Role.DISTRIBUTOR, company_id=distributor_id, active=False)
    return distributor_id, [u.id for u in portal]


def gen_licence(
    app,
    distributor_id: int | None,
    expires_on: date,
    kind: DocumentKind = DocumentKind.DRUG_TRADING_LICENCE,
    *,
    superseded: bool = False,
    number: str | None = None,
) -> int:
    with app.app_context():
        document = QualificationDocument(
            distributor_id=distributor_id,
            kind=kind,
            number=number or f"粤AA{next(_numbers):07d}",
            expires_on=expires_on,
            stored_name=uploads.store(PDF, uploads.PDF, "documents"),
            original_name="许可证.pdf",
            content_type="application/pdf",
            size=len(PDF),
            superseded_at=datetime(2026, 11, 1) if superseded else None,
        )
        db.session.add(document)
        db.session.commit()
        return document.id


def sent(app) -> Counter:
    """(user, kind, distributor) of every licence notification so far."""
    with app.app_context():
        rows = db.session.execute(
            select(Notification.user_id, Notification.kind, Notification.record_id).where(
                Notification.kind.in_((EXPIRING, EXPIRED))
            )
        ).all()
    return Counter((r.user_id, r.kind, r.record_id) for r in rows)


def alert_of(app, document_id: int):
    with app.app_context():
        return db.session.get(QualificationDocument, document_id).expiry_alert


def run(app, today: date):
    with app.app_context():
        return run_watch(today)


@pytest.mark.parametrize(
    ("days", "level"),
    [
        (91, None),
        (90, ExpiryAlert.WITHIN_90),
        (31, ExpiryAlert.WITHIN_90),
        (30, ExpiryAlert.WITHIN_30),
        (1, ExpiryAlert.WITHIN_30),
        (0, ExpiryAlert.WITHIN_30),  # the last valid day
        (-1, ExpiryAlert.EXPIRED),
        (-400, ExpiryAlert.EXPIRED),
    ],
)
def test_level_boundaries(days, level):
    assert level_for(TODAY + timedelta(days=days), TODAY) == level


def test_no_expiry_date_no_level():
    assert level_for(None, TODAY) is None


def test_each_level_is_notified_once_to_rep_and_portal_users_and_expiry_escalates(app, make_user, people):
    company, portal = gen_company(app, make_user, rep=people["rep"])
    licence = gen_licence(app, company, TODAY + timedelta(days=60))
    rep, manager = people["rep"].id, people["manager"].id
    readers = {rep, *portal}

    assert run(app, TODAY - timedelta(days=31)).total == 0  # 91 days left: nothing yet
    result = run(app, TODAY)
    assert result.flagged[ExpiryAlert.WITHIN_90] == 1
    assert sent(app) == Counter({(u, EXPIRING, company): 1 for u in readers})
    assert alert_of(app, licence) == ExpiryAlert.WITHIN_90

    # The same day again, and the days until 30 are left: nothing new.
    assert run(app, TODAY).notifications == 0
    assert run(app, TODAY + timedelta(days=29)).notifications == 0
    assert sent(app) == Counter({(u, EXPIRING, company): 1 for u in readers})

    # 30 days left: the second warning.
    assert run(app, TODAY + timedelta(days=30)).flagged[ExpiryAlert.WITHIN_30] == 1
    assert sent(app) == Counter({(u, EXPIRING, company): 2 for u in readers})
    assert alert_of(app, licence) == ExpiryAlert.WITHIN_30

    # The day after the last valid day: expired, and the Guangdong manager hears of it (not Beijing's).
    assert run(app, TODAY + timedelta(days=60)).notifications == 0
    assert run(app, TODAY + timedelta(days=61)).flagged[ExpiryAlert.EXPIRED] == 1
    notes = sent(app)
    assert {key for key in notes if key[1] == EXPIRED} == {(u, EXPIRED, company) for u in readers | {manager}}
    assert set(notes.values()) == {1, 2}
    assert run(app, TODAY + timedelta(days=62)).notifications == 0
    assert alert_of(app, licence) == ExpiryAlert.EXPIRED


def test_a_licence_first_seen_expired_is_flagged_expired_once(app, make_user, people):
    company, portal = gen_company(app, make_user, rep=people["rep"])
    gen_licence(app, company, TODAY - timedelta(days=3), DocumentKind.GSP_CERTIFICATE)
    result = run(app, TODAY)
    assert (result.flagged[ExpiryAlert.EXPIRED], result.flagged[ExpiryAlert.WITHIN_90]) == (1, 0)
    assert sent(app) == Counter({(u, EXPIRED, company): 1 for u in (people["rep"].id, people["manager"].id, *portal)})


def test_the_watch_returns_a_log_line_only_when_it_flagged_something(app, make_user, people):
    company, _portal = gen_company(app, make_user, rep=people["rep"])
    gen_licence(app, company, TODAY + timedelta(days=10))
    gen_licence(app, company, TODAY + timedelta(days=80), DocumentKind.GSP_CERTIFICATE)
    with app.app_context():
        assert watch(TODAY) == "licences flagged: 1 within_90, 1 within_30, 0 expired; 6 notifications"
        assert watch(TODAY) is None


def test_what_the_watch_leaves_alone(app, make_user, people):
    company, _portal = gen_company(app, make_user, rep=people["rep"])
    soon = TODAY + timedelta(days=5)
    gen_licence(app, company, soon, superseded=True)  # replaced by a newer upload
    gen_licence(app, company, soon, DocumentKind.BUSINESS_LICENCE)  # its date is not watched
    gen_licence(app, company, TODAY + timedelta(days=91))  # not close yet
    gen_licence(app, None, soon)  # a screening case's document: no distributor yet
    terminated, _ = gen_company(app, make_user, rep=people["rep"])
    terminated_licence = gen_licence(app, terminated, soon)
    with app.app_context():
        distributor = db.session.get(Distributor, terminated)
        admin = db.session.get(User, people["admin"].id)
        engine.apply_event(distributor, "terminate", admin, seen_version=distributor.version, comment="合同终止")
        db.session.commit()

    assert run(app, TODAY).total == 0
    assert sent(app) == Counter()
    assert alert_of(app, terminated_licence) is None


def test_a_renewed_licence_starts_clean(app, make_user, people):
    company, portal = gen_company(app, make_user, rep=people["rep"])
    old = gen_licence(app, company, TODAY + timedelta(days=20))
    run(app, TODAY)
    # The renewal is uploaded: the new document supersedes the old one.
    with app.app_context():
        db.session.execute(
            update(QualificationDocument).where(QualificationDocument.id == old).values(superseded_at=datetime.now())
        )
        db.session.commit()
    renewed = gen_licence(app, company, TODAY + timedelta(days=20 + 5 * 365))
    assert run(app, TODAY + timedelta(days=30)).total == 0  # the old one expired, but it is history
    assert alert_of(app, renewed) is None
    before = sent(app)
    assert run(app, TODAY + timedelta(days=20 + 5 * 365 - 90)).flagged[ExpiryAlert.WITHIN_90] == 1
    assert sum((sent(app) - before).values()) == 1 + len(portal)


def test_a_corrected_later_date_drops_the_flag_without_notifying(app, make_user, people):
    company, _portal = gen_company(app, make_user, rep=people["rep"])
    licence = gen_licence(app, company, TODAY + timedelta(days=10))
    run(app, TODAY)
    with app.app_context():
        db.session.execute(
            update(QualificationDocument)
            .where(QualificationDocument.id == licence)
            .values(expires_on=TODAY + timedelta(days=60))
        )
        db.session.commit()
    before = sent(app)
    assert run(app, TODAY).notifications == 0
    assert alert_of(app, licence) == ExpiryAlert.WITHIN_90
    assert sent(app) == before


def test_a_distributor_without_a_rep_still_tells_its_portal_users(app, make_user, people):
    company, portal = gen_company(app, make_user, rep=None)
    gen_licence(app, company, TODAY + timedelta(days=40))
    run(app, TODAY)
    assert sent(app) == Counter({(u, EXPIRING, company): 1 for u in portal})


def test_the_notification_names_the_licence_and_its_date(app, make_user, people):
    company, _portal = gen_company(app, make_user, rep=people["rep"], name="深圳南山医药")
    gen_licence(app, company, date(2026, 12, 20), number="粤AA2000123")
    gen_licence(app, company, date(2026, 11, 20), DocumentKind.GSP_CERTIFICATE, number="GSP-9")
    run(app, TODAY)
    with app.app_context():
        rep = db.session.get(User, people["rep"].id)
        rep.locale = "en"
        db.session.commit()
        texts = sorted(
            text_for(rep, note)
            for note in db.session.scalars(select(Notification).where(Notification.user_id == rep.id))
        )
    assert texts == [
        f"Distributor #{company} (Trading): Drug-trading licence No. 粤AA2000123 of 深圳南山医药 expires on 2026-12-20",
        f"Distributor #{company} (Trading): GSP certificate No. GSP-9 of 深圳南山医药 expired on 2026-11-20",
    ]


def test_a_portal_user_opens_their_own_company_from_the_inbox(app, client, make_user, people):
    company, portal = gen_company(app, make_user, rep=people["rep"])
    gen_licence(app, company, TODAY + timedelta(days=40))
    run(app, TODAY)
    with app.app_context():
        username = db.session.get(User, portal[0]).username
    login(client, username)
    page = client.get("/notifications").get_data(as_text=True)
    assert 'href="/distributors/mine"' in page
    assert f'href="/distributors/{company}"' not in page
    assert client.get("/distributors/mine").status_code == 200


WATCHER = textwrap.dedent(
    """
    import sys, time
    from datetime import date
    from config import TestConfig
    from crm import create_app
    from crm.distributors import licences
    from crm.distributors.licences import run_watch

    if sys.argv[4] == "without-lock":  # only the conditional UPDATEs stand between the two runs
        licences._take_lock = lambda: True
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=sys.argv[1])
    with app.app_context():
        time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
        result = run_watch(date.fromisoformat(sys.argv[3]))
        print(result.total, result.notifications, result.locked_out)
    """
)


@pytest.mark.parametrize("lock", ["with-lock", "without-lock"])
def test_two_watch_processes_at_once_notify_each_licence_once(app, make_user, people, database_url, tmp_path, lock):
    companies = []
    for _ in range(4):
        company, portal = gen_company(app, make_user, rep=people["rep"])
        companies.append((company, portal))
        for days in (-2, 10, 70):
            gen_licence(app, company, TODAY + timedelta(days=days), number=f"N{next(_numbers)}")
    start_at = str(time.time() + 4)  # both processes run at this instant
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CRM_INSTANCE_DIR": str(tmp_path)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WATCHER, database_url, start_at, TODAY.isoformat(), lock],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err for _out, err in outputs]
    # Between them the two runs flagged each of the 12 licences once (usually one run did it all).
    assert sum(int(out.split()[0]) for out, _err in outputs) == 12

    with app.app_context():
        rows = db.session.execute(
            select(Notification.user_id, Notification.kind, Notification.record_id, Notification.message)
        ).all()
    assert set(Counter(rows).values()) == {1}  # nothing twice
    rep, manager = people["rep"].id, people["manager"].id
    expected = Counter()
    for company, portal in companies:
        for user in (rep, *portal):
            expected[user, EXPIRED, company] += 1
            expected[user, EXPIRING, company] += 2
        expected[manager, EXPIRED, company] += 1
    assert sent(app) == expected


# --- the report ---------------------------------------------------------------


@pytest.fixture
def report(app, make_user, people, monkeypatch):
    """Licences at a Shenzhen and a Beijing distributor; the report's today is TODAY."""
    monkeypatch.setattr("crm.distributors.views_licences.local_today", lambda: TODAY)
    shenzhen, _ = gen_company(app, make_user, rep=people["rep"], name="深圳南山医药")
    beijing, _ = gen_company(app, make_user, territory="110101", name="北京东城医药")
    ids = {
        "expired": gen_licence(app, shenzhen, TODAY - timedelta(days=3), number="SZ-EXPIRED"),
        "within_30": gen_licence(app, shenzhen, TODAY + timedelta(days=12), DocumentKind.GSP_CERTIFICATE),
        "within_90": gen_licence(app, shenzhen, TODAY + timedelta(days=75), number="SZ-75"),
        "far": gen_licence(app, shenzhen, TODAY + timedelta(days=200), number="SZ-FAR"),
        "superseded": gen_licence(app, shenzhen, TODAY - timedelta(days=30), superseded=True, number="SZ-OLD"),
        "beijing": gen_licence(app, beijing, TODAY + timedelta(days=40), number="BJ-40"),
    }
    return {"shenzhen": shenzhen, "beijing": beijing, "ids": ids}


def rows_of(page: str) -> list[tuple[int, str]]:
    return [(int(i), level) for i, level in re.findall(r'data-licence="(\d+)" data-level="(\w+)"', page)]


def test_report_lists_expired_and_expiring_licences_soonest_first(app, client, people, report):
    ids = report["ids"]
    login(client, people["admin"])
    response = client.get("/distributors/licences")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert rows_of(page) == [
        (ids["expired"], "expired"),
        (ids["within_30"], "within_30"),
        (ids["beijing"], "within_90"),
        (ids["within_90"], "within_90"),
    ]
    for shown in ("深圳南山医药", "北京东城医药", "SZ-EXPIRED", "2026-11-28", 'data-days="-3"'):
        assert shown in page
    assert f'href="/distributors/{report["shenzhen"]}"' in page
    assert "SZ-FAR" not in page
    assert "SZ-OLD" not in page


def test_report_filters_by_level(app, client, people, report):
    ids = report["ids"]
    login(client, people["admin"])
    page = client.get("/distributors/licences?level=within_90").get_data(as_text=True)
    assert rows_of(page) == [(ids["beijing"], "within_90"), (ids["within_90"], "within_90")]
    page = client.get("/distributors/licences?level=expired").get_data(as_text=True)
    assert rows_of(page) == [(ids["expired"], "expired")]
    # A hand-made filter value shows everything rather than failing.
    assert len(rows_of(client.get("/distributors/licences?level=bogus").get_data(as_text=True))) == 4


def test_report_searches_company_or_number_within_reach_and_keeps_the_level(app, client, people, report):
    ids = report["ids"]
    login(client, people["admin"])
    page = client.get("/distributors/licences?q=北京").get_data(as_text=True)
    assert rows_of(page) == [(ids["beijing"], "within_90")]
    page = client.get("/distributors/licences?q=SZ-75&level=within_90").get_data(as_text=True)
    assert rows_of(page) == [(ids["within_90"], "within_90")]
    assert 'data-testid="licence-filters"' in page
    assert '<option value="within_90" selected>' in page
    assert rows_of(client.get("/distributors/licences?q=SZ-75&level=expired").get_data(as_text=True)) == []
    # A rep of Shenzhen searching for Beijing's licence finds nothing: the search stays in reach.
    rep = app.test_client()
    login(rep, people["rep"])
    page = rep.get("/distributors/licences?q=BJ-40").get_data(as_text=True)
    assert rows_of(page) == []
    assert "没有符合条件的证照。" in page


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("manager", {"expired", "within_30", "within_90"}),
        ("rep", {"expired", "within_30", "within_90"}),
        ("beijing_manager", {"beijing"}),
        ("beijing_rep", {"beijing"}),
    ],
)
def test_report_shows_only_the_users_territories(app, client, people, report, who, sees):
    login(client, people[who])
    page = client.get("/distributors/licences").get_data(as_text=True)
    assert {i for i, _level in rows_of(page)} == {report["ids"][name] for name in sees}


@pytest.mark.parametrize("role", [Role.SERVICE, Role.DISTRIBUTOR])
def test_report_is_not_for_service_or_the_portal(app, client, make_user, people, report, role):
    user = make_user(role, company_id=report["shenzhen"] if role == Role.DISTRIBUTOR else None)
    login(client, user)
    assert client.get("/distributors/licences").status_code == 403


def test_report_pages_and_issues_a_constant_number_of_queries(app, client, make_user, people):
    login(client, people["manager"])
    company, _ = gen_company(app, make_user, rep=people["rep"])
    gen_licence(app, company, TODAY + timedelta(days=5))
    few = statements_of_page(app, client, "/distributors/licences")
    for n in range(6):
        other, _ = gen_company(app, make_user, rep=people["rep"], territory="440304" if n % 2 else "440305")
        gen_licence(app, other, TODAY + timedelta(days=n), DocumentKind.GSP_CERTIFICATE)
    many = statements_of_page(app, client, "/distributors/licences")
    assert len(many) == len(few)

    app.config["PAGE_SIZE"], size = 3, app.config["PAGE_SIZE"]
    try:
        first = client.get("/distributors/licences").get_data(as_text=True)
        third = client.get("/distributors/licences?page=3").get_data(as_text=True)
    finally:
        app.config["PAGE_SIZE"] = size
    assert (len(rows_of(first)), len(rows_of(third))) == (3, 1)
    assert "page=2" in first


def test_the_distributor_page_partial_lists_the_licences_with_their_levels(app, make_user, people):
    company, _ = gen_company(app, make_user, rep=people["rep"])
    later = gen_licence(app, company, TODAY + timedelta(days=300), number="LATER")
    soon = gen_licence(app, company, TODAY, DocumentKind.GSP_CERTIFICATE, number="TODAY")
    gen_licence(app, company, TODAY - timedelta(days=9), superseded=True, number="OLD")
    with app.test_request_context("/"):
        html = render_template("distributors/_licences.html", documents=licences_of(company), today=TODAY)
        heading = gettext("Last valid day")  # in the page's language (Chinese by default)
    assert rows_of(html) == [(soon, "within_30"), (later, "valid")]
    assert heading in html
    assert "OLD" not in html
    with app.test_request_context("/"):
        empty = render_template("distributors/_licences.html", documents=[], today=TODAY)
    assert "data-licence" not in empty


def test_the_scheduler_runs_the_watch_daily_and_at_start(app):
    from crm.scheduler import build_scheduler

    job = build_scheduler(app).get_job("licence_watch")
    assert str(job.trigger.fields[job.trigger.FIELD_NAMES.index("hour")]) == str(app.config["LICENCE_WATCH_HOUR"])
    assert job.next_run_time is not None


def test_operators_can_run_the_watch_now(app, runner, make_user, people):
    company, _portal = gen_company(app, make_user, rep=people["rep"])
    gen_licence(app, company, local_today() - timedelta(days=1))
    result = runner.invoke(args=["crm", "licence-watch"])
    assert result.exit_code == 0, result.output
    assert "1 expired" in result.output
    assert "nothing new to flag" in runner.invoke(args=["crm", "licence-watch"]).output
