"""A rep on a phone: enters a lead, finds it again by pinyin initials, logs a visit, moves it to intent."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}  # iPhone 12–14 class, in CSS pixels
COMPANY = "深圳同仁康泰医药有限公司"  # pinyin initials: sztrktyy…
INITIALS = "sztrkt"


@pytest.fixture
def viewport():
    return PHONE


def assert_fits_the_phone(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide on a {PHONE['width']}px phone"


def enter_lead(page):
    """The rep enters the lead through the form (the demo data may not hold one of theirs)."""
    page.goto("/leads/new")
    form = page.locator("main form")
    form.locator("input[name=company_name]").fill(COMPANY)
    # The territory picker searches the server as the rep types (Tom Select).
    page.locator(".ts-control").first.click()
    page.keyboard.type("南山")
    page.locator(".ts-dropdown .option", has_text="南山区").first.click()
    campaign = form.locator("select[name=campaign_id]")
    campaign.select_option(index=0)
    form.locator("input[name='contacts-0-name']").fill("王总")
    form.locator("input[name='contacts-0-phone1']").fill("139 2345 6780")
    form.locator("button[type=submit]").click()
    if page.locator("[data-testid=duplicates]").count():  # a rerun on the same server
        form.locator("input[name=allow_duplicate]").check()
        form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/leads/\d+$"))
    expect(page.locator("[data-testid=state]")).to_have_attribute("data-state", "new")


def test_rep_finds_a_lead_by_initials_logs_a_visit_and_moves_it_to_intent(sign_in, page, tmp_path_factory):
    shots = tmp_path_factory.mktemp("screenshots")
    sign_in("rep")
    enter_lead(page)

    # Find it again from the lead list by typing pinyin initials.
    page.goto("/leads/")
    search = page.locator("[data-testid=lead-filters] input[name=q]")
    search.fill(INITIALS)
    search.press("Enter")
    page.wait_for_url(re.compile(rf"q={INITIALS}"))
    link = page.locator("main a", has_text=COMPANY).first
    expect(link).to_be_visible()
    assert_fits_the_phone(page)
    link.click()
    page.wait_for_url(re.compile(r"/leads/\d+$"))
    expect(page.locator("[data-testid=company-name]")).to_have_text(COMPANY)
    expect(page.locator("[data-testid=contacts] a[href='tel:+8613923456780']")).to_have_text("139 2345 6780")
    assert_fits_the_phone(page)

    # Log a visit from the phone-sized form.
    page.locator("[data-testid=log-touch]").click()
    page.wait_for_url(re.compile(r"/touches/new$"))
    form = page.locator("[data-testid=touch-form]")
    form.locator("select[name=kind]").select_option("visit")
    form.locator("select[name=method]").select_option("random_visit")
    form.locator("textarea[name=summary]").fill("到店拜访王总，介绍了头孢系列和招商政策")
    form.locator("textarea[name=next_step]").fill("下周带样品")
    assert_fits_the_phone(page)
    page.screenshot(path=shots / "rep-phone-touch-form.png", full_page=True)
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/leads/\d+$"))
    expect(page.locator("[data-testid=state]")).to_have_attribute("data-state", "contacted")
    timeline = page.locator("[data-testid=timeline]")
    expect(timeline.locator("[data-entry=touch]").first).to_contain_text("到店拜访王总")

    # Move it to intent with the button of the available event. The rep cannot take it back,
    # so one tap asks first (data-confirm, static/js/app.js): saying no changes nothing.
    asked = []

    def answer(accept: bool):
        def handle(dialog):
            asked.append((dialog.type, dialog.message))
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        return handle

    lead_url = page.url
    intent = page.locator("button[data-event=show_intent]")
    page.once("dialog", answer(False))
    intent.tap()
    assert asked == [("confirm", "确定执行「有意向」吗？此操作无法撤销。")]
    page.goto(lead_url)
    expect(page.locator("[data-testid=state]")).to_have_attribute("data-state", "contacted")
    expect(timeline.locator("[data-event=show_intent]")).to_have_count(0)
    page.once("dialog", answer(True))
    with page.expect_navigation():
        intent.tap()
    assert len(asked) == 2
    page.wait_for_url(re.compile(r"/leads/\d+$"))
    expect(page.locator("[data-testid=state]")).to_have_attribute("data-state", "intent")
    expect(timeline.locator("[data-event=show_intent]")).to_have_count(1)
    assert_fits_the_phone(page)
    page.screenshot(path=shots / "rep-phone-lead.png", full_page=True)


def test_owner_and_campaign_menus_load_when_opened_and_keep_the_chosen_name(sign_in, page):
    """On the phone, the list's owner and campaign menus ask the server when opened, and a chosen one
    shows its name after Apply. Picking an owner must not move the campaign menu away from the next tap."""
    sign_in("rep")
    page.goto("/leads/")
    page.locator("[data-testid=lead-filters] summary").click()

    page.locator("#f-owner-ts-control").click()
    option = page.locator("#f-owner-ts-dropdown .option").first
    expect(option).to_be_visible()
    owner_name = option.inner_text()
    option.click()
    expect(page.locator("#f-owner + .ts-wrapper .item")).to_have_text(owner_name)

    page.locator("#f-campaign-ts-control").click()
    campaign = page.locator("#f-campaign-ts-dropdown .option").first
    expect(campaign).to_be_visible()
    campaign_name = campaign.inner_text()
    campaign.click()

    page.locator("[data-testid=lead-filters] details button[type=submit]").click()  # Apply
    page.wait_for_url(re.compile(r"owner=\d+.*campaign=\d+|campaign=\d+.*owner=\d+"))
    page.locator("[data-testid=lead-filters] summary").click()
    expect(page.locator("#f-owner + .ts-wrapper .item")).to_have_text(owner_name)
    expect(page.locator("#f-campaign + .ts-wrapper .item")).to_have_text(campaign_name)
