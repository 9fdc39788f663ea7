"""The GB/T 2260 tree and the market attributes an admin keeps on its nodes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.extensions import db
from crm.territories.models import MarketTier, Territory
from tests.helpers import login, post


def node(app, code: str) -> Territory | None:
    with app.app_context():
        territory = db.session.get(Territory, code)
        if territory is not None:
            db.session.expunge(territory)
        return territory


def seen(app, code: str) -> int:
    """The version an admin's edit page would carry now (earlier tests may have edited the node)."""
    return node(app, code).version


def ancestor_codes(app, code: str) -> list[str]:
    with app.app_context():
        chain, territory = [], db.session.get(Territory, code).parent
        while territory is not None:
            chain.append(territory.code)
            territory = territory.parent
        return chain


def row_for(page: str, code: str) -> str:
    match = re.search(rf'<tr data-code="{code}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {code}"
    return match.group(1)


@pytest.fixture
def admin_client(client, make_user):
    login(client, make_user(Role.ADMIN))
    return client


# --- the tree ---------------------------------------------------------------


def test_tree_has_every_province_city_and_county(app):
    with app.app_context():
        total = db.session.scalar(select(func.count()).select_from(Territory))
        provinces = dict(db.session.execute(select(Territory.code, Territory.name).where(Territory.level == 1)).all())
        orphans = db.session.scalar(
            select(func.count()).select_from(Territory).where(Territory.level > 1, Territory.parent_code.is_(None))
        )
    assert 3300 <= total <= 3500
    # 23 provinces, 5 autonomous regions, 4 municipalities, 2 SARs (Taiwan counted as a province).
    assert len(provinces) == 34
    assert {code[:2] for code in provinces} == {
        *("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37"),
        *("41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65"),
        *("71", "81", "82"),
    }
    assert provinces["110000"] == "北京市"
    assert provinces["440000"] == "广东省"
    assert orphans == 0


def test_shenzhen_and_nanshan_lie_under_guangdong(app):
    shenzhen, nanshan = node(app, "440300"), node(app, "440305")
    assert (shenzhen.name, shenzhen.level, shenzhen.parent_code) == ("深圳市", 2, "440000")
    assert (nanshan.name, nanshan.level) == ("南山区", 3)
    assert ancestor_codes(app, "440305") == ["440300", "440000"]
    assert nanshan.full_name == "广东省 深圳市 南山区"


def test_county_directly_under_a_province_hangs_from_the_province(app):
    xiantao = node(app, "429004")
    assert xiantao.name == "仙桃市"
    assert xiantao.level == 3
    assert ancestor_codes(app, "429004") == ["420000"]
    assert xiantao.full_name == "湖北省 仙桃市"


def test_municipality_full_names_do_not_repeat_the_city(app):
    assert node(app, "110101").full_name == "北京市 东城区"


@pytest.mark.parametrize(
    ("code", "lo", "hi"),
    [("440000", "440000", "449999"), ("440300", "440300", "440399"), ("440305", "440305", "440305")],
)
def test_code_range_covers_the_node_and_everything_under_it(app, code, lo, hi):
    assert node(app, code).code_range == (lo, hi)


def test_code_range_matches_the_tree(app):
    """Every descendant of a node lies inside its range, and nothing else does."""
    with app.app_context():
        parents = dict(db.session.execute(select(Territory.code, Territory.parent_code)).all())
        for code in ("440000", "440300", "420000", "110000", "500000", "810000", "441900"):
            lo, hi = db.session.get(Territory, code).code_range
            in_range = {c for c in parents if lo <= c <= hi}
            under = set()
            for c in parents:
                walk = c
                while walk is not None:
                    if walk == code:
                        under.add(c)
                        break
                    walk = parents[walk]
            assert in_range == under, code


# --- search -----------------------------------------------------------------


@pytest.mark.parametrize("query", ["南山", "深圳 南山", "广东 南山区", "440305"])
def test_search_finds_nanshan(client, make_user, query):
    login(client, make_user(Role.REP, territories=["440300"]))
    response = client.get("/territories/search", query_string={"q": query})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert {"code": "440305", "full_name": "广东省 深圳市 南山区", "level": 3} in results


def test_search_lists_provinces_before_counties_and_nothing_for_blank(client, make_user):
    login(client, make_user(Role.SERVICE))
    results = client.get("/territories/search", query_string={"q": "广东"}).get_json()["results"]
    assert results[0]["code"] == "440000"
    assert client.get("/territories/search", query_string={"q": "  "}).get_json() == {"results": []}
    assert client.get("/territories/search", query_string={"q": "不存在的地方"}).get_json() == {"results": []}


def test_search_treats_like_wildcards_as_text(client, make_user):
    login(client, make_user(Role.SERVICE))
    assert client.get("/territories/search", query_string={"q": "%"}).get_json() == {"results": []}
    assert client.get("/territories/search", query_string={"q": "_"}).get_json() == {"results": []}


def test_distributor_users_cannot_search_territories(app, client, make_user):
    from tests.helpers import gen_distributor

    login(client, make_user(Role.DISTRIBUTOR, company_id=gen_distributor(app)))
    assert client.get("/territories/search", query_string={"q": "南山"}).status_code == 403


# --- browsing and editing ---------------------------------------------------


def test_admin_browses_from_province_to_county(admin_client):
    top = admin_client.get("/territories/").get_data(as_text=True)
    assert "广东省" in row_for(top, "440000")
    cities = admin_client.get("/territories/?parent=440000").get_data(as_text=True)
    assert "深圳市" in row_for(cities, "440300")
    counties = admin_client.get("/territories/?parent=440300").get_data(as_text=True)
    assert "南山区" in row_for(counties, "440305")
    assert 'data-code="110101"' not in counties


def test_unknown_code_is_404(admin_client):
    assert admin_client.get("/territories/?parent=999999").status_code == 404
    assert admin_client.get("/territories/999999/edit").status_code == 404
    assert post(admin_client, "/territories/999999/edit", {"seen_version": "1"}).status_code == 404


def test_admin_sets_market_attributes_and_the_list_shows_them(app, admin_client):
    version = seen(app, "440300")
    form = admin_client.get("/territories/440300/edit").get_data(as_text=True)
    assert re.search(rf'name="seen_version"[^>]*value="{version}"', form)
    response = post(
        admin_client,
        "/territories/440300/edit",
        {"seen_version": version, "market_tier": "tier1", "is_key_region": "y", "is_sample_market": "y"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/territories/?parent=440000")
    saved = node(app, "440300")
    assert (saved.market_tier, saved.is_key_region, saved.is_sample_market, saved.version) == (
        MarketTier.TIER1,
        True,
        True,
        version + 1,
    )
    row = row_for(admin_client.get("/territories/?parent=440000").get_data(as_text=True), "440300")
    with app.test_request_context():
        from flask_babel import force_locale

        with force_locale("zh_CN"):
            assert MarketTier.TIER1.label in row
    assert "text-bg-danger" in row  # key region badge
    assert "text-bg-success" in row  # sample market badge
    # a neighbour is untouched
    assert "text-bg-danger" not in row_for(
        admin_client.get("/territories/?parent=440000").get_data(as_text=True), "440100"
    )

    # clearing them again
    response = post(admin_client, "/territories/440300/edit", {"seen_version": version + 1, "market_tier": ""})
    assert response.status_code == 302
    cleared = node(app, "440300")
    assert (cleared.market_tier, cleared.is_key_region, cleared.is_sample_market) == (None, False, False)


def test_unknown_market_tier_is_refused_beside_the_field(app, admin_client):
    response = post(
        admin_client, "/territories/440300/edit", {"seen_version": seen(app, "440300"), "market_tier": "tier9"}
    )
    assert response.status_code == 200
    assert "is-invalid" in response.get_data(as_text=True)
    assert node(app, "440300").market_tier is None


@pytest.mark.parametrize("seen_version", ["1", "", "x", None])
def test_stale_edit_answers_409_and_changes_nothing(app, admin_client, seen_version):
    before = seen(app, "440300")
    first = post(admin_client, "/territories/440300/edit", {"seen_version": before, "market_tier": "tier2"})
    assert first.status_code == 302
    data = {"market_tier": "tier3", "is_key_region": "y"}
    if seen_version is not None:
        data["seen_version"] = str(before) if seen_version == "1" else seen_version
    stale = post(admin_client, "/territories/440300/edit", data)
    assert stale.status_code == 409
    saved = node(app, "440300")
    assert (saved.market_tier, saved.is_key_region, saved.version) == (MarketTier.TIER2, False, before + 1)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REP, Role.SERVICE])
def test_only_admins_edit_market_attributes(app, client, make_user, role):
    login(client, make_user(role, territories=["440000"] if role in (Role.MANAGER, Role.REP) else ()))
    assert client.get("/territories/440300/edit").status_code == 403
    response = post(client, "/territories/440300/edit", {"seen_version": "1", "market_tier": "tier1"})
    assert response.status_code == 403
    assert node(app, "440300").market_tier is None


def test_manager_browses_without_edit_buttons_and_rep_cannot_browse(client, make_user):
    login(client, make_user(Role.MANAGER, territories=["440000"]))
    page = client.get("/territories/?parent=440000")
    assert page.status_code == 200
    assert "/territories/440300/edit" not in page.get_data(as_text=True)


def test_rep_cannot_browse_the_tree(client, make_user):
    login(client, make_user(Role.REP, territories=["440300"]))
    assert client.get("/territories/").status_code == 403


# --- reloading --------------------------------------------------------------


def test_reloading_adds_nothing_and_keeps_edited_attributes(app, admin_client, runner):
    response = post(
        admin_client,
        "/territories/440305/edit",
        {"seen_version": seen(app, "440305"), "market_tier": "tier1", "is_key_region": "y", "is_sample_market": "y"},
    )
    assert response.status_code == 302
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Territory))

    result = runner.invoke(args=["crm", "load-territories"])

    assert result.exit_code == 0, result.output
    assert "0 added, 0 renamed" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Territory)) == before
    nanshan = node(app, "440305")
    assert (nanshan.market_tier, nanshan.is_key_region, nanshan.is_sample_market) == (MarketTier.TIER1, True, True)
