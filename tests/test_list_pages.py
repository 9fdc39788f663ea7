"""Every record list on the shared list component (templates/_list.html).

(a) Each list, empty, shows the guided empty state: a message and what to do next.
(b) Where a list sorts, its sort links keep the filters.
(c) The distributor and screening lists export what they show: the filtered rows, user
    text as text, only the viewer's reach, refused above the configured cap.
"""

from __future__ import annotations

import html
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from openpyxl import load_workbook

from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.screening import services as screening
from tests.helpers import counted_queries, gen_distributor, login, valid_uscc

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# (path, role allowed to see it): every list page, loaded with nothing in it.
LIST_PAGES = [
    ("/screening/", Role.REP),
    ("/screening/approvals", Role.MANAGER),
    ("/distributors/", Role.REP),
    ("/distributors/licences", Role.REP),
    ("/leads/pool", Role.REP),
    ("/orders/lots", Role.SERVICE),
    ("/orders/discounts", Role.MANAGER),
    ("/leads/campaigns/", Role.MANAGER),
    ("/admin/users?q=nobody-by-this-name", Role.ADMIN),  # the admin is a user: a search that finds nobody
    ("/admin/audit?event=password_reset", Role.ADMIN),  # signing in is an event: a kind nobody caused
    ("/workflows/overdue", Role.REP),
    ("/workflows/screening/breaches", Role.MANAGER),
    ("/products/", Role.REP),
]


@pytest.fixture
def staff(make_user):
    """A rep of Shenzhen, a manager of Guangdong, the order desk, an admin."""
    return {
        Role.REP: make_user(Role.REP, territories=["440300"]),
        Role.MANAGER: make_user(Role.MANAGER, territories=["440000"]),
        Role.SERVICE: make_user(Role.SERVICE),
        Role.ADMIN: make_user(Role.ADMIN),
    }


def empty_state(page: str) -> list[str]:
    """The paragraphs of the page's guided empty state (message, then guidance)."""
    cell = re.search(r'data-testid="empty">(.*?)</td>', page, re.S)
    assert cell, "no guided empty state on the page"
    return [html.unescape(p).strip() for p in re.findall(r"<p[^>]*>(.*?)</p>", cell.group(1), re.S)]


@pytest.mark.parametrize(("path", "role"), LIST_PAGES, ids=[p for p, _ in LIST_PAGES])
def test_an_empty_list_says_so_and_what_to_do_next(app, client, staff, path, role):
    login(client, staff[role])
    response = client.get(path)
    assert response.status_code == 200
    paragraphs = empty_state(response.get_data(as_text=True))
    assert len(paragraphs) == 2, paragraphs  # a message and the guidance
    assert all(paragraphs), paragraphs
    assert all(re.search(r"[\u4e00-\u9fff]", p) for p in paragraphs), paragraphs  # translated (Chinese default)


def sort_links(page: str) -> dict[str, dict[str, list[str]]]:
    """sort key → the query of its header link."""
    links = re.findall(r'data-sort="([^"]+)"\s+href="([^"]+)"', page)
    return {key: parse_qs(urlsplit(html.unescape(href)).query) for key, href in links}


@pytest.mark.parametrize(
    ("path", "role", "keys"),
    [
        ("/screening/?q=康泰&state=draft", Role.REP, {"created", "company", "deadline"}),
        ("/distributors/?q=医药&state=active", Role.REP, {"name", "state"}),
        ("/leads/pool?q=医药", Role.REP, {"company", "pooled"}),
        ("/orders/lots?q=LOT&all=1", Role.SERVICE, {"number", "expires", "stock"}),
        ("/admin/users?q=rep", Role.ADMIN, {"username", "name", "role"}),
    ],
)
def test_sort_links_keep_the_filters(app, client, staff, path, role, keys):
    login(client, staff[role])
    filters = parse_qs(urlsplit(path).query)
    links = sort_links(client.get(path).get_data(as_text=True))
    assert keys <= set(links)
    for key in keys:
        query = links[key]
        assert {name: query.get(name) for name in filters} == filters, (key, query)
        assert "page" not in query
    # A new search keeps the chosen sort (a hidden field of the filter form).
    key = sorted(keys)[0]
    page = client.get(f"{path}&sort=-{key}").get_data(as_text=True)
    assert f'name="sort" value="-{key}"' in page
    assert sort_links(page)[key]["sort"] == [key]  # the header now offers the other direction


def test_the_lists_sort_both_ways(app, client, staff):
    for name in ("乙医药", "甲医药", "丙医药"):
        gen_distributor(app, "440305", name=name)
        open_case(app, staff[Role.REP].id, name, "440305")
    login(client, staff[Role.REP])

    def names(path: str, pattern: str) -> list[str]:
        return re.findall(pattern, client.get(path).get_data(as_text=True))

    row = r'data-distributor="\d+"><td><a href="[^"]+">([^<]+)</a>'
    ascending = names("/distributors/?sort=name", row)
    assert ascending == sorted(ascending)
    assert names("/distributors/?sort=-name", row) == ascending[::-1]
    case_row = r'data-case="\d+"><td>\d+</td>\s*<td><a href="[^"]+">([^<]+)</a>'
    ascending = names("/screening/?sort=company", case_row)
    assert ascending == sorted(ascending)
    assert len(ascending) == 3
    assert names("/screening/?sort=-company", case_row) == ascending[::-1]


def test_a_filtered_empty_list_says_what_to_try(app, client, staff):
    gen_distributor(app, "440305", name="南山医药")
    login(client, staff[Role.REP])
    page = client.get("/distributors/?q=不存在").get_data(as_text=True)
    assert empty_state(page) == ["没有符合条件的经销商。", "请清除搜索条件，或选择其他状态。"]


# --- exports ------------------------------------------------------------------------------


def exported(client, path: str) -> list[list]:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == XLSX
    sheet = load_workbook(io.BytesIO(response.data)).active
    return [list(row) for row in sheet.iter_rows(min_row=2)]


def values(rows) -> list[list]:
    return [[cell.value for cell in row] for row in rows]


def open_case(app, actor_id: int, company: str, territory: str) -> int:
    with app.app_context():
        case = screening.open_case(
            db.session.get(User, actor_id), company_name=company, uscc=valid_uscc(), territory_code=territory
        )
        db.session.commit()
        return case.id


def test_the_distributor_export_is_the_filtered_list_in_the_reps_reach_with_text_as_text(app, client, staff):
    gen_distributor(app, "440305", name="=1+1")
    gen_distributor(app, "440305", name="南山康泰医药")
    gen_distributor(app, "440305", name="南山大药房")
    gen_distributor(app, "110105", name="北京康泰医药")  # Beijing: outside the rep's territories
    login(client, staff[Role.REP])
    page = client.get("/distributors/?q=康泰&sort=-name").get_data(as_text=True)
    href = html.unescape(re.search(r'href="([^"]+)" data-testid="distributor-export"', page).group(1))
    assert parse_qs(urlsplit(href).query) == {"q": ["康泰"], "sort": ["-name"]}
    assert [row[0] for row in values(exported(client, href))] == ["南山康泰医药"]

    rows = exported(client, "/distributors/export.xlsx")
    names = [row[0].value for row in rows]
    assert sorted(names) == sorted(["=1+1", "南山康泰医药", "南山大药房"])  # not Beijing's
    formula = rows[names.index("=1+1")][0]
    assert formula.data_type == "s"
    assert formula.value == "=1+1"
    # The manager of Guangdong does not see Beijing either; the admin does.
    admin = app.test_client()
    login(admin, staff[Role.ADMIN])
    assert "北京康泰医药" in [row[0] for row in values(exported(admin, "/distributors/export.xlsx"))]


def test_the_screening_export_is_the_filtered_list_in_the_reps_reach_with_text_as_text(app, client, staff):
    rep, admin = staff[Role.REP], staff[Role.ADMIN]
    open_case(app, rep.id, "=1+1", "440305")
    kept = open_case(app, rep.id, "深圳康泰医药有限公司", "440305")
    open_case(app, admin.id, "北京康泰医药有限公司", "110105")  # outside the rep's territories
    login(client, rep)
    page = client.get("/screening/?q=康泰&state=draft&sort=company").get_data(as_text=True)
    href = html.unescape(re.search(r'href="([^"]+)" data-testid="case-export"', page).group(1))
    assert parse_qs(urlsplit(href).query) == {"q": ["康泰"], "state": ["draft"], "sort": ["company"]}
    assert [row[:2] for row in values(exported(client, href))] == [[kept, "深圳康泰医药有限公司"]]

    rows = exported(client, "/screening/export.xlsx")
    names = [row[1].value for row in rows]
    assert sorted(names) == sorted(["=1+1", "深圳康泰医药有限公司"])
    formula = rows[names.index("=1+1")][1]
    assert formula.data_type == "s"
    assert formula.value == "=1+1"
    assert values(exported(client, "/screening/export.xlsx?state=rejected")) == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/distributors/export.xlsx", "3 个经销商符合条件，一次最多导出 2 个。"),
        ("/screening/export.xlsx", "3 个准入评审符合条件，一次最多导出 2 个。"),
    ],
)
def test_an_export_above_the_cap_asks_to_narrow_the_search(app, client, staff, path, message):
    for n in range(3):
        gen_distributor(app, "440305", name=f"南山医药{n}")
        open_case(app, staff[Role.REP].id, f"南山康泰{n}", "440305")
    login(client, staff[Role.REP])
    app.config["EXPORT_MAX_ROWS"] = 2
    try:
        response = client.get(path + "?q=南山", follow_redirects=True)
    finally:
        app.config["EXPORT_MAX_ROWS"] = 50_000
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert message in text
    assert response.request.path == urlsplit(path).path.replace("export.xlsx", "")
    assert parse_qs(response.request.query_string.decode()) == {"q": ["南山"]}
    assert 'data-testid="empty"' not in text  # back on the list, filters kept: the rows are shown


@pytest.mark.parametrize("path", ["/distributors/?q=医药", "/screening/?q=医药"])
def test_the_lists_read_as_many_statements_for_many_rows_as_for_few(app, client, staff, path):
    login(client, staff[Role.REP])

    def statements() -> int:
        with counted_queries(app) as seen:
            assert client.get(path).status_code == 200
        return len(seen)

    def add(n: int) -> None:
        for _ in range(n):
            gen_distributor(app, "440305", name="南山医药")
            open_case(app, staff[Role.REP].id, "南山医药", "440305")

    add(2)
    few = statements()
    add(10)
    assert statements() == few
