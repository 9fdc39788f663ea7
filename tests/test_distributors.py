"""Distributors and territory scoping: who sees which company.

A record outside the user's territories answers 404 (not 403) and is missing from
the list; a distributor's staff see their own company and nothing of the staff side.
"""

from __future__ import annotations

import html
import re

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.distributors.models import Distributor
from crm.extensions import db
from tests.helpers import gen_distributor, gen_product, login, post, valid_uscc

BAD_USCC = "The unified social credit code is not valid: check the 18 characters and the check character."

# One company per place, named after it.
PLACES = {
    "南山医药": "440305",  # 广东省 深圳市 南山区
    "福田医药": "440304",  # 广东省 深圳市 福田区
    "天河医药": "440106",  # 广东省 广州市 天河区
    "东莞医药": "441900",  # 广东省 东莞市 (a city without counties)
    "东城医药": "110101",  # 北京市 东城区
    "仙桃医药": "429004",  # 湖北省 仙桃市 (county directly under the province)
    "江岸医药": "420102",  # 湖北省 武汉市 江岸区
}


def said(app, msgid: str, **values) -> str:
    with app.test_request_context(), force_locale("zh_CN"):
        return gettext(msgid, **values)


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def load(app, distributor_id: int) -> Distributor:
    with app.app_context():
        distributor = db.session.get(Distributor, distributor_id)
        db.session.expunge(distributor)
        return distributor


def distributor_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Distributor))


@pytest.fixture
def companies(app) -> dict[str, int]:
    return {name: gen_distributor(app, code, name=name) for name, code in PLACES.items()}


def visible(client, companies) -> set[str]:
    """Companies the signed-in user sees: on the list, and on each detail page (else 404)."""
    listing = client.get("/distributors/")
    assert listing.status_code == 200
    listed = {name for name in companies if name in listing.get_data(as_text=True)}
    opened = set()
    for name, distributor_id in companies.items():
        status = client.get(f"/distributors/{distributor_id}").status_code
        assert status in (200, 404), (name, status)
        if status == 200:
            opened.add(name)
    assert listed == opened, "the list and the detail pages disagree"
    return opened


# --- scoping ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "territories", "expected"),
    [
        pytest.param(Role.REP, ["440300"], {"南山医药", "福田医药"}, id="rep-shenzhen"),
        pytest.param(Role.REP, ["440305"], {"南山医药"}, id="rep-nanshan-county"),
        pytest.param(Role.REP, ["110000"], {"东城医药"}, id="rep-beijing"),
        pytest.param(Role.REP, ["440305", "110101"], {"南山医药", "东城医药"}, id="rep-two-counties"),
        pytest.param(Role.REP, ["420100"], {"江岸医药"}, id="rep-wuhan-not-xiantao"),
        pytest.param(
            Role.MANAGER, ["440000"], {"南山医药", "福田医药", "天河医药", "东莞医药"}, id="manager-guangdong"
        ),
        pytest.param(Role.MANAGER, ["420000"], {"仙桃医药", "江岸医药"}, id="manager-hubei-incl-xiantao"),
        pytest.param(Role.ADMIN, [], set(PLACES), id="admin"),
        pytest.param(Role.SERVICE, [], set(PLACES), id="service"),
    ],
)
def test_each_role_sees_exactly_its_territories(client, make_user, companies, role, territories, expected):
    login(client, make_user(role, territories=territories))
    assert visible(client, companies) == expected


def test_rep_in_shenzhen_gets_404_for_a_beijing_company(client, make_user, companies):
    login(client, make_user(Role.REP, territories=["440300"]))
    assert client.get(f"/distributors/{companies['南山医药']}").status_code == 200
    assert client.get(f"/distributors/{companies['东城医药']}").status_code == 404
    assert "东城医药" not in client.get("/distributors/").get_data(as_text=True)
    # a search does not reach around the scope either
    assert "东城医药" not in client.get("/distributors/?q=东城").get_data(as_text=True)


def test_list_shows_the_count_in_scope(app, client, make_user, companies):
    login(client, make_user(Role.REP, territories=["440300"]))
    assert said(app, "%(n)d in total", n=2) in page_text(client.get("/distributors/"))


def test_search_by_name_and_credit_code(app, client, make_user):
    code = valid_uscc()
    gen_distributor(app, "440305", name="南山医药", uscc=code)
    gen_distributor(app, "440304", name="福田医药")
    login(client, make_user(Role.ADMIN))
    by_name = client.get("/distributors/?q=福田").get_data(as_text=True)
    assert "福田医药" in by_name
    assert "南山医药" not in by_name
    by_code = client.get(f"/distributors/?q={code[-6:].lower()}").get_data(as_text=True)
    assert "南山医药" in by_code
    assert "福田医药" not in by_code


def test_unknown_distributor_is_404(client, make_user):
    login(client, make_user(Role.ADMIN))
    assert client.get("/distributors/999999").status_code == 404
    assert client.get("/distributors/999999/edit").status_code == 404


def test_manager_without_territories_sees_nothing(client, make_user, companies):
    login(client, make_user(Role.MANAGER))
    assert visible(client, companies) == set()


# --- the distributor portal -------------------------------------------------


def test_distributor_user_sees_only_its_own_company(app, client, make_user, companies):
    login(client, make_user(Role.DISTRIBUTOR, company_id=companies["南山医药"]))
    mine = client.get("/distributors/mine")
    assert mine.status_code == 200
    page = mine.get_data(as_text=True)
    assert "南山医药" in page
    assert "福田医药" not in page
    assert "/distributors/" + str(companies["南山医药"]) + "/edit" not in page


@pytest.mark.parametrize(
    "path",
    ["/distributors/", "/distributors/{own}", "/distributors/{other}", "/distributors/new", "/distributors/{own}/edit"],
)
def test_distributor_user_gets_403_on_staff_pages(app, client, make_user, companies, path):
    login(client, make_user(Role.DISTRIBUTOR, company_id=companies["南山医药"]))
    url = path.format(own=companies["南山医药"], other=companies["福田医药"])
    assert client.get(url).status_code == 403


def test_distributor_user_cannot_post_staff_forms(app, client, make_user, companies):
    own = companies["南山医药"]
    login(client, make_user(Role.DISTRIBUTOR, company_id=own))
    response = post(
        client, f"/distributors/{own}/edit", {"name": "改名", "territory_code": "440305", "seen_version": 1}
    )
    assert response.status_code == 403
    assert load(app, own).name == "南山医药"
    gen_product(app)
    assert client.get("/products/").status_code == 403


def test_distributor_user_without_company_gets_404_on_mine(client, make_user):
    login(client, make_user(Role.DISTRIBUTOR))
    assert client.get("/distributors/mine").status_code == 404


@pytest.mark.parametrize("role", [Role.ADMIN, Role.REP, Role.SERVICE])
def test_staff_have_no_portal_page(client, make_user, role):
    login(client, make_user(role, territories=["440300"] if role == Role.REP else ()))
    assert client.get("/distributors/mine").status_code == 403


# --- admin creates and edits --------------------------------------------------


@pytest.fixture
def admin_client(client, make_user):
    login(client, make_user(Role.ADMIN))
    return client


def test_admin_creates_a_distributor_with_a_normalised_credit_code(app, admin_client):
    response = post(
        admin_client,
        "/distributors/new",
        {
            "name": " 深圳南山医药有限公司 ",
            "uscc": "9135 0100 m000 100y 43",
            "territory_code": "440305",
            "contact_name": "张经理",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        distributor = db.session.scalars(select(Distributor)).one()
        assert (distributor.name, distributor.uscc, distributor.territory_code, distributor.contact_name) == (
            "深圳南山医药有限公司",
            "91350100M000100Y43",
            "440305",
            "张经理",
        )
    detail = page_text(admin_client.get(response.headers["Location"]))
    assert "广东省 深圳市 南山区" in detail
    assert "91350100M000100Y43" in detail


def test_credit_code_is_optional(app, admin_client):
    response = post(admin_client, "/distributors/new", {"name": "无码医药", "uscc": "", "territory_code": "440305"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(Distributor.uscc)).one() is None


@pytest.mark.parametrize(
    "uscc", ["91350100M000100Y44", "91350100M000100Y4", "91350100M0001O0Y43", "٩1350100M000100Y43"]
)
def test_invalid_credit_code_is_refused_with_a_message(app, admin_client, uscc):
    response = post(admin_client, "/distributors/new", {"name": "坏码医药", "uscc": uscc, "territory_code": "440305"})
    assert response.status_code == 200
    assert said(app, BAD_USCC) in page_text(response)
    assert distributor_count(app) == 0


def test_duplicate_credit_code_is_refused(app, admin_client):
    gen_distributor(app, "440304", name="先来医药", uscc="91350100M000100Y43")
    response = post(
        admin_client,
        "/distributors/new",
        {"name": "后到医药", "uscc": "91350100m000100y43", "territory_code": "440305"},
    )
    assert response.status_code == 200
    assert said(app, "Another distributor already has this credit code: %(name)s.", name="先来医药") in page_text(
        response
    )
    assert distributor_count(app) == 1


@pytest.mark.parametrize("code", ["999999", "44030", "", "440305'--"])
def test_unknown_territory_is_refused_with_a_message(app, admin_client, code):
    response = post(admin_client, "/distributors/new", {"name": "无地医药", "territory_code": code})
    assert response.status_code == 200
    page = page_text(response)
    assert said(app, "Choose a territory from the list.") in page or "is-invalid" in page
    assert distributor_count(app) == 0


def test_unknown_territory_message_is_shown(app, admin_client):
    response = post(admin_client, "/distributors/new", {"name": "无地医药", "territory_code": "999999"})
    assert said(app, "Choose a territory from the list.") in page_text(response)


def test_edit_form_keeps_the_chosen_territory_after_an_error(app, admin_client):
    response = post(admin_client, "/distributors/new", {"name": "坏码医药", "uscc": "bad", "territory_code": "440305"})
    assert '<option selected value="440305">广东省 深圳市 南山区</option>' in response.get_data(as_text=True)


def test_admin_edits_a_distributor(app, admin_client):
    distributor_id = gen_distributor(app, "440305", name="旧名医药")
    form = admin_client.get(f"/distributors/{distributor_id}/edit").get_data(as_text=True)
    seen = re.search(r'name="seen_version"[^>]*value="(\d+)"', form).group(1)
    assert 'value="旧名医药"' in form
    assert "广东省 深圳市 南山区" in form
    response = post(
        admin_client,
        f"/distributors/{distributor_id}/edit",
        {"name": "新名医药", "territory_code": "110101", "uscc": valid_uscc(7), "seen_version": seen},
    )
    assert response.status_code == 302
    saved = load(app, distributor_id)
    assert (saved.name, saved.territory_code, saved.uscc) == ("新名医药", "110101", valid_uscc(7))
    assert saved.version == int(seen) + 1


def test_editing_to_another_companys_credit_code_is_refused(app, admin_client):
    gen_distributor(app, "440304", name="甲医药", uscc=valid_uscc(1))
    other = gen_distributor(app, "440305", name="乙医药", uscc=valid_uscc(2))
    response = post(
        admin_client,
        f"/distributors/{other}/edit",
        {"name": "乙医药", "territory_code": "440305", "uscc": valid_uscc(1), "seen_version": load(app, other).version},
    )
    assert response.status_code == 200
    assert said(app, "Another distributor already has this credit code: %(name)s.", name="甲医药") in page_text(
        response
    )
    assert load(app, other).uscc == valid_uscc(2)


@pytest.mark.parametrize("seen_version", ["first", "", "abc", None])
def test_stale_edit_answers_409_and_changes_nothing(app, admin_client, seen_version):
    distributor_id = gen_distributor(app, "440305", name="原名医药")
    first_version = load(app, distributor_id).version
    first = post(
        admin_client,
        f"/distributors/{distributor_id}/edit",
        {"name": "第一次", "territory_code": "440305", "seen_version": first_version},
    )
    assert first.status_code == 302
    if seen_version == "first":
        seen_version = str(first_version)
    data = {"name": "第二次", "territory_code": "110101"}
    if seen_version is not None:
        data["seen_version"] = seen_version
    stale = post(admin_client, f"/distributors/{distributor_id}/edit", data)
    assert stale.status_code == 409
    saved = load(app, distributor_id)
    assert (saved.name, saved.territory_code, saved.version) == ("第一次", "440305", first_version + 1)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.SERVICE])
def test_only_admins_create_and_edit(app, client, make_user, role):
    distributor_id = gen_distributor(app, "440305", name="原名医药")
    login(client, make_user(role, territories=["440000"] if role in (Role.MANAGER, Role.REP) else ()))
    assert client.get(f"/distributors/{distributor_id}").status_code == 200
    assert client.get("/distributors/new").status_code == 403
    assert client.get(f"/distributors/{distributor_id}/edit").status_code == 403
    assert post(client, "/distributors/new", {"name": "新", "territory_code": "440305"}).status_code == 403
    response = post(
        client,
        f"/distributors/{distributor_id}/edit",
        {"name": "改名", "territory_code": "440305", "seen_version": "1"},
    )
    assert response.status_code == 403
    assert load(app, distributor_id).name == "原名医药"
    assert distributor_count(app) == 1
