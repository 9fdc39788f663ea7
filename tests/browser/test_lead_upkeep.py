"""Keeping leads up to date on a phone: edit a profile and add a contact, release a lead to the pool,
a colleague of the same territory claims it, and a manager bulk-reassigns three leads from the list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def viewport():
    return PHONE


def assert_fits_the_phone(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a {PHONE['width']}px phone"


def enter_lead(page, company: str, county: str, phone: str, *, second_contact: tuple[str, str] | None = None) -> str:
    """The rep enters a lead through the form; returns its page's path."""
    page.goto("/leads/new")
    form = page.locator("main form")
    form.locator("input[name=company_name]").fill(company)
    page.locator(".ts-control").first.click()
    page.keyboard.type(county)
    page.locator(".ts-dropdown .option", has_text=county).first.click()
    form.locator("select[name=campaign_id]").select_option(index=0)
    form.locator("input[name='contacts-0-name']").fill("王总")
    form.locator("input[name='contacts-0-phone1']").fill(phone)
    if second_contact:
        # One contact row is shown; the button adds another (static/js/contacts.js).
        expect(form.locator("input[name='contacts-1-name']")).to_have_count(0)
        page.locator("[data-testid=add-contact-row]").click()
        form.locator("input[name='contacts-1-name']").fill(second_contact[0])
        form.locator("input[name='contacts-1-phone1']").fill(second_contact[1])
    assert_fits_the_phone(page)
    form.locator("button[type=submit]").click()
    if page.locator("[data-testid=duplicates]").count():  # a rerun on the same server
        form.locator("input[name=allow_duplicate]").check()
        form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/leads/\d+$"))
    return re.sub(r"^https?://[^/]+", "", page.url)


def sign_out(page):
    page.context.clear_cookies()


def test_rep_edits_releases_colleague_claims_manager_bulk_reassigns(sign_in, page):
    sign_in("rep")
    # 1. A lead with two contacts, then its profile edited and a third contact added.
    lead = enter_lead(
        page, "深圳南山维护测试医药有限公司", "南山区", "139 2345 6001", second_contact=("李采购", "139 2345 6002")
    )
    expect(page.locator("[data-testid=contacts] li")).to_have_count(2)
    page.locator("[data-testid=edit-lead]").click()
    page.wait_for_url(re.compile(r"/edit$"))
    form = page.locator("[data-testid=edit-form]")
    form.locator("input[name=address]").fill("南山区科技园南区 8 栋")
    form.locator("select[name=distributor_kind]").select_option("implicit")
    form.locator("textarea[name=terminal_coverage]").fill("社区诊所 30 家，单体药店 60 家")
    form.locator("input[name=estimated_capital]").fill("300")
    assert_fits_the_phone(page)
    form.locator("[data-testid=save-profile]").click()
    page.wait_for_url(re.compile(r"/leads/\d+$"))
    profile = page.locator("[data-testid=profile]")
    expect(profile).to_contain_text("南山区科技园南区 8 栋")
    expect(profile).to_contain_text("社区诊所 30 家")
    expect(page.locator("[data-entry=history][data-event=edit] [data-field=address]")).to_contain_text(
        "南山区科技园南区 8 栋"
    )

    page.locator("[data-testid=edit-lead]").click()
    adding = page.locator("[data-testid=add-contact]")
    adding.locator("input[name='contact-name']").fill("赵财务")
    adding.locator("input[name='contact-phone1']").fill("139 2345 6003")
    adding.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/edit$"))
    expect(page.locator("[data-testid=edit-contacts] [data-contact-id]")).to_have_count(3)
    page.goto(lead)
    expect(page.locator("[data-testid=contacts] li")).to_have_count(3)
    expect(page.locator("[data-entry=history][data-event=contact_added]")).to_contain_text("赵财务")

    # 2. Another lead, in 龙岗, goes back to the pool with a reason.
    released = enter_lead(page, "深圳龙岗退回测试医药有限公司", "龙岗区", "139 2345 6004")
    page.locator("[data-testid=release]").click()
    page.locator("[data-testid=release-form] textarea[name=reason]").fill("客户在龙岗，交给龙岗的同事")
    assert_fits_the_phone(page)
    page.locator("[data-testid=release-form] button[type=submit]").click()
    page.wait_for_url(re.compile(r"/leads/\d+$"))
    expect(page.locator("[data-testid=in-pool]")).to_be_visible()
    released_id = released.rsplit("/", 1)[-1]

    # 3. The colleague of 龙岗 claims it from the pool.
    sign_out(page)
    sign_in("rep_lg")
    page.goto("/leads/pool")
    row = page.locator(f"tr[data-lead='{released_id}']")
    expect(row).to_be_visible()
    assert_fits_the_phone(page)
    row.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/leads/{released_id}$"))
    expect(page.locator("[data-testid=owner]")).to_contain_text("孙代表")

    # 4. The manager ticks three 深圳 leads in the list and takes them over in one action.
    sign_out(page)
    sign_in("manager")
    page.goto("/leads/?territory=440300&pool=0&sort=company")
    boxes = page.locator("[data-testid=lead-list] input[name=lead_ids]")
    expect(boxes.first).to_be_visible()
    chosen = [boxes.nth(i).get_attribute("value") for i in range(3)]
    for i in range(3):
        boxes.nth(i).check()
    bar = page.locator("[data-testid=bulk-bar]")
    expect(bar.locator("[data-selected-count]")).to_contain_text("3")
    bar.locator("select[name=action]").select_option("reassign")
    bar.locator(".ts-control").click()
    page.keyboard.type("王经理")
    # The bar's own menu: the filter form above has an owner menu too, with the same names.
    bar.locator(".ts-dropdown .option", has_text="王经理").first.click()
    expect(bar.locator("select[name=owner_id]")).to_have_value(re.compile(r"^\d+$"))
    # When the name came from the preloaded options (no search sent), the menu may still be open;
    # a person closes it before pressing the button, as the test does.
    page.keyboard.press("Escape")
    expect(bar.locator(".ts-dropdown")).to_be_hidden()
    bar.locator("input[name=reason]").fill("季度调整")
    assert_fits_the_phone(page)
    bar.locator("[data-testid=bulk-apply]").click()
    page.wait_for_url(re.compile(r"/leads/bulk$"))
    report = page.locator("[data-testid=bulk-report]")
    for lead_id in chosen:
        expect(report.locator(f"tr[data-row='{lead_id}']")).to_have_attribute("data-ok", "yes")
    assert_fits_the_phone(page)
    page.goto(f"/leads/{chosen[0]}")
    expect(page.locator("[data-testid=owner]")).to_contain_text("王经理")
