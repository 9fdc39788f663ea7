"""The shared workflow pages: the index, the diagram with live counts, my overdue list, the breach report."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.sla.sweep import sweep
from crm.workflow import engine
from tests.helpers import counted_queries, login
from tests.workflow.testflow import MACHINE, TestRecord

FAR_FUTURE = datetime(2099, 1, 1)


def _counts(page: str) -> dict[str, tuple[int, int]]:
    """state → (records, overdue) from the accessible table under the diagram."""
    rows = re.findall(
        r'<tr data-state="(\w+)">.*?data-count="records">(\d+)<.*?data-count="breached">(\d+)<', page, re.S
    )
    return {state: (int(n), int(b)) for state, n, b in rows}


def _record(app, record_id) -> TestRecord:
    with app.app_context():
        return db.session.get(TestRecord, record_id)


def _sweep(app, now: datetime):
    with app.app_context():
        return sweep(now=now)


def _fire(app, record_id, event_name, user):
    with app.app_context():
        record = db.session.get(TestRecord, record_id)
        actor = db.session.get(User, user.id)
        engine.apply_event(record, event_name, actor, seen_version=record.version)
        db.session.commit()


@pytest.fixture
def signed_in(app):
    def sign_in(user):
        client = app.test_client()
        assert login(client, user).status_code == 302
        return client

    return sign_in


# -- without any workflow ----------------------------------------------------


def test_pages_work_with_no_workflow_installed(app, make_user, signed_in, monkeypatch):
    from crm.workflow import registry

    monkeypatch.setattr(registry, "_MODELS", {})
    client = signed_in(make_user(Role.ADMIN))
    index = client.get("/workflows/")
    assert index.status_code == 200
    assert 'data-testid="no-workflows"' in index.get_data(as_text=True)
    assert client.get("/workflows/overdue").status_code == 200
    assert client.get("/workflows/testflow/diagram").status_code == 404
    assert client.get("/workflows/testflow/breaches").status_code == 404


# -- diagram -----------------------------------------------------------------


@pytest.fixture
def spread(app, drive):
    """Records of the test workflow in several states, in Shenzhen and one in Beijing."""
    ids = {
        "open": [drive("open"), drive("open"), drive("open", territory="110101")],
        "working": [drive("working")],
        "waiting": [drive("waiting")],
        "closed": [drive("closed"), drive("closed")],
    }
    _sweep(app, FAR_FUTURE)  # every running deadline is long past: open ×3 and working ×1 breach
    return ids


def test_diagram_draws_every_state_with_live_counts(app, drive, spread, signed_in):
    client = signed_in(drive.users[Role.ADMIN])
    response = client.get("/workflows/testflow/diagram")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    with app.test_request_context():  # the page's language, Chinese
        labels = [str(state.label) for state in MACHINE.states]
    assert all(label in page for label in labels)
    assert _counts(page) == {
        "open": (3, 3),
        "working": (1, 1),
        "waiting": (1, 0),
        "done": (0, 0),
        "closed": (2, 0),
        "cancelled": (0, 0),
    }
    source = re.search(r'<pre class="mermaid[^"]*"[^>]*>(.*?)</pre>', page, re.S).group(1)
    assert source.startswith("stateDiagram-v2")
    assert source.count("--&gt;") == sum(len(e.sources) for e in MACHINE.events) + 1 + 2  # + start + two finals
    # The page runs Mermaid from our own files only.
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    assert "/static/vendor/mermaid-" in page
    assert "/static/js/diagram.js" in page
    assert "<script>" not in page


def test_diagram_counts_only_the_reps_territories(app, drive, spread, signed_in):
    page = signed_in(drive.users[Role.REP]).get("/workflows/testflow/diagram").get_data(as_text=True)
    assert _counts(page)["open"] == (2, 2)
    assert _counts(page)["closed"] == (2, 0)


def test_index_lists_workflows_with_scoped_counts(app, drive, spread, signed_in):
    admin_page = signed_in(drive.users[Role.ADMIN]).get("/workflows/").get_data(as_text=True)
    rep_page = signed_in(drive.users[Role.REP]).get("/workflows/").get_data(as_text=True)
    pattern = r'data-workflow="testflow">.*?data-count="records">(\d+)<.*?data-count="breached">(?:<span[^>]*>)?(\d+)<'
    assert re.search(pattern, admin_page, re.S).groups() == ("7", "4")
    assert re.search(pattern, rep_page, re.S).groups() == ("6", "3")
    assert "/workflows/testflow/breaches" in admin_page
    assert "/workflows/testflow/breaches" not in rep_page  # the report is for managers and admins


def test_diagram_is_one_query_whatever_the_number_of_records(app, drive, signed_in):
    client = signed_in(drive.users[Role.ADMIN])
    drive("open")
    few = _queries(app, lambda: client.get("/workflows/testflow/diagram"))
    for _ in range(4):
        drive("working")
    assert _queries(app, lambda: client.get("/workflows/testflow/diagram")) == few


def _queries(app, action) -> int:
    with counted_queries(app) as statements:
        assert action().status_code == 200
    return len(statements)


# -- my overdue --------------------------------------------------------------


def test_overdue_lists_my_warned_and_breached_records_oldest_first(app, drive, make_user, signed_in):
    rep = drive.users[Role.REP]
    late = drive("open")  # 4 working hours
    someone_elses = drive("open", assignee=Role.MANAGER)
    _sweep(app, FAR_FUTURE)  # both breached
    soon = drive("working")  # 18 working hours, warned at half time
    _sweep(app, _record(app, soon).sla_warn_at)
    on_time = drive("done")  # assigned to the rep, but nothing is due yet
    outside = make_user(Role.REP, territories=["110000"])  # another rep's own records: none

    page = signed_in(rep).get("/workflows/overdue").get_data(as_text=True)
    listed = re.findall(r'data-record="testflow/(\d+)" data-sla="(\w+)"', page)
    assert listed == [(str(late), "breached"), (str(soon), "warning")]
    assert f"/workflows/testflow/{late}" in page
    assert str(someone_elses) not in [record_id for record_id, _status in listed]
    assert _record(app, on_time).sla_status == "ok"

    other = signed_in(outside).get("/workflows/overdue").get_data(as_text=True)
    assert 'data-testid="empty"' in other


def test_overdue_is_a_constant_number_of_queries(app, drive, signed_in):
    client = signed_in(drive.users[Role.REP])
    drive("open")
    _sweep(app, FAR_FUTURE)
    one = _queries(app, lambda: client.get("/workflows/overdue"))
    for _ in range(3):
        drive("open")
    _sweep(app, FAR_FUTURE)
    assert _queries(app, lambda: client.get("/workflows/overdue")) == one


# -- breach report -----------------------------------------------------------


def _outcomes(page: str) -> dict[str, tuple[int, int]]:
    rows = re.findall(r'<tr data-state="(\w+)">.*?data-count="met">(\d+)<.*?data-count="breached">(\d+)<', page, re.S)
    return {state: (int(m), int(b)) for state, m, b in rows}


@pytest.fixture
def history(app, drive, make_user):
    """Open left in time ×2 and late ×2 (one of each in Beijing); three records overdue now.

    Overdue now: the record still open, and the two left in time, whose "working" has since run out.
    """
    beijing_rep = make_user(Role.REP, territories=["110000"])
    in_time = [drive("working"), drive("open", territory="110101")]
    _fire(app, in_time[1], "take", beijing_rep)
    late = [drive("open"), drive("open", territory="110101")]
    breached_now = drive("open")
    _sweep(app, FAR_FUTURE)
    _fire(app, late[0], "take", drive.users[Role.REP])
    _fire(app, late[1], "take", beijing_rep)
    return {"in_time": in_time, "late": late, "breached_now": breached_now}


def test_breach_report_counts_met_and_breached_per_state(app, drive, history, signed_in, make_user):
    admin = signed_in(drive.users[Role.ADMIN]).get("/workflows/testflow/breaches").get_data(as_text=True)
    assert _outcomes(admin) == {"open": (2, 2)}
    overdue_now = re.findall(r'<tr data-record="(\d+)">', admin)
    assert overdue_now[0] == str(history["breached_now"])  # 4 working hours: the oldest deadline
    assert sorted(overdue_now[1:]) == sorted(str(i) for i in history["in_time"])
    assert 'data-testid="breached-total">3<' in admin


def test_breach_report_is_scoped_for_a_manager(app, history, signed_in, make_user, drive):
    guangdong = drive.users[Role.MANAGER]
    page = signed_in(guangdong).get("/workflows/testflow/breaches").get_data(as_text=True)
    assert _outcomes(page) == {"open": (1, 1)}

    beijing = make_user(Role.MANAGER, territories=["110000"])
    page = signed_in(beijing).get("/workflows/testflow/breaches").get_data(as_text=True)
    assert _outcomes(page) == {"open": (1, 1)}
    assert re.findall(r'<tr data-record="(\d+)">', page) == [str(history["in_time"][1])]


def test_breach_report_date_range(app, drive, history, signed_in):
    client = signed_in(drive.users[Role.ADMIN])
    past = client.get("/workflows/testflow/breaches?from=2020-01-01&to=2020-12-31").get_data(as_text=True)
    assert _outcomes(past) == {}
    today = datetime.now().date()
    around = f"?from={(today - timedelta(days=2)).isoformat()}&to={(today + timedelta(days=2)).isoformat()}"
    assert _outcomes(client.get("/workflows/testflow/breaches" + around).get_data(as_text=True)) == {"open": (2, 2)}
    garbled = client.get("/workflows/testflow/breaches?from=yesterday&to=2020-13-45")
    assert garbled.status_code == 200


@pytest.mark.parametrize("role", [Role.REP, Role.SERVICE])
def test_breach_report_is_for_managers_and_admins(app, drive, signed_in, role):
    assert signed_in(drive.users[role]).get("/workflows/testflow/breaches").status_code == 403
