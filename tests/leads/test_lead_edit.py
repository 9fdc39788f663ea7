"""Editing a lead after it is created: the profile, its contacts, with history and duplicate checks."""

from __future__ import annotations

import json

from sqlalchemy import select

from crm.extensions import db
from crm.leads.models import Lead, LeadContact
from crm.workflow.models import WorkflowHistory
from tests.helpers import valid_uscc
from tests.leads.test_lead_pages import gen_campaign, gen_lead, get_lead, lead_form, people, send, signed_in, text

__all__ = ["people"]


def edit_form(app, lead_id, **overrides):
    lead = get_lead(app, lead_id)
    data = {
        "seen_version": str(lead.version),
        "company_name": lead.company_name,
        "uscc": lead.uscc or "",
        "address": lead.address or "",
        "campaign_id": str(lead.campaign_id),
        "distributor_kind": lead.distributor_kind.value if lead.distributor_kind else "",
        "product_lines": lead.product_lines or "",
        "terminal_coverage": lead.terminal_coverage or "",
        "estimated_capital": "" if lead.estimated_capital is None else str(lead.estimated_capital),
        "logistics": lead.logistics or "",
        "next_touch_on": "",
    }
    data.update(overrides)
    return data


def contact_form(version, **fields):
    return {"contact-seen_version": str(version), **{f"contact-{k}": v for k, v in fields.items()}}


def history(app, lead_id, event):
    with app.app_context():
        rows = db.session.scalars(
            select(WorkflowHistory).where(WorkflowHistory.record_id == lead_id, WorkflowHistory.event == event)
        ).all()
        return [json.loads(r.data) if r.data else {} for r in rows]


def test_a_rep_edits_the_profile_and_each_change_is_in_the_history(app, people):
    lead_id = gen_lead(app, people["rep"].id, phones=["13800138001"])
    client = signed_in(app, people["rep"])
    page = text(client.get(f"/leads/{lead_id}/edit"))
    assert "estimated_capital" in page
    data = edit_form(
        app,
        lead_id,
        address="南山区科技园 2 号",
        distributor_kind="implicit",
        estimated_capital="800",
        logistics="冷链车",
    )
    response = send(client, f"/leads/{lead_id}/edit", data)
    assert response.status_code == 303
    lead = get_lead(app, lead_id)
    assert (lead.address, lead.estimated_capital, lead.logistics) == ("南山区科技园 2 号", 800, "冷链车")
    assert lead.distributor_kind.value == "implicit"
    (edit,) = history(app, lead_id, "edit")
    changes = {c["field"]: (c["old"], c["new"]) for c in edit["changes"]}
    assert changes == {
        "address": (None, "南山区科技园 2 号"),
        "distributor_kind": (None, "implicit"),
        "estimated_capital": (None, "800"),
        "logistics": (None, "冷链车"),
    }
    page = text(client.get(f"/leads/{lead_id}"))
    assert "南山区科技园 2 号" in page
    assert 'data-event="edit"' in page


def test_a_stale_edit_answers_409_and_changes_nothing(app, people):
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    data = edit_form(app, lead_id, address="旧页面的地址")
    data["seen_version"] = str(int(data["seen_version"]) - 1)
    response = send(client, f"/leads/{lead_id}/edit", data)
    assert response.status_code == 409
    assert "Reload" in text(response) or "重新加载" in text(response) or "刷新" in text(response)
    assert get_lead(app, lead_id).address is None
    assert history(app, lead_id, "edit") == []


def test_a_new_credit_code_of_another_lead_is_shown_as_a_duplicate_and_nothing_changes(app, people):
    code = valid_uscc(7)
    other = gen_lead(app, people["rep"].id, name="深圳另一家医药有限公司")
    with app.app_context():
        db.session.get(Lead, other).uscc = code
        db.session.commit()
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    response = send(client, f"/leads/{lead_id}/edit", edit_form(app, lead_id, uscc=code))
    assert response.status_code == 200
    assert f'data-duplicate="{other}"' in text(response)
    assert get_lead(app, lead_id).uscc is None
    response = send(client, f"/leads/{lead_id}/edit", edit_form(app, lead_id, uscc=code, allow_duplicate="y"))
    assert response.status_code == 303
    assert get_lead(app, lead_id).uscc == code


def test_a_look_alike_out_of_reach_names_nothing_on_edit(app, people):
    gen_lead(app, people["beijing_rep"].id, name="北京同名医药有限公司", territory="110101")
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    response = send(client, f"/leads/{lead_id}/edit", edit_form(app, lead_id, company_name="北京同名医药有限公司"))
    page = text(response)
    assert 'data-testid="duplicate-elsewhere"' in page
    assert "data-duplicate=" not in page


def test_two_valid_different_credit_codes_are_two_companies_in_the_form(app, people):
    campaign = gen_campaign(app)
    client = signed_in(app, people["rep"])
    first = send(
        client,
        "/leads/new",
        lead_form(campaign, uscc=valid_uscc(11), **{"contacts-0-phone1": "", "contacts-0-phone2": ""}),
    )
    assert first.status_code == 303
    second = send(
        client,
        "/leads/new",
        lead_form(
            campaign,
            uscc=valid_uscc(12),
            **{"contacts-0-name": "李总", "contacts-0-phone1": "13900139000", "contacts-0-phone2": ""},
        ),
    )
    assert second.status_code == 303, text(second)


def test_contacts_are_added_and_removed_with_history(app, people):
    lead_id = gen_lead(app, people["rep"].id, phones=["13800138002"])
    client = signed_in(app, people["rep"])
    version = get_lead(app, lead_id).version
    response = send(
        client,
        f"/leads/{lead_id}/contacts/new",
        contact_form(version, name="赵采购", title="采购经理", phone1="139 0000 1111"),
    )
    assert response.status_code == 303
    with app.app_context():
        contact = db.session.scalars(select(LeadContact).where(LeadContact.name == "赵采购")).one()
        assert [p.e164 for p in contact.phones] == ["+8613900001111"]
        contact_id = contact.id
    assert history(app, lead_id, "contact_added")[0]["name"] == "赵采购"
    assert "赵采购" in text(client.get(f"/leads/{lead_id}"))
    stale = send(client, f"/leads/{lead_id}/contacts/{contact_id}/remove", {"seen_version": str(version)})
    assert stale.status_code == 409
    version = get_lead(app, lead_id).version
    response = send(client, f"/leads/{lead_id}/contacts/{contact_id}/remove", {"seen_version": str(version)})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(LeadContact, contact_id) is None
    assert history(app, lead_id, "contact_removed")[0]["name"] == "赵采购"


def test_a_contact_phone_of_another_lead_is_a_duplicate(app, people):
    gen_lead(app, people["rep"].id, phones=["13800138003"])
    lead_id = gen_lead(app, people["rep"].id)
    client = signed_in(app, people["rep"])
    version = get_lead(app, lead_id).version
    response = send(client, f"/leads/{lead_id}/contacts/new", contact_form(version, name="钱总", phone1="13800138003"))
    assert response.status_code == 200
    assert "data-duplicate=" in text(response)
    with app.app_context():
        assert db.session.scalars(select(LeadContact).where(LeadContact.name == "钱总")).first() is None


def test_the_new_lead_form_takes_as_many_contacts_as_given_and_labels_the_person(app, people):
    campaign = gen_campaign(app)
    client = signed_in(app, people["rep"])
    page = text(client.get("/leads/new"))
    assert "姓名" in page
    assert "contacts.js" in page
    data = lead_form(
        campaign, company_name="深圳五人医药有限公司", **{"contacts-0-phone1": "", "contacts-0-phone2": ""}
    )
    for i in range(5):
        data[f"contacts-{i}-name"] = f"联系人{i}"
        data[f"contacts-{i}-phone1"] = f"1370000000{i}"
    response = send(client, "/leads/new", data)
    assert response.status_code == 303, text(response)
    with app.app_context():
        lead = db.session.scalars(select(Lead).where(Lead.company_name == "深圳五人医药有限公司")).one()
        assert len(lead.contacts) == 5
