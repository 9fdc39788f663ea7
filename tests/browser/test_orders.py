"""An order end to end in a real browser: the distributor orders on a phone, the order desk works it.

The demo distributor (portal user 13800138032) orders 复方丹参滴丸 on a 390 px
screen; the order desk confirms, starts picking, ships with the proposed lot and
pasted trace codes; the distributor signs for the goods; the desk invoices and
records a payment; the statement's balance moves by the invoice less the payment.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from crm.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _sign_in(page, username):
    page.goto("/auth/login")
    form = page.locator("main form")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def _yuan(text: str) -> Decimal:
    return Decimal(re.sub(r"[^\d.\-]", "", text))


def _state(page) -> str:
    return page.get_by_test_id("state").first.inner_text().strip()


def test_an_order_from_a_phone_to_the_statement(browser, live_server):
    phone = browser.new_context(base_url=live_server, viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    desk_context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800}, locale="zh-CN")
    portal, desk = phone.new_page(), desk_context.new_page()
    # Confirming, shipping, receiving cannot be taken back: each asks first, and the people say yes.
    for page in (portal, desk):
        page.on("dialog", lambda dialog: dialog.accept())
    try:
        _sign_in(portal, "13800138032")
        portal.goto("/portal/catalogue")
        row = portal.locator("tr[data-product='复方丹参滴丸']")
        row.locator("input.quantity-input").fill("2")
        portal.locator("#ship_to_code").select_option("330114")
        portal.locator("#ship_to_address").fill("下沙街道海达路 8 号仓库")
        portal.locator("#receiver_name").fill("韩海达")
        assert portal.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        portal.locator("[data-action='place-order']").click()
        portal.wait_for_url(re.compile(r"/orders/\d+$"))
        order_url = portal.url
        assert _state(portal) == "已提交"
        number = portal.get_by_test_id("order-number").inner_text()

        _sign_in(desk, "service")
        desk.goto("/orders/")
        expect(desk.locator("table[data-testid=orders]")).to_contain_text(number.split()[-1])
        desk.goto(order_url)
        desk.locator("[data-action='confirm']").click()
        expect(desk.get_by_test_id("state").first).to_have_text("已确认")
        desk.locator("[data-event='start_picking']").click()
        expect(desk.get_by_test_id("state").first).to_have_text("拣货中")
        fieldset = desk.locator("fieldset[data-ship-line='复方丹参滴丸']")
        expect(fieldset.locator("select").first).to_have_value(re.compile(r"\d+"))  # the proposed lot
        assert "DS2611A01" in fieldset.locator("select").first.locator("option:checked").inner_text()
        fieldset.locator("textarea").fill("86123459999999000001\n86123459999999000002")
        desk.locator("#carrier").fill("顺丰速运")
        desk.locator("#waybill").fill("SF7788990011")
        desk.locator("[data-action='ship']").click()
        expect(desk.get_by_test_id("state").first).to_have_text("已发货")
        expect(desk.get_by_test_id("shipments")).to_contain_text("DS2611A01")

        portal.goto(order_url)
        portal.locator("[data-action='receipt']").click()
        expect(portal.get_by_test_id("state").first).to_have_text("已签收")

        desk.goto("/orders/statement/" + re.search(r"/statement/(\d+)", desk.content()).group(1))
        before = _yuan(desk.get_by_test_id("balance").inner_text())
        desk.goto(order_url)
        desk.locator("#number").fill("26330000000000987654")
        desk.locator("[data-action='invoice']").click()
        expect(desk.get_by_test_id("state").first).to_have_text("已开票")
        desk.locator("a", has_text="对账单").first.click()
        desk.locator("#amount").fill("50")
        desk.locator("[data-action='payment']").click()
        after = _yuan(desk.get_by_test_id("balance").inner_text())
        assert after - before == Decimal("57.00") - Decimal("50")
        portal.goto("/portal/")
        assert _yuan(portal.get_by_test_id("balance").inner_text()) == after  # the distributor sees the same
    finally:
        phone.close()
        desk_context.close()
