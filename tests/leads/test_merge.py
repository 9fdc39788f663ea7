"""Merging a lead into another: contacts, phones and products move, both histories stay."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.extensions import db
from crm.leads.models import ContactPhone, Lead
from tests.helpers import gen_product
from tests.leads import test_lead_pages
from tests.leads.test_lead_pages import gen_lead, get_lead, send, signed_in, text
from tests.leads.test_touches import touch_form

people = test_lead_pages.people  # the same users, as a fixture of this module


def lead_phones(app, lead_id) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(ContactPhone.e164).where(ContactPhone.lead_id == lead_id)))


def contact_names(app, lead_id) -> list[str]:
    with app.app_context():
        return sorted(c.name for c in db.session.get(Lead, lead_id).contacts)


def product_ids(app, lead_id) -> list[int]:
    with app.app_context():
        return sorted(p.id for p in db.session.get(Lead, lead_id).products)


@pytest.fixture
def pair(app, people):
    """Two records of one company: the one to keep, and a later one with a touch and a new phone."""
    shared, extra = gen_product(app, name="头孢克肟片"), gen_product(app, name="蒲地蓝消炎片")
    keep = gen_lead(app, people["rep"].id, name="南山康泰医药", phones=["13800138000"], product_ids=[shared])
    drop = gen_lead(
        app,
        people["rep"].id,
        name="南山康泰医药有限公司",
        phones=["13800138000"],
        contact="王总",
        product_ids=[shared, extra],
    )
    with app.app_context():
        from crm.leads.models import LeadContact

        lead = db.session.get(Lead, drop)
        contact = LeadContact(name="李会计", title="财务")
        lead.contacts.append(contact)
        db.session.flush()
        contact.phones.append(ContactPhone(lead_id=drop, e164="+8613900139000"))
        db.session.commit()
    rep = signed_in(app, people["rep"])
    send(rep, f"/leads/{drop}/touches/new", touch_form(get_lead(app, drop).version, summary="门店拜访，见了王总"))
    return {"keep": keep, "drop": drop, "products": {shared, extra}}


def test_merge_moves_contacts_phones_and_products_and_keeps_both_histories(app, people, pair):
    keep, drop = pair["keep"], pair["drop"]
    client = signed_in(app, people["manager"])
    page = text(client.get(f"/leads/{drop}/merge?q=康泰"))
    assert f'href="/leads/{drop}/merge?q=%E5%BA%B7%E6%B3%B0&amp;keep={keep}"' in page
    page = text(client.get(f"/leads/{drop}/merge?keep={keep}"))
    assert 'data-testid="confirm-merge"' in page

    response = send(client, f"/leads/{drop}/merge", {"seen_version": get_lead(app, drop).version, "keep_id": keep})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/leads/{keep}")

    dropped = get_lead(app, drop)
    assert dropped.state == "merged"
    assert dropped.merged_into_id == keep
    assert lead_phones(app, keep) == ["+8613800138000", "+8613900139000"]  # the shared phone only once
    assert lead_phones(app, drop) == []
    # 王总 moves without his phone, which the kept lead already has under 张经理.
    assert contact_names(app, keep) == ["张经理", "李会计", "王总"]
    assert set(product_ids(app, keep)) == pair["products"]

    page = text(client.get(f"/leads/{keep}"))
    timeline = page[page.index('data-testid="timeline"') :]
    assert "门店拜访，见了王总" in timeline  # the merged lead's touch
    assert 'data-event="merge_in"' in timeline
    assert 'data-event="merge"' in timeline  # the merged lead's own history
    assert timeline.count('data-event="create"') == 2
    # The newest first: the merge, then the merged lead's touch.
    assert timeline.index('data-event="merge_in"') < timeline.index("门店拜访")

    page = text(client.get(f"/leads/{drop}"))
    assert f'href="/leads/{keep}"' in page  # "merged into" link
    assert 'data-testid="log-touch"' not in page


def test_the_merged_leads_photo_is_shown_on_the_kept_lead(app, people, pair):
    from tests.leads.test_touches import PNG, upload

    keep, drop = pair["keep"], pair["drop"]
    rep = signed_in(app, people["rep"])
    data = touch_form(get_lead(app, drop).version, photo=upload(PNG, "门头.png"))
    assert send(rep, f"/leads/{drop}/touches/new", data, content_type="multipart/form-data").status_code == 303
    client = signed_in(app, people["manager"])
    send(client, f"/leads/{drop}/merge", {"seen_version": get_lead(app, drop).version, "keep_id": keep})
    page = text(client.get(f"/leads/{keep}"))
    import re

    [url] = re.findall(rf'src="(/leads/{keep}/touches/\d+/photo)"', page)
    assert client.get(url).status_code == 200


def test_merging_into_itself_or_into_a_merged_lead_is_refused(app, people, pair):
    keep, drop = pair["keep"], pair["drop"]
    third = gen_lead(app, people["rep"].id, name="另一家")
    client = signed_in(app, people["manager"])

    response = send(client, f"/leads/{drop}/merge", {"seen_version": get_lead(app, drop).version, "keep_id": drop})
    assert response.status_code == 303
    assert get_lead(app, drop).state != "merged"
    page = text(client.get(response.headers["Location"]))  # the flash is shown once
    assert "不能合并到自身" in page

    send(client, f"/leads/{drop}/merge", {"seen_version": get_lead(app, drop).version, "keep_id": keep})
    assert get_lead(app, drop).state == "merged"
    response = send(client, f"/leads/{third}/merge", {"seen_version": get_lead(app, third).version, "keep_id": drop})
    assert get_lead(app, third).state == "new"
    response = send(client, f"/leads/{drop}/merge", {"seen_version": get_lead(app, drop).version, "keep_id": third})
    assert get_lead(app, third).state == "new"
    assert get_lead(app, drop).merged_into_id == keep


def test_only_managers_merge_and_only_leads_they_can_see(app, people, pair):
    keep, drop = pair["keep"], pair["drop"]
    version = get_lead(app, drop).version
    rep = signed_in(app, people["rep"])
    assert rep.get(f"/leads/{drop}/merge").status_code == 403
    assert send(rep, f"/leads/{drop}/merge", {"seen_version": version, "keep_id": keep}).status_code == 403
    beijing = gen_lead(app, people["admin"].id, name="北京的线索", territory="110101")
    manager = signed_in(app, people["manager"])
    assert send(manager, f"/leads/{drop}/merge", {"seen_version": version, "keep_id": beijing}).status_code == 404
    assert send(manager, f"/leads/{drop}/merge", {"seen_version": version - 1, "keep_id": keep}).status_code == 409
    assert get_lead(app, drop).state != "merged"


def test_the_search_finds_the_lead_to_keep_by_phone(app, people, pair):
    client = signed_in(app, people["manager"])
    page = text(client.get(f"/leads/{pair['drop']}/merge?q=138 0013 8000"))
    assert f"keep={pair['keep']}" in page
    assert f"keep={pair['drop']}" not in page  # never itself


def test_a_contact_already_on_the_kept_lead_is_not_copied(app, people):
    keep = gen_lead(app, people["rep"].id, name="福田华润医药", phones=["13800138000"], contact="张经理")
    drop = gen_lead(app, people["rep"].id, name="福田华润医药有限公司", phones=["138-0013-8000"], contact="张经理")
    client = signed_in(app, people["manager"])
    send(client, f"/leads/{drop}/merge", {"seen_version": get_lead(app, drop).version, "keep_id": keep})
    assert get_lead(app, drop).state == "merged"
    assert contact_names(app, keep) == ["张经理"]
    assert lead_phones(app, keep) == ["+8613800138000"]
