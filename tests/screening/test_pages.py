"""The screening pages as users meet them: opening a case, documents, scores, gates, approvals, the policy."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.time import local_today
from crm.distributors.models import QualificationDocument
from crm.extensions import db
from crm.leads.models import Campaign, Channel, Lead
from crm.leads.services import ContactInput, create_lead
from crm.screening import services
from crm.screening.gates import policy
from crm.screening.models import ScreeningCase
from crm.workflow import engine
from tests.helpers import csrf_token, login, statements_of_page, valid_uscc
from tests.screening.conftest import DIRECTOR, EXE, PDF, PNG, get_case, key_region, upload, user

BEIJING_REP = "beijing_rep"


@pytest.fixture
def staff(app, people, make_user):
    """The screening people, all reading English, plus a rep of Beijing."""
    everyone = {**people, BEIJING_REP: make_user(Role.REP, territories=["110000"])}
    with app.app_context():
        for ref in everyone.values():
            db.session.get(User, ref.id).locale = "en"
        db.session.commit()
    return everyone


def signed_in(app, ref):
    client = app.test_client()
    assert login(client, ref).status_code == 302
    return client


def send(client, path, data=None, **kwargs):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client)}, **kwargs)


def text(response) -> str:
    return response.get_data(as_text=True)


def version(app, case_id) -> str:
    with app.app_context():
        return str(get_case(case_id).version)


def documents_of(app, case_id) -> list[QualificationDocument]:
    with app.app_context():
        rows = db.session.scalars(
            select(QualificationDocument)
            .where(QualificationDocument.case_id == case_id)
            .order_by(QualificationDocument.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def document_dir(app) -> Path:
    return Path(app.instance_path) / "uploads" / services.DOCUMENT_AREA


def stored_files(app) -> set[str]:
    directory = document_dir(app)
    return set(os.listdir(directory)) if directory.exists() else set()


def upload_form(app, case_id, content=PDF, name="营业执照.pdf", **fields):
    return {
        "seen_version": version(app, case_id),
        "kind": "business_licence",
        "file": (io.BytesIO(content), name),
        **fields,
    }


def post_document(client, case_id, data):
    return send(client, f"/screening/{case_id}/documents", data, content_type="multipart/form-data")


# -- opening a case ----------------------------------------------------------------------


def applied_lead(app, rep_id) -> int:
    with app.app_context():
        campaign = Campaign(name="2026 秋季药交会", channel=Channel.TRADE_SHOW)
        db.session.add(campaign)
        db.session.flush()
        rep = db.session.get(User, rep_id)
        lead = create_lead(
            rep,
            company_name="深圳南山仁和医药有限公司",
            territory_code="440305",
            campaign_id=campaign.id,
            uscc=valid_uscc(),
            address="南山大道1号",
            contacts=[ContactInput("李经理", phones=["13912345678"])],
            allow_duplicate=True,
        )
        for event in ("contact", "show_intent", "apply"):
            engine.apply_event(lead, event, rep, seen_version=lead.version)
        db.session.commit()
        return lead.id


def test_a_rep_starts_screening_from_an_applied_lead(app, staff):
    lead_id = applied_lead(app, staff[Role.REP].id)
    client = signed_in(app, staff[Role.REP])
    page = text(client.get(f"/leads/{lead_id}"))
    assert f"/screening/new?lead_id={lead_id}" in page

    form = text(client.get(f"/screening/new?lead_id={lead_id}"))
    assert "深圳南山仁和医药有限公司" in form
    # The form fills in the lead's phone as people read it, not in the stored E.164 form.
    assert 'value="139 1234 5678"' in form
    assert "+86" not in form
    response = send(client, "/screening/new", {"lead_id": lead_id, "summary": "有二十家药店"})
    assert response.status_code == 303, text(response)
    case_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    with app.app_context():
        case = get_case(case_id)
        lead = db.session.get(Lead, lead_id)
        assert (case.company_name, case.uscc, case.territory_code) == (lead.company_name, lead.uscc, "440305")
        assert (case.contact_name, case.contact_phone, case.address) == ("李经理", "+8613912345678", "南山大道1号")
        assert (case.state, case.assignee_id, case.lead_id) == ("draft", staff[Role.REP].id, lead_id)
    case_page = text(client.get(f"/screening/{case_id}"))
    assert f'href="/leads/{lead_id}"' in case_page
    # The phone reads as on the lead page, in the national format; E.164 only in the tel: link.
    assert "139 1234 5678" in case_page
    assert case_page.count("+8613912345678") == case_page.count('href="tel:+8613912345678"')
    edit_form = text(client.get(f"/screening/{case_id}/edit"))
    assert 'value="139 1234 5678"' in edit_form
    assert "+86" not in edit_form
    # One open case per lead: the link is gone and a second case is refused.
    assert "/screening/new?lead_id=" not in text(client.get(f"/leads/{lead_id}"))
    again = send(client, "/screening/new", {"lead_id": lead_id})
    assert again.status_code == 200
    assert f"already has an open screening case (#{case_id})" in text(again)


def test_a_lead_that_has_not_applied_is_not_screened(app, staff):
    with app.app_context():
        campaign = Campaign(name="推介会", channel=Channel.CONFERENCE)
        db.session.add(campaign)
        db.session.flush()
        lead = create_lead(
            db.session.get(User, staff[Role.REP].id),
            company_name="深圳宝安医药",
            territory_code="440306",
            campaign_id=campaign.id,
        )
        db.session.commit()
        lead_id = lead.id
    client = signed_in(app, staff[Role.REP])
    assert "/screening/new?lead_id=" not in text(client.get(f"/leads/{lead_id}"))
    response = send(client, "/screening/new", {"lead_id": lead_id})
    assert response.status_code == 200
    assert "Only a lead that has applied" in text(response)
    with app.app_context():
        assert db.session.scalar(select(func.count(ScreeningCase.id))) == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"company_name": "", "territory_code": "440305"}, "Enter the company name."),
        ({"territory_code": "110101"}, "is outside your territories"),
        ({"uscc": "91440300MA5XXXXXX1"}, "is not valid"),
        ({"contact_phone": "12345"}, "is not a valid phone number"),
    ],
)
def test_bad_input_opens_nothing(app, staff, fields, message):
    client = signed_in(app, staff[Role.REP])
    data = {"company_name": "深圳福田医药", "territory_code": "440304", **fields}
    response = send(client, "/screening/new", data)
    assert response.status_code == 200
    assert message in text(response)
    with app.app_context():
        assert db.session.scalar(select(func.count(ScreeningCase.id))) == 0


def test_a_stale_edit_answers_409(app, staff, drive_case):
    case_id = drive_case("draft")
    client = signed_in(app, staff[Role.REP])
    stale = int(version(app, case_id)) - 1
    data = {"seen_version": stale, "company_name": "改名医药", "territory_code": "440305"}
    assert send(client, f"/screening/{case_id}/edit", data).status_code == 409
    with app.app_context():
        assert get_case(case_id).company_name == "深圳南山康泰医药有限公司"
    data["seen_version"] = version(app, case_id)
    assert send(client, f"/screening/{case_id}/edit", data).status_code == 303


def test_lines_are_added_and_removed_while_drafting(app, staff, drive_case, product_id):
    case_id = drive_case("draft")
    client = signed_in(app, staff[Role.REP])
    data = {"seen_version": version(app, case_id), "product_id": product_id, "territory_code": "440306"}
    assert send(client, f"/screening/{case_id}/lines", {**data, "exclusive": "y"}).status_code == 303
    outside = send(
        client,
        f"/screening/{case_id}/lines",
        {**data, "territory_code": "440103"},
        follow_redirects=True,
    )
    assert "is outside your territories" in text(outside)
    with app.app_context():
        lines = get_case(case_id).lines
        assert [(line.territory_code, line.exclusive) for line in lines] == [("440305", False), ("440306", True)]
        line_id = lines[1].id
    response = send(client, f"/screening/{case_id}/lines/{line_id}/delete", {"seen_version": version(app, case_id)})
    assert response.status_code == 303
    with app.app_context():
        assert [line.territory_code for line in get_case(case_id).lines] == ["440305"]


# -- documents ---------------------------------------------------------------------------


def test_a_document_is_stored_under_a_server_name_and_served_to_who_may_see_the_case(app, staff, drive_case):
    case_id = drive_case("draft", documents=False)
    client = signed_in(app, staff[Role.REP])
    response = post_document(client, case_id, upload_form(app, case_id, PNG, "营业执照 扫描.png", number="9144"))
    assert response.status_code == 303, text(response)
    [document] = documents_of(app, case_id)
    assert document.stored_name.endswith(".png")
    assert "营业执照" not in document.stored_name
    assert document.original_name == "营业执照 扫描.png"
    assert (document_dir(app) / document.stored_name).read_bytes() == PNG
    url = f"/screening/{case_id}/documents/{document.id}"
    assert f'href="{url}"' in text(client.get(f"/screening/{case_id}"))

    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data == PNG
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    for who, status in (
        (Role.MANAGER, 200),
        (Role.SERVICE, 200),
        (BEIJING_REP, 404),
        (Role.DISTRIBUTOR, 403),
    ):
        assert signed_in(app, staff[who]).get(url).status_code == status, who
    # A rep outside the territory does not learn that the case exists either.
    assert signed_in(app, staff[BEIJING_REP]).get(f"/screening/{case_id}").status_code == 404
    # A document is reachable only through its own case.
    other = drive_case("draft", documents=False)
    assert client.get(f"/screening/{other}/documents/{document.id}").status_code == 404


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (EXE, "licence.pdf"),  # a renamed executable
        (EXE, "licence.exe"),
        (b"GIF89a" + b"\x00" * 50, "scan.gif"),
        (b"<html><script>alert(1)</script>", "licence.pdf"),
    ],
)
def test_a_file_that_is_not_a_pdf_or_image_is_refused_whatever_its_name(app, staff, drive_case, content, name):
    case_id = drive_case("draft", documents=False)
    before = stored_files(app)
    client = signed_in(app, staff[Role.REP])
    response = post_document(client, case_id, upload_form(app, case_id, content, name))
    assert response.status_code == 303
    page = text(client.get(response.headers["Location"]))
    assert "The file must be a PDF, JPEG or PNG scan" in page
    assert documents_of(app, case_id) == []
    assert stored_files(app) == before


def test_an_oversized_file_is_refused(app, staff, drive_case, monkeypatch):
    monkeypatch.setitem(app.config, "DOCUMENT_MAX_BYTES", 1024)
    case_id = drive_case("draft", documents=False)
    before = stored_files(app)
    client = signed_in(app, staff[Role.REP])
    response = post_document(client, case_id, upload_form(app, case_id, PDF + b"0" * 2000, "big.pdf"))
    assert "The file is too large" in text(client.get(response.headers["Location"]))
    assert documents_of(app, case_id) == []
    assert stored_files(app) == before
    assert post_document(client, case_id, upload_form(app, case_id, PDF, "small.pdf")).status_code == 303
    assert len(documents_of(app, case_id)) == 1


def test_a_path_in_the_file_name_never_reaches_the_filesystem(app, staff, drive_case):
    case_id = drive_case("draft", documents=False)
    client = signed_in(app, staff[Role.REP])
    response = post_document(client, case_id, upload_form(app, case_id, PDF, "../../etc/passwd"))
    assert response.status_code == 303
    [document] = documents_of(app, case_id)
    assert document.original_name == "passwd"
    assert "/" not in document.stored_name
    assert ".." not in document.stored_name
    assert (document_dir(app) / document.stored_name).is_file()
    assert not (document_dir(app).parent.parent / "etc" / "passwd").exists()
    windows = post_document(client, case_id, upload_form(app, case_id, PDF, "C:\\scans\\..\\licence.pdf"))
    assert windows.status_code == 303
    shown = documents_of(app, case_id)[-1].original_name
    assert "\\" not in shown
    assert "/" not in shown


def test_a_new_upload_supersedes_the_old_one_of_its_kind(app, staff, drive_case):
    case_id = drive_case("draft", documents=False)
    client = signed_in(app, staff[Role.REP])
    post_document(client, case_id, upload_form(app, case_id, PDF, "old.pdf"))
    post_document(client, case_id, upload_form(app, case_id, PDF, "new.pdf"))
    old, new = documents_of(app, case_id)
    assert old.superseded_at is not None
    assert new.superseded_at is None
    assert (document_dir(app) / old.stored_name).is_file()  # kept, never deleted
    with app.app_context():
        notes = [h.comment for h in engine.history_of(get_case(case_id)) if h.event == "document"]
        assert notes == ["Business licence uploaded: old.pdf", "Business licence uploaded: new.pdf"]


def test_an_expired_licence_is_refused(app, staff, drive_case):
    case_id = drive_case("draft", documents=False)
    client = signed_in(app, staff[Role.REP])
    yesterday = (local_today() - timedelta(days=1)).isoformat()
    data = upload_form(app, case_id, kind="drug_trading_licence", expires_on=yesterday)
    response = post_document(client, case_id, data)
    assert "expired on" in text(client.get(response.headers["Location"]))
    assert documents_of(app, case_id) == []


def test_needs_info_lets_the_rep_add_documents(app, staff, drive_case):
    case_id = drive_case("needs_info")
    client = signed_in(app, staff[Role.REP])
    page = text(client.get(f"/screening/{case_id}"))
    assert 'data-event="provide_info"' in page
    assert "Waiting for information" in page
    data = upload_form(app, case_id, kind="gsp_certificate")
    assert post_document(client, case_id, data).status_code == 303
    assert documents_of(app, case_id)[-1].kind.value == "gsp_certificate"
    response = send(client, f"/screening/{case_id}/events/provide_info", {"seen_version": version(app, case_id)})
    assert response.status_code == 303
    with app.app_context():
        assert get_case(case_id).state == "reviewing"


# -- scores, gates, decisions --------------------------------------------------------------


def test_the_case_page_shows_each_gate_with_its_reason(app, staff, drive_case):
    case_id = drive_case("reviewing", scored=False)
    client = signed_in(app, staff[Role.MANAGER])
    page = text(client.get(f"/screening/{case_id}"))
    assert 'data-gate="licences_valid" data-passed="yes"' in page
    assert 'data-gate="score_passes" data-passed="no"' in page
    assert "Not scored yet: Capital strength" in page
    assert "Cannot approve yet:" in page
    assert 'data-event="approve"' not in page

    for criterion in ("capital", "resources", "logistics", "terminals", "thinking"):
        data = {"seen_version": version(app, case_id), "criterion": criterion, "score": "70", "note": "实地看过"}
        assert send(client, f"/screening/{case_id}/scores", data).status_code == 303
    page = text(client.get(f"/screening/{case_id}"))
    assert 'data-gate="score_passes" data-passed="yes"' in page
    assert "Weighted score 70.0, pass mark 60." in page
    assert 'data-event="approve"' in page


@pytest.mark.parametrize(
    ("score", "note", "message"),
    [("101", "太高", "Score (0–100)"), ("80", "", "Note"), ("abc", "x", "Score (0–100)")],
)
def test_a_bad_score_changes_nothing(app, staff, drive_case, score, note, message):
    case_id = drive_case("reviewing", scored=False)
    client = signed_in(app, staff[Role.MANAGER])
    data = {"seen_version": version(app, case_id), "criterion": "capital", "score": score, "note": note}
    response = send(client, f"/screening/{case_id}/scores", data, follow_redirects=True)
    assert message in text(response)
    with app.app_context():
        assert get_case(case_id).scores == []


def test_a_rep_cannot_score(app, staff, drive_case):
    case_id = drive_case("reviewing", scored=False)
    data = {"seen_version": version(app, case_id), "criterion": "capital", "score": "80", "note": "x"}
    assert send(signed_in(app, staff[Role.REP]), f"/screening/{case_id}/scores", data).status_code == 403


def test_buttons_move_the_case_and_a_refusal_says_why(app, staff, drive_case):
    case_id = drive_case("draft")
    rep = signed_in(app, staff[Role.REP])
    assert 'data-event="submit"' in text(rep.get(f"/screening/{case_id}"))
    assert send(rep, f"/screening/{case_id}/events/submit", {"seen_version": version(app, case_id)}).status_code == 303
    manager = signed_in(app, staff[Role.MANAGER])
    send(manager, f"/screening/{case_id}/events/pick_up", {"seen_version": version(app, case_id)})
    refused = send(
        manager,
        f"/screening/{case_id}/events/request_info",
        {"seen_version": version(app, case_id)},
        follow_redirects=True,
    )
    assert "needs a comment" in text(refused)
    with app.app_context():
        assert get_case(case_id).state == "reviewing"
    stale = send(manager, f"/screening/{case_id}/events/reject", {"seen_version": "1", "comment": "资金不足"})
    assert stale.status_code == 409
    assert (
        send(manager, f"/screening/{case_id}/events/approve", {"seen_version": version(app, case_id)}).status_code
        == 404
    )


def test_approval_creates_the_onboarding_distributor(app, staff, drive_case):
    pytest.importorskip("crm.distributors.onboarding")
    case_id = drive_case("reviewing")
    client = signed_in(app, staff[Role.MANAGER])
    response = send(client, f"/screening/{case_id}/approve", {"seen_version": version(app, case_id), "comment": "同意"})
    assert response.status_code == 303
    page = text(client.get(response.headers["Location"]))
    assert "is now a distributor in onboarding" in page, page
    with app.app_context():
        case = get_case(case_id)
        assert (case.state, case.approved_by_id) == ("approved", staff[Role.MANAGER].id)
        assert case.distributor is not None
        assert case.distributor.state == "onboarding"
        assert {d.distributor_id for d in case.documents} == {case.distributor_id}


def test_a_refused_approval_changes_nothing_and_says_why(app, staff, drive_case):
    case_id = drive_case("reviewing", documents=False)
    client = signed_in(app, staff[Role.MANAGER])
    response = send(client, f"/screening/{case_id}/approve", {"seen_version": version(app, case_id)})
    assert "drug-trading licence" in text(client.get(response.headers["Location"]))
    with app.app_context():
        case = get_case(case_id)
        assert (case.state, case.distributor_id, case.approved_by_id) == ("reviewing", None, None)


# -- lists -------------------------------------------------------------------------------------


def test_the_approvals_inbox_puts_the_nearest_deadline_first(app, staff, drive_case):
    late = drive_case("submitted")
    early = drive_case("reviewing")
    recommended = drive_case("recommended")
    with app.app_context():
        a, b, c = get_case(late), get_case(early), get_case(recommended)
        a.sla_due_at = b.sla_due_at + timedelta(days=3)
        c.sla_due_at = None
        db.session.commit()
    drive_case("draft")  # not waiting on a manager
    manager_page = text(signed_in(app, staff[Role.MANAGER]).get("/screening/approvals"))
    order = [manager_page.index(f'data-case="{i}"') for i in (early, late, recommended)]
    assert order == sorted(order)
    assert manager_page.count("data-case=") == 3
    assert "Recommended cases are decided by a director." in manager_page
    assert "you may decide" not in manager_page
    assert "you may decide" in text(signed_in(app, staff[DIRECTOR]).get("/screening/approvals"))
    assert signed_in(app, staff[Role.REP]).get("/screening/approvals").status_code == 403


def test_the_list_is_scoped_and_filtered(app, staff, drive_case):
    mine = drive_case("draft")
    reviewing = drive_case("reviewing")
    with app.app_context():
        admin = user(staff, Role.ADMIN)
        services.open_case(admin, company_name="北京东城医药", territory_code="110101")
        db.session.commit()
    rep_page = text(signed_in(app, staff[Role.REP]).get("/screening/"))
    assert rep_page.count("data-case=") == 2
    assert "北京东城医药" not in rep_page
    beijing = text(signed_in(app, staff[BEIJING_REP]).get("/screening/"))
    assert beijing.count("data-case=") == 1
    filtered = text(signed_in(app, staff[Role.MANAGER]).get("/screening/?state=reviewing"))
    assert f'data-case="{reviewing}"' in filtered
    assert f'data-case="{mine}"' not in filtered


def test_the_list_issues_the_same_queries_for_few_and_many_cases(app, staff, drive_case):
    client = signed_in(app, staff[Role.MANAGER])
    drive_case("submitted")  # a running deadline: the badge reads the calendar once per page
    few = len(statements_of_page(app, client, "/screening/"))
    for state in ("submitted", "reviewing", "draft", "needs_info"):
        drive_case(state)
    assert len(statements_of_page(app, client, "/screening/")) == few
    inbox = len(statements_of_page(app, client, "/screening/approvals"))
    drive_case("submitted")
    drive_case("reviewing")
    assert len(statements_of_page(app, client, "/screening/approvals")) == inbox


# -- the policy ------------------------------------------------------------------------------


def policy_form(app, **overrides):
    with app.app_context():
        rules = policy()
        db.session.commit()
        data = {
            "seen_version": str(rules.version),
            "weight_capital": "25",
            "weight_resources": "20",
            "weight_logistics": "15",
            "weight_terminals": "25",
            "weight_thinking": "15",
            "pass_threshold": "60",
            "licence_min_days": "90",
        }
    return {**data, **overrides}


def test_weights_change_the_weighted_score_and_the_gate(app, staff, drive_case):
    case_id = drive_case("reviewing", scored=False)
    with app.app_context():
        case, manager = get_case(case_id), user(staff, Role.MANAGER)
        for criterion, value in (("capital", 90), ("resources", 40), ("logistics", 40), ("terminals", 40)):
            services.score(case, manager, criterion=criterion, score=value, note="见资料")
        services.score(case, manager, criterion="thinking", score=40, note="见资料")
        db.session.commit()
    manager = signed_in(app, staff[Role.MANAGER])
    # 25×90 + 75×40 = 5250 / 100 = 52.5: below 60.
    assert "Weighted score 52.5 is below the pass mark 60." in text(manager.get(f"/screening/{case_id}"))
    admin = signed_in(app, staff[Role.ADMIN])
    data = policy_form(app, weight_capital="100", weight_resources="0", weight_logistics="0", weight_terminals="0")
    data["weight_thinking"] = "0"
    assert send(admin, "/screening/policy", data).status_code == 303
    page = text(manager.get(f"/screening/{case_id}"))
    assert "Weighted score 90.0, pass mark 60." in page
    assert 'data-gate="score_passes" data-passed="yes"' in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {
                "weight_capital": "0",
                "weight_resources": "0",
                "weight_logistics": "0",
                "weight_terminals": "0",
                "weight_thinking": "0",
            },
            "At least one weight must be above 0",
        ),
        ({"weight_capital": "101"}, "Number must be between 0 and 100."),
        ({"pass_threshold": "-1"}, "Number must be between 0 and 100."),
        ({"licence_min_days": "0"}, "Number must be between 1 and 365."),
        ({"licence_min_days": "abc"}, "Not a valid integer value."),
    ],
)
def test_bad_policy_input_says_why_and_changes_nothing(app, staff, overrides, message):
    admin = signed_in(app, staff[Role.ADMIN])
    before = policy_form(app)
    response = send(admin, "/screening/policy", {**before, **overrides})
    assert response.status_code == 200
    assert message in text(response)
    assert policy_form(app) == before


def test_a_stale_policy_edit_answers_409(app, staff):
    admin = signed_in(app, staff[Role.ADMIN])
    first = policy_form(app)
    assert send(admin, "/screening/policy", {**first, "pass_threshold": "70"}).status_code == 303
    stale = send(admin, "/screening/policy", {**first, "pass_threshold": "50"})
    assert stale.status_code == 409
    with app.app_context():
        assert policy().pass_threshold == 70


def test_the_licence_days_move_the_licence_gate(app, staff, drive_case):
    case_id = drive_case("reviewing")
    with app.app_context():
        expires = local_today() + timedelta(days=200)
        rep = user(staff, Role.REP)
        services.add_document(get_case(case_id), rep, kind="drug_trading_licence", upload=upload(), expires_on=expires)
        db.session.commit()
    manager = signed_in(app, staff[Role.MANAGER])
    assert 'data-gate="licences_valid" data-passed="yes"' in text(manager.get(f"/screening/{case_id}"))
    admin = signed_in(app, staff[Role.ADMIN])
    assert send(admin, "/screening/policy", policy_form(app, licence_min_days="365")).status_code == 303
    page = text(signed_in(app, staff[Role.MANAGER]).get(f"/screening/{case_id}"))
    assert 'data-gate="licences_valid" data-passed="no"' in page
    assert "less than 365 days" in page


# -- who may ------------------------------------------------------------------------------------


def test_only_staff_with_the_screening_pages_see_them(app, staff):
    assert signed_in(app, staff[Role.DISTRIBUTOR]).get("/screening/").status_code == 403
    assert signed_in(app, staff[Role.MANAGER]).get("/screening/policy").status_code == 403


# -- directors ---------------------------------------------------------------------------------


def user_form(app, user_id, **overrides) -> dict:
    with app.app_context():
        target = db.session.get(User, user_id)
        data = {
            "seen_version": str(target.version),
            "username": target.username,
            "display_name": target.display_name,
            "role": target.role.value,
            "territories": [t.code for t in target.territories],
            "company_id": "",
        }
    return {**data, **overrides}


def test_the_admin_makes_a_manager_a_director(app, staff, drive_case):
    key_case = drive_case("recommended")
    with app.app_context():
        from crm.territories.models import Territory

        db.session.get(Territory, "440300").is_key_region = True
        db.session.commit()
    admin = signed_in(app, staff[Role.ADMIN])
    assert 'name="is_director"' in text(admin.get(f"/admin/users/{staff[Role.MANAGER].id}"))
    # A manager who did not recommend the case, not a director yet: only a director gives the second approval.
    director = staff[DIRECTOR]
    with app.app_context():
        db.session.get(User, director.id).is_director = False
        db.session.commit()
    page = text(signed_in(app, director).get(f"/screening/{key_case}"))
    assert "Only a director can give the second approval." in page
    response = send(admin, f"/admin/users/{director.id}", user_form(app, director.id, is_director="y"))
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(User, director.id).is_director
    page = text(signed_in(app, director).get(f"/screening/{key_case}"))
    assert 'data-event="approve"' in page
    # A director who stops being a manager stops being a director.
    send(admin, f"/admin/users/{director.id}", user_form(app, director.id, role="rep", is_director="y"))
    with app.app_context():
        assert not db.session.get(User, director.id).is_director


def test_the_generic_event_route_cannot_bypass_the_case_page(app, staff, drive_case):
    """Firing through /workflows/… would skip recording the submitter, whom the four-eyes gate reads."""
    case_id = drive_case("draft")
    rep = signed_in(app, staff[Role.REP])
    response = send(rep, f"/workflows/screening/{case_id}/events/submit", {"seen_version": version(app, case_id)})
    assert response.status_code == 404
    with app.app_context():
        assert (get_case(case_id).state, get_case(case_id).submitted_by_id) == ("draft", None)


def test_a_note_in_the_history_does_not_pretend_the_state_moved(app, staff, drive_case):
    case_id = drive_case("draft", documents=False)
    client = signed_in(app, staff[Role.REP])
    post_document(client, case_id, upload_form(app, case_id, PNG, "营业执照.png", number="9144"))
    page = text(client.get(f"/screening/{case_id}"))
    note = page.split('data-event="document"')[1].split("</li>")[0]
    assert "营业执照.png" in note
    assert "→" not in note
    submitted = page.split('data-event="create"')[1].split("</li>")[0]
    assert "→" not in submitted  # the first entry has no state before it either


def test_the_manager_a_case_is_taken_from_hears_who_has_it(app, people, drive_case):
    from flask_babel import force_locale

    from crm.notify.models import Notification
    from crm.notify.rendering import text_for

    case_id = drive_case("submitted")
    with app.app_context():
        reviewer = get_case(case_id).assignee_id
        assert reviewer in (people[Role.MANAGER].id, people[DIRECTOR].id)
        other = people[DIRECTOR].id if reviewer == people[Role.MANAGER].id else people[Role.MANAGER].id
        case = get_case(case_id)
        services.fire(case, "pick_up", db.session.get(User, other), seen_version=case.version)
        db.session.commit()
        taker = db.session.get(User, other)
        notes = db.session.scalars(select(Notification).where(Notification.user_id == reviewer)).all()
        sentences = [(note.kind, text_for(db.session.get(User, reviewer), note)) for note in notes]
        with force_locale("zh_CN"):
            workflow = str(ScreeningCase.__machine__.label)
            state = str(ScreeningCase.__machine__.state("reviewing").label)
    assert sentences[-1] == (
        "unassigned",
        f"{workflow}「深圳南山康泰医药有限公司」#{case_id}（{state}） 已改由 {taker.display_name} 负责，不再由您跟进",
    )


# -- issue 11 item 8: locked scores, one decision panel ------------------------------------------


def test_scores_are_locked_once_the_case_is_recommended(app, staff, drive_case):
    key_region(app)  # recommended, then approved by a director
    case_id = drive_case("recommended")
    before = {s.criterion: s.score for s in get_case_scores(app, case_id)}

    # The service refuses, whoever asks: the director reviews the scores, it does not redo them.
    with app.app_context():
        case = get_case(case_id)
        with pytest.raises(services.BusinessError, match=r"locked once the case is recommended|评分即锁定"):
            services.score(case, user(staff, DIRECTOR), criterion="capital", score=10, note="重评")
        db.session.rollback()

    director = signed_in(app, staff[DIRECTOR])
    page = text(director.get(f"/screening/{case_id}"))
    assert f'action="/screening/{case_id}/scores"' not in page  # no score form on the page
    data = {"seen_version": version(app, case_id), "criterion": "capital", "score": "10", "note": "重评"}
    response = send(director, f"/screening/{case_id}/scores", data, follow_redirects=True)
    assert "locked once the case is recommended" in text(response)
    assert {s.criterion: s.score for s in get_case_scores(app, case_id)} == before

    # The director's say is a comment on the decision.
    response = send(
        director, f"/screening/{case_id}/approve", {"seen_version": version(app, case_id), "comment": "同意，注意回款"}
    )
    assert response.status_code == 303
    with app.app_context():
        assert get_case(case_id).state == "approved"


def get_case_scores(app, case_id):
    with app.app_context():
        scores = list(get_case(case_id).scores)
        db.session.expunge_all()
        return scores


def test_the_decisions_sit_together_primary_first_each_note_with_its_action(app, staff, drive_case):
    case_id = drive_case("reviewing")
    page = text(signed_in(app, staff[Role.MANAGER]).get(f"/screening/{case_id}"))
    panel = page.split('data-testid="actions"', 1)[1].split("</section>", 1)[0]
    # Approve, ask for information and reject all live in the one panel, approve first.
    order = [panel.index(f'data-event="{e}"') for e in ("approve", "request_info", "reject")]
    assert order == sorted(order)
    assert page.count('data-event="approve"') == page.count('data-event="reject"') == 1
    # Each note box is labelled with what it is for and sits in the form of its action.
    reject_form = panel.split('data-testid="note-reject"', 1)[1].split("</form>", 1)[0]
    assert "Reason for rejection" in reject_form
    assert 'data-event="reject"' in reject_form
    info_form = panel.split('data-testid="note-request_info"', 1)[1].split("</form>", 1)[0]
    assert "What information is missing" in info_form
    assert 'data-event="request_info"' in info_form
    assert 'placeholder="Reason"' not in page


def test_the_chinese_case_page_reads_as_business_software(app, people, drive_case):
    """准入评审, not 筛选案件 (a legal case); who holds it is 当前处理人, not 对方; the table says 资质类型 | 文件."""
    case_id = drive_case("reviewing")
    page = text(signed_in(app, people[Role.MANAGER]).get(f"/screening/{case_id}"))
    assert "案件" not in page
    assert "对方" not in page
    assert "准入评审" in page
    assert "当前处理人" in page
    assert "<th>资质类型</th><th>文件</th>" in page
    assert "驳回理由" in page
    assert "需要补充的资料" in page
