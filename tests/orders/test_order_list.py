"""The orders list uses the shared list component: sortable headers that keep the search, guided empty state."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from crm.access.roles import Role
from crm.distributors.models import Distributor
from crm.extensions import db
from tests.helpers import counted_queries, gen_distributor, login
from tests.orders.conftest import place


def order_ids(page: str) -> list[str]:
    return re.findall(r'data-order="([^"]+)"', page)


def test_orders_sort_by_number_both_ways_and_the_links_keep_the_state(app, client, shop, people):
    for _ in range(3):
        place(app, shop)
    login(client, people[Role.SERVICE])
    up = client.get("/orders/?all=1&sort=number").get_data(as_text=True)
    down = client.get("/orders/?all=1&sort=-number").get_data(as_text=True)
    assert len(order_ids(up)) == 3
    assert order_ids(up) == sorted(order_ids(up))
    assert order_ids(down) == list(reversed(order_ids(up)))
    assert 'data-sort="number"' in up
    assert re.search(r'href="/orders/\?[^"]*sort=-number', up)
    filtered = client.get("/orders/?state=submitted&sort=placed").get_data(as_text=True)
    header = re.search(r'data-sort="number"\s+href="([^"]+)"', filtered).group(1)
    assert "state=submitted" in header


def test_an_empty_search_says_what_to_try(app, client, shop, people):
    login(client, people[Role.SERVICE])
    page = client.get("/orders/?all=1&q=没有这个订单").get_data(as_text=True)
    assert 'data-testid="empty"' in page


def test_the_list_reads_as_many_statements_for_100_rows_as_for_10(app, shop, people, make_user):
    for _ in range(12):
        place(app, shop)
    portal = make_user(Role.DISTRIBUTOR, company_id=shop.distributor_id)
    for who in (people[Role.SERVICE], portal):
        client = app.test_client()
        login(client, who)
        counts = {}
        for size in (10, 100):
            app.config["PAGE_SIZE"] = size
            try:
                with counted_queries(app) as statements:
                    page = client.get("/orders/?all=1").get_data(as_text=True)
            finally:
                app.config["PAGE_SIZE"] = 50
            assert len(order_ids(page)) == min(size, 12)
            counts[size] = len(statements)
        assert counts[10] == counts[100], counts


def test_the_state_menu_counts_open_orders_only(app, client, shop, people, drive_order):
    """Closed and cancelled orders pile up for years: counting them cost more than the rest of the page."""
    drive_order("closed")
    drive_order("cancelled")
    place(app, shop)
    login(client, people[Role.SERVICE])
    page = client.get("/orders/?all=1").get_data(as_text=True)
    options = dict(re.findall(r'<option value="(\w+)"[^>]*>([^<]+)</option>', page))
    assert options["submitted"].endswith("(1)")
    assert "(" not in options["closed"]
    assert "(" not in options["cancelled"]
    assert len(order_ids(page)) == 3


def exported(client, query: str) -> list[list]:
    response = client.get(f"/orders/export.xlsx?{query}")
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.data)).active
    return [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]


def test_the_export_is_the_list_as_filtered_and_sorted_with_user_text_kept_as_text(app, client, shop, people):
    with app.app_context():
        db.session.get(Distributor, shop.distributor_id).name = '=HYPERLINK("http://evil.example","点我")'
        db.session.commit()
    for _ in range(3):
        place(app, shop)
    login(client, people[Role.SERVICE])
    page = client.get("/orders/?all=1&sort=-number").get_data(as_text=True)
    export_href = re.search(r'href="(/orders/export\.xlsx[^"]*)" data-testid="order-export"', page).group(1)
    assert "sort=-number" in export_href
    assert "all=1" in export_href
    rows = exported(client, "all=1&sort=-number")
    numbers = [row[0] for row in rows]
    assert numbers == order_ids(page) == sorted(numbers, reverse=True)
    assert {row[1] for row in rows} == {"已提交"}
    assert rows[0][4] == '=HYPERLINK("http://evil.example","点我")'  # the text, not a live formula
    workbook = load_workbook(io.BytesIO(client.get("/orders/export.xlsx?all=1").data))
    assert workbook.active.cell(row=2, column=5).data_type == "s"
    assert exported(client, "state=cancelled") == []


def test_a_company_exports_only_its_own_orders(app, client, shop, make_user):
    place(app, shop)
    other = gen_distributor(app, "440305", name="别家医药")
    login(client, make_user(Role.DISTRIBUTOR, company_id=other))
    assert exported(client, "") == []
    own = app.test_client()
    login(own, make_user(Role.DISTRIBUTOR, company_id=shop.distributor_id))
    assert len(exported(own, "")) == 1


def test_an_export_above_the_cap_asks_to_narrow_the_search(app, client, shop, people):
    for _ in range(3):
        place(app, shop)
    login(client, people[Role.SERVICE])
    app.config["EXPORT_MAX_ROWS"] = 2
    try:
        response = client.get("/orders/export.xlsx?all=1", follow_redirects=True)
    finally:
        app.config["EXPORT_MAX_ROWS"] = 50_000
    assert response.mimetype == "text/html"
    assert "3 个订单符合条件" in response.get_data(as_text=True)


def test_a_new_search_keeps_the_chosen_sort(app, client, shop, people):
    login(client, people[Role.SERVICE])
    page = client.get("/orders/?all=1&sort=-placed").get_data(as_text=True)
    form = re.search(r'<form[^>]*data-testid="order-filters".*?</form>', page, re.S).group(0)
    assert '<input type="hidden" name="sort" value="-placed">' in form
    assert '<input type="hidden" name="all" value="1">' in form
