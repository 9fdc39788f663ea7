"""The draft agreement an approval creates, and how a manager edits it before signing."""

from __future__ import annotations

import html
from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.time import local_today
from crm.distributors import onboarding
from crm.distributors.models import Agreement, AgreementContact, Distributor, QualificationDocument
from crm.extensions import db
from crm.screening.models import ScreeningCase
from tests.helpers import login, post


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def version_of(app, agreement_id: int) -> int:
    with app.app_context():
        return db.session.get(Agreement, agreement_id).version


def terms(app, agreement_id: int) -> tuple:
    with app.app_context():
        a = db.session.get(Agreement, agreement_id)
        return (a.starts_on, a.ends_on, a.annual_target, a.deposit, a.price_policy, a.version)


def test_approval_creates_the_onboarding_distributor_and_a_numbered_draft(app, factory, people, products):
    first = factory.draft([(products["丹参滴丸"], "440305", True), (products["阿莫西林胶囊"], "440300", False)])
    second = factory.draft([(products["丹参滴丸"], "440304", False)])
    with app.app_context():
        distributor = db.session.get(Distributor, first.distributor_id)
        case = db.session.get(ScreeningCase, first.case_id)
        assert distributor.state == "onboarding"
        assert (distributor.name, distributor.uscc, distributor.territory_code, distributor.lead_id) == (
            case.company_name,
            case.uscc,
            "440305",
            case.lead_id,
        )
        assert distributor.assignee_id == people[Role.REP].id
        assert case.distributor_id == distributor.id
        documents = db.session.scalars(select(QualificationDocument).where(QualificationDocument.case_id == case.id))
        assert {d.distributor_id for d in documents} == {distributor.id}
        agreement = db.session.get(Agreement, first.agreement_id)
        year = local_today().year
        assert agreement.number == f"ZS-{year}-0001"
        assert db.session.get(Agreement, second.agreement_id).number == f"ZS-{year}-0002"
        assert (agreement.status.value, agreement.case_id, agreement.starts_on) == ("draft", case.id, local_today())
        assert agreement.ends_on > agreement.starts_on + timedelta(days=360)
        assert [(li.territory_code, li.exclusive, li.code_lo, li.code_hi) for li in agreement.lines] == [
            ("440305", True, "440305", "440305"),
            ("440300", False, "440300", "440399"),
        ]
        assert [(c.name, c.phone) for c in agreement.contacts] == [("张经理", "+8613800138000")]


def test_numbers_continue_after_the_highest_of_the_year(app, factory, products):
    with app.app_context():
        year = local_today().year
        distributor = db.session.get(
            Distributor, factory.draft([(products["丹参滴丸"], "440305", False)]).distributor_id
        )
        db.session.add(Agreement(number=f"ZS-{year}-0041", distributor_id=distributor.id))
        db.session.commit()
    made = factory.draft([(products["丹参滴丸"], "440304", False)])
    with app.app_context():
        assert db.session.get(Agreement, made.agreement_id).number == f"ZS-{year}-0042"


def test_manager_edits_the_terms(app, client, factory, people, products):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    form = client.get(f"/distributors/agreements/{made.agreement_id}/edit")
    assert form.status_code == 200
    version = version_of(app, made.agreement_id)
    response = post(
        client,
        f"/distributors/agreements/{made.agreement_id}/edit",
        {
            "seen_version": version,
            "starts_on": "2027-01-01",
            "ends_on": "2027-12-31",
            "annual_target": "1,000,000",
            "deposit": "50000.50",
            "price_policy": "开票价 18.5 元/盒",
        },
    )
    assert response.status_code == 303
    assert terms(app, made.agreement_id) == (
        date(2027, 1, 1),
        date(2027, 12, 31),
        Decimal("1000000.00"),
        Decimal("50000.50"),
        "开票价 18.5 元/盒",
        version + 1,
    )
    detail = page_text(client.get(f"/distributors/{made.distributor_id}"))
    assert "¥1,000,000.00" in detail
    assert "¥50,000.50" in detail
    assert "开票价 18.5 元/盒" in detail


def said(app, msgid: str, **values) -> str:
    """The message as the (Chinese by default) page shows it; field labels translated alike."""
    with app.test_request_context(), force_locale("zh_CN"):
        return gettext(msgid, **{k: gettext(v) for k, v in values.items()})


PLAIN = "%(field)s: enter an amount in yuan as plain digits, e.g. 1000000 or 1,000,000.00."


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("annual_target", "100万", (PLAIN, {"field": "Annual target"})),
        ("deposit", "-5000", (PLAIN, {"field": "Market deposit"})),
        ("deposit", "1.234", (PLAIN, {"field": "Market deposit"})),
        ("annual_target", "99999999999999", ("%(field)s is too large.", {"field": "Annual target"})),
        ("ends_on", "2026-12-31", ("The agreement must end after it starts.", {})),
        ("ends_on", "", ("Enter the first and the last day of the agreement.", {})),
    ],
)
def test_bad_terms_are_refused_with_a_message_and_change_nothing(
    app, client, factory, people, products, field, value, message
):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    before = terms(app, made.agreement_id)
    data = {
        "seen_version": before[-1],
        "starts_on": "2027-01-01",
        "ends_on": "2027-12-31",
        "annual_target": "100",
        "deposit": "100",
    }
    data[field] = value
    response = post(client, f"/distributors/agreements/{made.agreement_id}/edit", data)
    assert response.status_code == 200
    assert said(app, message[0], **message[1]) in page_text(response)
    assert terms(app, made.agreement_id) == before


def test_stale_term_edit_answers_409(app, client, factory, people, products):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    version = version_of(app, made.agreement_id)
    fields = {"starts_on": "2027-01-01", "ends_on": "2027-12-31"}
    assert (
        post(
            client, f"/distributors/agreements/{made.agreement_id}/edit", {"seen_version": version, **fields}
        ).status_code
        == 303
    )
    before = terms(app, made.agreement_id)
    stale = post(
        client,
        f"/distributors/agreements/{made.agreement_id}/edit",
        {"seen_version": version, **fields, "price_policy": "旧页面"},
    )
    assert stale.status_code == 409
    assert terms(app, made.agreement_id) == before


def test_a_line_added_on_a_stale_page_answers_409(app, client, factory, people, products):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    version = version_of(app, made.agreement_id)
    ok = post(
        client,
        f"/distributors/agreements/{made.agreement_id}/contacts",
        {"seen_version": version, "name": "王会计", "phone": "13900139000"},
    )
    assert ok.status_code == 303
    stale = post(
        client,
        f"/distributors/agreements/{made.agreement_id}/lines",
        {"seen_version": version, "product_id": products["阿莫西林胶囊"], "territory_code": "440304"},
    )
    assert stale.status_code == 409
    with app.app_context():
        assert len(db.session.get(Agreement, made.agreement_id).lines) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "phone": "13900139000"}, "Enter the contact's name."),
        ({"name": "王会计", "phone": "12345"}, "is not valid"),
        ({"name": "王会计", "email": "not-an-email"}, "is not valid"),
    ],
)
def test_bad_contacts_are_refused(app, client, factory, people, products, data, message):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    response = post(
        client,
        f"/distributors/agreements/{made.agreement_id}/contacts",
        {"seen_version": version_of(app, made.agreement_id), **data},
    )
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AgreementContact)) == 1


@pytest.mark.parametrize(
    ("product", "code"),
    [("none", "440305"), ("丹参滴丸", "999999"), ("丹参滴丸", "440305")],
    ids=["no-product", "no-territory", "duplicate"],
)
def test_bad_lines_are_refused(app, client, factory, people, products, product, code):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    response = post(
        client,
        f"/distributors/agreements/{made.agreement_id}/lines",
        {
            "seen_version": version_of(app, made.agreement_id),
            "product_id": products.get(product, "x"),
            "territory_code": code,
        },
    )
    assert response.status_code == 303
    with app.app_context():
        assert len(db.session.get(Agreement, made.agreement_id).lines) == 1


def test_removing_a_line_and_a_contact(app, client, factory, people, products):
    made = factory.draft([(products["丹参滴丸"], "440305", False), (products["阿莫西林胶囊"], "440305", False)])
    login(client, people[Role.MANAGER])
    with app.app_context():
        agreement = db.session.get(Agreement, made.agreement_id)
        line_id, contact_id = agreement.lines[0].id, agreement.contacts[0].id
    assert (
        post(
            client,
            f"/distributors/agreements/{made.agreement_id}/lines/{line_id}/remove",
            {"seen_version": version_of(app, made.agreement_id)},
        ).status_code
        == 303
    )
    assert (
        post(
            client,
            f"/distributors/agreements/{made.agreement_id}/contacts/{contact_id}/remove",
            {"seen_version": version_of(app, made.agreement_id)},
        ).status_code
        == 303
    )
    with app.app_context():
        agreement = db.session.get(Agreement, made.agreement_id)
        assert [li.product_id for li in agreement.lines] == [products["阿莫西林胶囊"]]
        assert agreement.contacts == []


def test_service_refuses_users_who_may_not_change_agreements(app, factory, people, products):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    with app.app_context():
        agreement = db.session.get(Agreement, made.agreement_id)
        rep = db.session.get(User, people[Role.REP].id)
        with pytest.raises(onboarding.BusinessError):
            onboarding.sign_agreement(agreement, rep, agreement.version)
        with pytest.raises(onboarding.BusinessError):
            onboarding.update_agreement(
                agreement, rep, agreement.version, date(2027, 1, 1), date(2027, 2, 1), "", "", ""
            )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1000000", Decimal("1000000")), ("1,000,000.5", Decimal("1000000.5")), (" ", None), ("0", Decimal("0"))],
)
def test_money_parsing(app, raw, expected):
    with app.test_request_context():
        assert onboarding.parse_money(raw, "x") == expected


def test_a_case_of_a_company_that_already_is_a_distributor_is_refused(app, factory, people, products):
    first = factory.draft([(products["丹参滴丸"], "440305", False)])
    case_id = factory.approved_case([(products["丹参滴丸"], "440304", False)])
    with app.app_context():
        case = db.session.get(ScreeningCase, case_id)
        case.uscc = db.session.get(Distributor, first.distributor_id).uscc
        db.session.commit()
        manager = db.session.get(User, people[Role.MANAGER].id)
        with pytest.raises(onboarding.BusinessError) as refused:
            onboarding.create_from_case(db.session.get(ScreeningCase, case_id), manager)
        assert "深圳测试医药1有限公司" in refused.value.message


def test_a_number_taken_by_a_concurrent_approval_is_retried(app, factory, products, monkeypatch):
    """Two approvals that read the same max(): the second insert hits the unique number and takes the next."""
    first = factory.draft([(products["丹参滴丸"], "440305", False)])
    real = onboarding._last_number
    reads = []

    def stale_then_real(prefix):
        reads.append(prefix)
        return None if len(reads) == 1 else real(prefix)  # the first read missed the other's commit

    monkeypatch.setattr(onboarding, "_last_number", stale_then_real)
    second = factory.draft([(products["丹参滴丸"], "440304", False)])
    year = local_today().year
    with app.app_context():
        numbers = [db.session.get(Agreement, m.agreement_id).number for m in (first, second)]
        assert numbers == [f"ZS-{year}-0001", f"ZS-{year}-0002"]
        assert len(db.session.get(Agreement, second.agreement_id).lines) == 1
        assert len(db.session.get(Agreement, second.agreement_id).contacts) == 1
    assert len(reads) == 2
