"""The funnel per region: leads that reached each stage, for the regions a manager covers."""

from __future__ import annotations

import json
import re

import pytest

from crm.auth.models import User
from crm.extensions import db
from crm.leads import campaigns as services
from tests.helpers import login
from tests.leads.test_campaigns import build_world, make_people, page_text


@pytest.fixture
def users(make_user):
    return make_people(make_user)


@pytest.fixture
def world(app, users):
    return build_world(app, users)


def figures(app, user_id, region_code=None):
    with app.test_request_context():
        region = db.session.get(services.Territory, region_code) if region_code else None
        counts = services.funnel(db.session.get(User, user_id), region)
        return [counts.reached[s] for s in services.FUNNEL_STAGES]


def test_funnel_counts_every_stage_a_lead_reached(app, users, world):
    # Guangdong: L1 won, L2 intent then lost, L3 contacted, L5 new, L6 won without following,
    # L7 following, L9 lost while new; L4 is in Hangzhou, L8 merged.
    assert figures(app, users["manager"].id) == [7, 5, 4, 3, 2, 2]
    assert figures(app, users["manager"].id, "440300") == [3, 2, 2, 2, 1, 1]  # L1, L2, L9
    assert figures(app, users["admin"].id) == [8, 6, 5, 4, 3, 2]
    assert figures(app, users["admin"].id, "330000") == [1, 1, 1, 1, 1, 0]


def test_funnel_regions_of_a_manager_are_their_province_and_its_cities(app, users, world):
    with app.test_request_context():
        regions = services.funnel_regions(db.session.get(User, users["manager"].id))
        codes = [r.code for r in regions]
    assert codes[0] == "440000"
    assert {"440300", "440600", "445300", "440200"} <= set(codes)
    assert all(code.startswith("44") and code.endswith("00") for code in codes)


def test_funnel_page_draws_the_chart_from_json_and_a_table(app, users, world, client):
    login(client, users["manager"])
    response = client.get("/leads/funnel?region=440300")
    assert response.status_code == 200
    page = page_text(response)
    data = json.loads(re.search(r'<script type="application/json" id="funnel-data">(.*?)</script>', page).group(1))
    assert data["values"] == [3, 2, 2, 2, 1, 1]
    assert data["title"] == "广东省 深圳市"
    assert re.search(r'data-stage="won"><th scope="row">[^<]+</th><td class="text-end">1</td>', page)
    assert "/static/vendor/chart.js-4.6.1/chart.umd.min.js" in page
    assert "/static/js/charts.js" in page
    # No inline script: the page only carries data.
    assert not re.search(r"<script(?![^>]*(src=|application/json))", page)


def test_funnel_of_a_region_outside_the_manager_is_not_found(app, users, world, client):
    login(client, users["manager"])
    assert client.get("/leads/funnel?region=330100").status_code == 404
    assert client.get("/leads/funnel?region=nonsense").status_code == 404


def test_vendored_chart_library_is_served(client):
    response = client.get("/static/vendor/chart.js-4.6.1/chart.umd.min.js")
    assert response.status_code == 200
    assert b"Chart.js v4.6.1" in response.data[:200]
