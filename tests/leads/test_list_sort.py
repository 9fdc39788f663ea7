"""The lead list: open leads by default, a toggle for closed ones, sortable columns kept in links and export."""

from __future__ import annotations

import re
from datetime import date

from tests.leads.test_list import _export, gen_campaign, gen_lead, listed_ids, people, signed_in

__all__ = ["people"]


def ordered_ids(response) -> list[int]:
    return [int(m) for m in re.findall(r'data-lead="(\d+)"', response.get_data(as_text=True))]


def test_open_leads_by_default_with_a_toggle_for_closed_ones(app, people):
    campaign = gen_campaign(app)
    admin, rep = people["admin"].id, people["rep"].id
    open_id = gen_lead(app, admin, campaign, territory="440305", owner_id=rep)
    lost_id = gen_lead(app, admin, campaign, territory="440305", owner_id=rep, events=["lose"])
    client = signed_in(app, people["rep"])
    page = client.get("/leads/")
    assert listed_ids(page) == {open_id}
    assert 'data-testid="show-toggle"' in page.get_data(as_text=True)
    assert listed_ids(client.get("/leads/?show=closed")) == {lost_id}
    assert listed_ids(client.get("/leads/?show=all")) == {open_id, lost_id}
    assert listed_ids(client.get("/leads/?state=lost")) == {lost_id}


def test_columns_sort_and_the_sort_stays_in_page_links_and_the_export(app, people):
    campaign = gen_campaign(app)
    admin, rep = people["admin"].id, people["rep"].id
    names = {"阿里医药": date(2026, 3, 1), "张家医药": date(2026, 1, 1), "北方医药": None}
    ids = {
        n: gen_lead(app, admin, campaign, name=n, territory="440305", owner_id=rep, next_touch_on=d)
        for n, d in names.items()
    }
    client = signed_in(app, people["rep"])
    assert ordered_ids(client.get("/leads/?sort=company")) == [ids["阿里医药"], ids["北方医药"], ids["张家医药"]]
    assert ordered_ids(client.get("/leads/?sort=-company")) == [ids["张家医药"], ids["北方医药"], ids["阿里医药"]]
    assert ordered_ids(client.get("/leads/?sort=next_touch"))[:2] == [ids["张家医药"], ids["阿里医药"]]
    assert ordered_ids(client.get("/leads/?sort=created")) == sorted(ids.values())
    page = client.get("/leads/?sort=company&size=10").get_data(as_text=True)
    assert 'data-sort="company"' in page
    assert "sort=-company" in page  # the header reverses the order
    assert re.search(r'href="/leads/export.xlsx\?[^"]*sort=company', page)
    rows = _export(client, "?sort=-company")
    assert [r[0] for r in rows[1:]] == ["张家医药", "北方医药", "阿里医药"]


def test_paging_links_keep_the_sort(app, people):
    campaign = gen_campaign(app)
    for _ in range(12):
        gen_lead(app, people["admin"].id, campaign, territory="440305", owner_id=people["rep"].id)
    client = signed_in(app, people["rep"])
    page = client.get("/leads/?size=10&sort=-created").get_data(as_text=True)
    assert re.search(r'href="/leads/\?[^"]*page=2[^"]*"', page)
    link = re.search(r'href="(/leads/\?[^"]*page=2[^"]*)"', page).group(1).replace("&amp;", "&")
    assert "sort=-created" in link
