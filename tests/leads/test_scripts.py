"""The standard scripts library (标准话术): managers keep it, every staff member reads it."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from crm.access.roles import Role
from crm.extensions import db
from crm.leads import campaigns as services
from crm.leads.models import Script
from tests.helpers import gen_product, login, post


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def gen_script(app, objection, *, product_id=None, active=True, answer="标准回答") -> int:
    with app.app_context():
        script = Script(objection=objection, answer=answer, product_id=product_id, active=active)
        db.session.add(script)
        db.session.commit()
        return script.id


def test_manager_writes_edits_and_withdraws_a_script(app, make_user, client):
    product = gen_product(app, name="复方丹参片")
    login(client, make_user(Role.MANAGER, territories=["440000"]))
    form = {
        "product_id": str(product),
        "objection": "价格比同类高",
        "answer": "终端毛利更高\n且有学术推广支持",
        "active": "y",
    }
    assert post(client, "/leads/scripts/new", form).status_code == 302
    with app.app_context():
        script = db.session.scalar(select(Script))
        assert (script.product_id, script.objection, script.active) == (product, "价格比同类高", True)
        script_id, version = script.id, script.version

    edited = {**form, "answer": "毛利高 30%", "seen_version": str(version)}
    edited.pop("active")  # unchecked: withdrawn
    assert post(client, f"/leads/scripts/{script_id}/edit", edited).status_code == 302
    with app.app_context():
        script = db.session.get(Script, script_id)
        assert (script.answer, script.active, script.version) == ("毛利高 30%", False, 2)

    assert post(client, f"/leads/scripts/{script_id}/edit", {**edited, "answer": "旧页面"}).status_code == 409
    with app.app_context():
        assert db.session.get(Script, script_id).answer == "毛利高 30%"


@pytest.mark.parametrize(
    "form",
    [
        {"objection": "", "answer": "x"},
        {"objection": "太贵", "answer": ""},
        {"objection": "x" * 201, "answer": "x"},
        {"objection": "太贵", "answer": "x", "product_id": "999999"},
    ],
)
def test_script_validation(app, make_user, client, form):
    login(client, make_user(Role.ADMIN))
    response = post(client, "/leads/scripts/new", form)
    assert response.status_code == 200
    assert "is-invalid" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Script)) is None


def test_service_refuses_empty_scripts(app):
    with app.test_request_context():
        with pytest.raises(services.BusinessError):
            services.create_script(objection=" ", answer="x")
        with pytest.raises(services.BusinessError):
            services.create_script(objection="太贵", answer="")


def test_reps_read_active_scripts_filtered_by_product(app, make_user, client):
    danshen, amoxicillin = gen_product(app, name="复方丹参片"), gen_product(app, name="阿莫西林胶囊")
    gen_script(app, "丹参太贵", product_id=danshen)
    gen_script(app, "阿莫西林利润低", product_id=amoxicillin)
    gen_script(app, "公司规模小", product_id=None)
    gen_script(app, "已停用的话术", product_id=danshen, active=False)
    login(client, make_user(Role.REP, territories=["440300"]))

    everything = page_text(client.get("/leads/scripts/"))
    assert "丹参太贵" in everything
    assert "阿莫西林利润低" in everything
    assert "公司规模小" in everything
    assert "已停用的话术" not in everything
    assert "/leads/scripts/new" not in everything
    assert "/edit" not in everything

    # A product's scripts and those for every product; a rep cannot ask for withdrawn ones.
    filtered = page_text(client.get(f"/leads/scripts/?product={danshen}&all=1"))
    assert "丹参太贵" in filtered
    assert "公司规模小" in filtered
    assert "阿莫西林利润低" not in filtered
    assert "已停用的话术" not in filtered


def test_managers_see_withdrawn_scripts_on_request(app, make_user, client):
    gen_script(app, "已停用的话术", active=False)
    login(client, make_user(Role.MANAGER, territories=["440000"]))
    assert "已停用的话术" not in page_text(client.get("/leads/scripts/"))
    assert "已停用的话术" in page_text(client.get("/leads/scripts/?all=1"))


def test_scripts_for_a_lead_products(app):
    product = gen_product(app)
    other = gen_product(app)
    mine = gen_script(app, "本品种", product_id=product)
    general = gen_script(app, "通用", product_id=None)
    gen_script(app, "别的品种", product_id=other)
    with app.app_context():
        found = [s.id for s in db.session.scalars(services.scripts_for([product]))]
    assert found == [mine, general]


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        (Role.ADMIN, 200, 200),
        (Role.MANAGER, 200, 200),
        (Role.REP, 200, 403),
        (Role.SERVICE, 200, 403),
        (Role.DISTRIBUTOR, 403, 403),
    ],
)
def test_scripts_access_per_role(app, make_user, client, role, read, write):
    script = gen_script(app, "太贵")
    login(client, make_user(role, territories=["440000"] if role in (Role.MANAGER, Role.REP) else ()))
    assert client.get("/leads/scripts/").status_code == read
    assert client.get("/leads/scripts/new").status_code == write
    assert client.get(f"/leads/scripts/{script}/edit").status_code == write
