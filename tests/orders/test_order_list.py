"""The orders list uses the shared list component: sortable headers that keep the search, guided empty state."""

from __future__ import annotations

import re

from crm.access.roles import Role
from tests.helpers import counted_queries, login
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
