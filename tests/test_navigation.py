"""The menu (one registry, areas in dropdowns, the right item highlighted) and links a viewer may open.

A page must not show a link its viewer would be refused (403) for: the crawl below signs in as
every demo user, opens the pages the menu and the home page link to, and asks for every link
found there.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from crm.access.roles import Role
from crm.demo import DEMO_PASSWORD, DEMO_USERS
from crm.extensions import db
from crm.web import NAVIGATION, NavGroup, active_nav, navigation_for
from tests.helpers import gen_user, login

HREF = re.compile(r'<a\b[^>]*\bhref="([^"#][^"]*)"')
# Downloads and the sign-out form are not pages; static files are open to everyone.
NOT_PAGES = ("/static/", "/auth/logout")


def _menu_items(menu):
    for entry in menu:
        yield from entry.items if isinstance(entry, NavGroup) else (entry,)


class _User:
    is_authenticated = True

    def __init__(self, role):
        self.role = role


@pytest.mark.parametrize(
    ("endpoint", "highlighted", "area"),
    [
        ("leads.index", "leads.index", "leads"),
        ("leads.detail", "leads.index", "leads"),
        ("leads.campaigns", "leads.campaigns", "leads"),
        ("leads.campaign_detail", "leads.campaigns", "leads"),
        ("leads.pool", "leads.pool", "leads"),
        ("leads.funnel", "leads.funnel", "reports"),
        ("screening.approvals", "screening.approvals", "distributors"),
        ("screening.detail", "screening.index", "distributors"),
        ("screening.policy", "screening.policy", "settings"),
        ("workflow.overdue", "workflow.overdue", "reports"),
        ("workflow.breaches", "workflow.index", "reports"),
        ("admin.user_edit", "admin.users", "settings"),
        ("main.index", "main.index", None),
    ],
)
def test_the_highlighted_item_is_the_page_s_own(app, endpoint, highlighted, area):
    with app.test_request_context():
        active = active_nav(navigation_for(_User(Role.MANAGER if area != "settings" else Role.ADMIN)), endpoint)
    assert active.item is not None
    assert active.item.endpoint == highlighted
    assert (active.group.key if active.group else None) == area


@pytest.mark.parametrize("role", list(Role))
def test_the_menu_offers_only_what_the_route_lets_the_role_open(app, role):
    with app.test_request_context():
        menu = navigation_for(_User(role))
        for item in _menu_items(menu):
            allowed = getattr(app.view_functions[item.endpoint], "allowed_roles", frozenset(Role))
            assert role in allowed, f"{role}: {item.endpoint}"
    # Areas in menus: the bar itself holds a handful of entries, not fifteen.
    assert len(menu) <= 6
    assert not any(isinstance(e, NavGroup) and not e.items for e in menu)


def test_every_menu_endpoint_exists(app):
    for item in _menu_items(NAVIGATION):
        assert item.endpoint in app.view_functions, item.endpoint


def test_service_sees_no_pool_link(app, client):
    user = gen_user(app, Role.SERVICE)
    login(client, user)
    for path in ("/", "/leads/"):
        page = client.get(path).get_data(as_text=True)
        assert "/leads/pool" not in page, path
    assert client.get("/leads/pool").status_code == 403


def test_the_record_page_has_breadcrumbs(app, client):
    user = gen_user(app, Role.ADMIN)
    login(client, user)
    page = client.get("/admin/users/new").get_data(as_text=True)
    assert 'data-testid="breadcrumbs"' in page
    assert "/admin/users" in page
    assert 'data-testid="breadcrumbs"' not in client.get("/admin/users").get_data(as_text=True)


def _links(html: str) -> set[str]:
    found = set()
    for href in HREF.findall(html):
        href = href.replace("&amp;", "&")
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        if any(parts.path.startswith(prefix) for prefix in NOT_PAGES):
            continue
        found.add(href)
    return found


@pytest.fixture
def demo(app):
    from crm.demo import load_demo

    with app.test_request_context():
        load_demo()
        db.session.commit()


@pytest.mark.parametrize("username", [u for u, *_ in DEMO_USERS])
def test_no_page_shows_a_link_its_viewer_is_refused(app, client, demo, username):
    assert login(client, username, DEMO_PASSWORD).status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    pages = {"/"} | _links(home.get_data(as_text=True))
    checked: dict[str, int] = {}
    refused = []
    for path in sorted(pages):
        response = client.get(path)
        checked[path] = response.status_code
        if response.status_code == 403:
            refused.append(("/", path))
            continue
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        for link in _links(response.get_data(as_text=True)):
            if link not in checked:
                checked[link] = client.get(link).status_code
            if checked[link] == 403:
                refused.append((path, link))
    assert len(checked) > 5
    assert not refused, f"{username} is shown links answering 403: {refused}"
