"""The distributor list, the profile as staff and as the portal sees it, and the coverage table."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.time import local_today
from crm.distributors.models import Distributor, DocumentKind, QualificationDocument
from crm.distributors.services import create_distributor
from crm.extensions import db
from crm.territories.models import Territory
from crm.workflow import engine
from tests.helpers import login, statements_of_page


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def licence(app, distributor_id: int, days: int, kind=DocumentKind.DRUG_TRADING_LICENCE) -> None:
    with app.app_context():
        db.session.add(
            QualificationDocument(
                distributor_id=distributor_id,
                kind=kind,
                expires_on=local_today() + timedelta(days=days),
                stored_name=f"l{distributor_id}{days}.pdf",
                original_name="许可证.pdf",
                content_type="application/pdf",
                size=10,
            )
        )
        db.session.commit()


def suspend(app, people, distributor_id: int) -> None:
    with app.app_context():
        distributor = db.session.get(Distributor, distributor_id)
        manager = db.session.get(User, people[Role.MANAGER].id)
        engine.apply_event(distributor, "suspend", manager, seen_version=distributor.version, comment="欠款")
        db.session.commit()


def rows(page: str) -> list[str]:
    return re.findall(r'<tr data-distributor="(\d+)"', page)


def test_list_filters_by_state_and_counts_licence_warnings(app, client, factory, people, products):
    draft = factory.draft([(products["丹参滴丸"], "440305", False)])
    signed = factory.signed([(products["阿莫西林胶囊"], "440304", False)])
    licence(app, signed.distributor_id, 10)
    licence(app, signed.distributor_id, -3, DocumentKind.GSP_CERTIFICATE)
    licence(app, draft.distributor_id, 400)
    login(client, people[Role.REP])
    page = page_text(client.get("/distributors/"))
    assert set(rows(page)) == {str(draft.distributor_id), str(signed.distributor_id)}
    assert page.count('data-testid="licence-warnings"') == 1
    active = page_text(client.get("/distributors/?state=active"))
    assert rows(active) == [str(signed.distributor_id)]
    onboarding = page_text(client.get("/distributors/?state=onboarding"))
    assert rows(onboarding) == [str(draft.distributor_id)]
    assert len(rows(page_text(client.get("/distributors/?state=nonsense")))) == 2


def licence_cell(page: str, distributor_id: int) -> str:
    row = re.search(rf'<tr data-distributor="{distributor_id}">(.*?)</tr>', page, re.S).group(1)
    return re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[3]


def test_list_says_valid_licences_are_on_file_rather_than_a_dash(app, client, factory, people, products):
    fine = factory.draft([(products["丹参滴丸"], "440305", False)])
    licence(app, fine.distributor_id, 400)
    with app.app_context():
        empty = create_distributor(
            name="未交证照医药",
            uscc=None,
            territory_code="440305",
            contact_name=None,
            actor=db.session.get(User, people[Role.ADMIN].id),
        )
        db.session.commit()
        empty_id = empty.id
    login(client, people[Role.REP])
    page = page_text(client.get("/distributors/"))
    with app.app_context():
        on_file = db.session.scalar(
            select(func.count()).where(
                QualificationDocument.distributor_id == fine.distributor_id,
                QualificationDocument.superseded_at.is_(None),
            )
        )
    assert on_file >= 1
    fine_cell = licence_cell(page, fine.distributor_id)
    assert 'data-testid="licences-valid"' in fine_cell
    assert f"有效 {on_file} 份" in fine_cell
    assert "—" not in fine_cell
    assert 'data-testid="licences-none"' in licence_cell(page, empty_id)


def test_list_issues_a_constant_number_of_queries(app, client, factory, people, products):
    factory.signed([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    few = len(statements_of_page(app, client, "/distributors/"))
    for code in ("440304", "440303", "440306"):
        made = factory.signed([(products["丹参滴丸"], code, False)])
        licence(app, made.distributor_id, 5)
    assert len(statements_of_page(app, client, "/distributors/")) == few


def test_profile_shows_agreement_case_licences_history_and_accounts(app, client, factory, people, products):
    made = factory.signed([(products["丹参滴丸"], "440305", True)])
    licence(app, made.distributor_id, 20)
    login(client, people[Role.REP])
    page = page_text(client.get(f"/distributors/{made.distributor_id}"))
    assert "丹参滴丸" in page
    assert "广东省 深圳市 南山区" in page
    assert 'data-testid="case"' in page
    assert f"#{made.case_id}" in page
    assert 'data-testid="history"' in page
    assert 'data-testid="portal-users"' in page
    assert "13800138000" in page
    assert 'data-level="within_30"' in page
    # a rep reads, but neither edits nor signs
    assert "/edit" not in page.split('data-testid="agreements"')[1]
    assert 'data-testid="add-line"' not in page


def test_draft_profile_offers_the_manager_its_forms(app, client, factory, people, products):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    page = page_text(client.get(f"/distributors/{made.distributor_id}"))
    for marker in ('data-testid="add-line"', 'data-testid="add-contact"', "/sign", 'data-testid="terminate"'):
        assert marker in page


def test_portal_sees_its_agreement_but_none_of_the_staff_side(app, client, factory, people, products, make_user):
    made = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, make_user(Role.DISTRIBUTOR, company_id=made.distributor_id))
    page = page_text(client.get("/distributors/mine"))
    assert "丹参滴丸" in page
    for hidden in (
        'data-testid="history"',
        'data-testid="case"',
        'data-testid="portal-users"',
        'data-testid="add-line"',
        'data-testid="terminate"',
        "/sign",
        "data-event=",
    ):
        assert hidden not in page


# --- coverage -----------------------------------------------------------------------


def flag_key_regions(app, codes=("440300", "440100", "440200", "110000")):
    """Flagged after the cases are approved (a key-region case needs a director's second approval)."""
    with app.app_context():
        db.session.execute(update(Territory).where(Territory.code.in_(codes)).values(is_key_region=True))
        db.session.commit()


def coverage_rows(page: str) -> dict[str, tuple[list[str], list[str]]]:
    """product name → (territory codes granted, key-region codes uncovered)."""
    found = {}
    for name, body in re.findall(r'<tr data-product="([^"]+)">(.*?)</tr>', page, re.S):
        found[name] = (re.findall(r'data-grant="(\d+)"', body), re.findall(r'data-gap="(\d+)"', body))
    return found


def test_coverage_shows_active_grants_and_key_regions_without_one(app, client, factory, people, products):
    dan, amo = products["丹参滴丸"], products["阿莫西林胶囊"]
    factory.signed([(dan, "440305", True), (dan, "440106", False)], name="南山独家医药有限公司")
    factory.draft([(amo, "440304", False)])  # not signed: no coverage
    suspended = factory.signed([(amo, "440100", False)])
    suspend(app, people, suspended.distributor_id)  # suspended: no coverage
    flag_key_regions(app)
    login(client, people[Role.MANAGER])
    response = client.get("/distributors/coverage")
    assert response.status_code == 200
    page = page_text(response)
    assert coverage_rows(page) == {
        "丹参滴丸": (["440106", "440305"], ["440200"]),
        "阿莫西林胶囊": ([], ["440100", "440200", "440300"]),
    }
    assert "南山独家医药有限公司" in page
    # the admin sees the whole country, Beijing's gap included
    admin = app.test_client()
    login(admin, people[Role.ADMIN])
    assert coverage_rows(page_text(admin.get("/distributors/coverage")))["阿莫西林胶囊"][1] == [
        "110000",
        "440100",
        "440200",
        "440300",
    ]


def test_coverage_is_limited_to_the_managers_territories(app, client, factory, products, make_user):
    factory.signed([(products["丹参滴丸"], "440305", True)])
    flag_key_regions(app)
    login(client, make_user(Role.MANAGER, territories=["110000"]))
    assert coverage_rows(page_text(client.get("/distributors/coverage")))["丹参滴丸"] == ([], ["110000"])


@pytest.mark.parametrize("role", [Role.REP, Role.SERVICE])
def test_coverage_is_for_managers_and_admins(client, people, role):
    login(client, people[role])
    assert client.get("/distributors/coverage").status_code == 403


def test_coverage_issues_a_constant_number_of_queries(app, client, factory, people, products):
    factory.signed([(products["丹参滴丸"], "440305", True)])
    flag_key_regions(app, ("440200", "110000"))  # no case below touches them
    login(client, people[Role.MANAGER])
    few = len(statements_of_page(app, client, "/distributors/coverage"))
    for code in ("440304", "440303", "440106"):
        factory.signed([(products["阿莫西林胶囊"], code, False)])
    assert len(statements_of_page(app, client, "/distributors/coverage")) == few


@pytest.mark.parametrize(
    ("role", "links"),
    [
        (Role.ADMIN, {"licences", "coverage"}),
        (Role.MANAGER, {"licences", "coverage"}),
        (Role.REP, {"licences"}),
        (Role.SERVICE, set()),
    ],
)
def test_the_list_links_to_the_reports_each_role_may_open(client, people, role, links):
    login(client, people[role])
    page = client.get("/distributors/").get_data(as_text=True)
    shown = {name for name in ("licences", "coverage") if f'href="/distributors/{name}"' in page}
    assert shown == links
    for name in shown:
        assert client.get(f"/distributors/{name}").status_code == 200
