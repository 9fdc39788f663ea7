"""Products (品种): the admin keeps the catalogue; every staff member reads it."""

from __future__ import annotations

import html

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.extensions import db
from crm.products.models import Dispensing, DosageForm, InsuranceClass, Product
from tests.helpers import counted_queries, gen_product, login, post

BAD_NUMBER_MESSAGE = (
    "The approval number must look like 国药准字H20003263: 国药准字, a letter (H, Z, S, J …) and 8 digits."
)


def said(app, msgid: str, **values) -> str:
    """The message as a Chinese user reads it (whether or not the catalogue translates it yet)."""
    with app.test_request_context(), force_locale("zh_CN"):
        return gettext(msgid, **values)


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def product_form(**overrides) -> dict:
    data = {
        "name": "连花清瘟胶囊",
        "specification": "0.35g×24粒",
        "dosage_form": DosageForm.CAPSULE.value,
        "approval_number": "国药准字Z20040063",
        "insurance_class": InsuranceClass.CLASS_A.value,
        "dispensing": Dispensing.OTC.value,
        "terminals": [],
        "active": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def load_product(app, product_id: int | None = None, **where) -> Product | None:
    with app.app_context():
        stmt = select(Product)
        stmt = stmt.where(Product.id == product_id) if product_id else stmt.filter_by(**where)
        product = db.session.scalars(stmt).first()
        if product is not None:
            db.session.expunge(product)
        return product


def product_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Product))


@pytest.fixture
def admin_client(client, make_user):
    login(client, make_user(Role.ADMIN))
    return client


def test_admin_creates_a_product_with_a_normalised_number(app, admin_client):
    response = post(
        admin_client,
        "/products/new",
        product_form(
            approval_number="国药准字 z２００４００６３", terminals=["hospital", "pharmacy"], is_exclusive="y"
        ),
    )
    assert response.status_code == 302
    product = load_product(app, approval_number="国药准字Z20040063")
    assert product is not None
    assert (product.name, product.active, product.is_exclusive) == ("连花清瘟胶囊", True, True)
    assert (product.for_hospital, product.for_pharmacy, product.for_third_terminal) == (True, True, False)
    detail = page_text(admin_client.get(response.headers["Location"]))
    assert "国药准字Z20040063" in detail
    assert said(app, "Product %(name)s created.", name="连花清瘟胶囊") in detail


@pytest.mark.parametrize("number", ["H20040063", "国药准字X20040063", "国药准字Z2004006", "国药准字Z2004006３3"])
def test_invalid_approval_number_shows_the_message_and_creates_nothing(app, admin_client, number):
    response = post(admin_client, "/products/new", product_form(approval_number=number))
    assert response.status_code == 200
    assert said(app, BAD_NUMBER_MESSAGE) in page_text(response)
    assert product_count(app) == 0


def test_missing_name_is_refused_beside_the_field(app, admin_client):
    response = post(admin_client, "/products/new", product_form(name=""))
    assert response.status_code == 200
    assert "is-invalid" in response.get_data(as_text=True)
    assert product_count(app) == 0


def test_unknown_dosage_form_is_refused_not_a_crash(app, admin_client):
    response = post(admin_client, "/products/new", product_form(dosage_form="suppository"))
    assert response.status_code == 200
    assert product_count(app) == 0


def test_duplicate_approval_number_is_refused_even_when_typed_differently(app, admin_client):
    gen_product(app, name="原有品种", approval_number="国药准字Z20040063")
    response = post(admin_client, "/products/new", product_form(name="新品种", approval_number="国药准字ｚ20040063"))
    assert response.status_code == 200
    assert said(app, "Another product already has this approval number: %(name)s.", name="原有品种") in page_text(
        response
    )
    assert product_count(app) == 1


def test_editing_to_another_products_number_is_refused(app, admin_client):
    gen_product(app, name="甲", approval_number="国药准字H20000001")
    other = gen_product(app, name="乙", approval_number="国药准字H20000002")
    response = post(
        admin_client,
        f"/products/{other}/edit",
        product_form(name="乙", approval_number="国药准字H20000001", seen_version="1"),
    )
    assert response.status_code == 200
    assert said(app, "Another product already has this approval number: %(name)s.", name="甲") in page_text(response)
    assert load_product(app, other).approval_number == "国药准字H20000002"


def test_admin_edits_a_product(app, admin_client):
    product_id = gen_product(app, name="旧名", approval_number="国药准字H20000001")
    form = admin_client.get(f"/products/{product_id}/edit").get_data(as_text=True)
    assert 'name="seen_version"' in form
    assert 'value="旧名"' in form
    response = post(
        admin_client,
        f"/products/{product_id}/edit",
        product_form(name="新名", approval_number="国药准字H20000001", seen_version="1"),
    )
    assert response.status_code == 302
    product = load_product(app, product_id)
    assert (product.name, product.dosage_form, product.version) == ("新名", DosageForm.CAPSULE, 2)


def test_deactivated_product_leaves_the_default_list_but_shows_with_all(app, admin_client):
    keep = gen_product(app, name="常用片", approval_number="国药准字H20000001")
    stop = gen_product(app, name="停产片", approval_number="国药准字H20000002")
    response = post(
        admin_client,
        f"/products/{stop}/edit",
        product_form(name="停产片", approval_number="国药准字H20000002", seen_version="1", active=None),
    )
    assert response.status_code == 302
    assert load_product(app, stop).active is False
    assert load_product(app, keep).active is True

    default_list = admin_client.get("/products/").get_data(as_text=True)
    assert "常用片" in default_list
    assert "停产片" not in default_list
    full_list = admin_client.get("/products/?all=1").get_data(as_text=True)
    assert "常用片" in full_list
    assert "停产片" in full_list
    # and back again
    response = post(
        admin_client,
        f"/products/{stop}/edit",
        product_form(name="停产片", approval_number="国药准字H20000002", seen_version="2"),
    )
    assert response.status_code == 302
    assert "停产片" in admin_client.get("/products/").get_data(as_text=True)


def test_search_finds_by_name_and_by_approval_number(app, admin_client):
    gen_product(app, name="阿莫西林胶囊", approval_number="国药准字H20000001")
    gen_product(app, name="板蓝根颗粒", approval_number="国药准字Z20000002")
    by_name = admin_client.get("/products/?q=阿莫").get_data(as_text=True)
    assert "阿莫西林胶囊" in by_name
    assert "板蓝根颗粒" not in by_name
    by_number = admin_client.get("/products/?q=z20000002").get_data(as_text=True)
    assert "板蓝根颗粒" in by_number
    assert "阿莫西林胶囊" not in by_number


@pytest.mark.parametrize("seen_version", ["1", "", "abc", None])
def test_stale_edit_answers_409_and_changes_nothing(app, admin_client, seen_version):
    product_id = gen_product(app, name="原名", approval_number="国药准字H20000001")
    first = post(
        admin_client,
        f"/products/{product_id}/edit",
        product_form(name="第一次", approval_number="国药准字H20000001", seen_version="1"),
    )
    assert first.status_code == 302
    stale = post(
        admin_client,
        f"/products/{product_id}/edit",
        product_form(name="第二次", approval_number="国药准字H20000001", seen_version=seen_version),
    )
    assert stale.status_code == 409
    product = load_product(app, product_id)
    assert (product.name, product.version) == ("第一次", 2)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.SERVICE])
def test_other_staff_read_the_catalogue_but_cannot_change_it(app, client, make_user, role):
    product_id = gen_product(app, name="只读片", approval_number="国药准字H20000001")
    login(client, make_user(role, territories=["440000"] if role in (Role.MANAGER, Role.REP) else ()))
    listing = client.get("/products/")
    assert listing.status_code == 200
    assert "只读片" in listing.get_data(as_text=True)
    assert f'href="/products/{product_id}/edit"' not in client.get(f"/products/{product_id}").get_data(as_text=True)
    assert client.get("/products/new").status_code == 403
    assert client.get(f"/products/{product_id}/edit").status_code == 403
    assert post(client, "/products/new", product_form()).status_code == 403
    response = post(
        client, f"/products/{product_id}/edit", product_form(name="改名", approval_number="国药准字H20000001")
    )
    assert response.status_code == 403
    assert load_product(app, product_id).name == "只读片"
    assert product_count(app) == 1


def test_distributor_users_do_not_see_the_staff_catalogue(app, client, make_user):
    from tests.helpers import gen_distributor

    product_id = gen_product(app)
    login(client, make_user(Role.DISTRIBUTOR, company_id=gen_distributor(app)))
    assert client.get("/products/").status_code == 403
    assert client.get(f"/products/{product_id}").status_code == 403


def test_unknown_product_is_404(admin_client):
    assert admin_client.get("/products/999999").status_code == 404
    assert admin_client.get("/products/999999/edit").status_code == 404


def test_list_page_issues_the_same_number_of_queries_for_5_and_50_products(app, admin_client):
    def queries_for_list() -> int:
        with counted_queries(app) as statements:
            response = admin_client.get("/products/")
        assert response.status_code == 200
        return len(statements)

    for _ in range(5):
        gen_product(app)
    few = queries_for_list()
    for _ in range(45):
        gen_product(app)
    many = queries_for_list()
    assert admin_client.get("/products/").get_data(as_text=True).count('href="/products/') >= 50
    assert few == many
    assert many <= 6
