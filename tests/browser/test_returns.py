"""An exchange end to end in a real browser: asked for on a phone, approved, received, inspected, replaced.

The demo distributor (portal user 13800138032) asks on a 390 px screen to exchange
damaged goods of its delivered order: one lot of 复方丹参滴丸 with its trace code,
two units of 清热解毒口服液. The order desk approves, the distributor sends them back,
the desk receives them, restocks one lot and destroys the other before a witness,
and creates the replacement order, which the portal then sees. The statement shows
the credit note of the demo's refunded return.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_orders import PHONE, _sign_in, _state

pytestmark = pytest.mark.browser

# The demo's delivered order carries 丹参滴丸 trace codes 101 to 120 (crm/orders/demo.py numbers them from 1).
FIRST_CODE_OF_THE_DELIVERED_ORDER = "8612345" + f"{101:013d}"


def test_an_exchange_from_a_phone_to_its_replacement_order(browser, live_server):
    phone = browser.new_context(base_url=live_server, viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    desk_context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800}, locale="zh-CN")
    portal, desk = phone.new_page(), desk_context.new_page()
    for page in (portal, desk):
        page.on("dialog", lambda dialog: dialog.accept())
    try:
        _sign_in(portal, "13800138032")
        portal.goto("/orders/?state=delivered")  # the demo's one delivered order, from its shipment
        portal.locator("table[data-testid=orders] tbody a").first.click()
        portal.locator("[data-action='return-goods']").first.click()
        form = portal.get_by_test_id("return-form")
        form.locator("#kind").select_option("exchange")
        form.locator("#reason").select_option("damaged")
        dan = form.locator("[data-lot='DS2611A01']")
        dan.locator("input[type=number]").fill("1")
        dan.locator("textarea").fill(FIRST_CODE_OF_THE_DELIVERED_ORDER)
        form.locator("[data-lot='QR2610C01'] input[type=number]").fill("2")
        form.locator("#description").fill("外箱压损，铝箔破裂")
        assert portal.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        form.locator("[data-action='request-return']").click()
        portal.wait_for_url(re.compile(r"/returns/\d+$"))
        return_url = portal.url
        assert _state(portal) == "已申请"

        _sign_in(desk, "service")
        desk.goto("/returns/")
        number = portal.get_by_test_id("return-number").inner_text().split()[-1]
        expect(desk.locator("table[data-testid=returns]")).to_contain_text(number)
        desk.goto(return_url)
        desk.locator("[data-event='approve']").click()
        expect(desk.get_by_test_id("state").first).to_have_text("已同意")

        portal.goto(return_url)
        portal.locator("[data-event='send_back']").click()
        expect(portal.get_by_test_id("state").first).to_have_text("退回途中")

        desk.goto(return_url)
        desk.locator("[data-action='receive']").click()
        expect(desk.get_by_test_id("state").first).to_have_text("已收货")
        desk.locator("tr[data-lot='DS2611A01'] select").select_option("restock")
        destroyed = desk.locator("tr[data-lot='QR2610C01']")
        destroyed.locator("select").select_option("destroy")
        destroyed.locator("input").fill("质量部 周见证")
        desk.locator("[data-action='inspect']").click()
        expect(desk.get_by_test_id("state").first).to_have_text("已验收")
        expect(desk.locator("tr[data-lot='QR2610C01'] [data-testid=outcome]")).to_contain_text("周见证")
        desk.locator("[data-action='replace']").click()
        expect(desk.get_by_test_id("state").first).to_have_text("已换货")

        portal.goto(return_url)
        replacement = portal.get_by_test_id("replacement-order")
        expect(replacement).to_be_visible()
        replacement.click()
        expect(portal.get_by_test_id("state").first).to_have_text("已提交")
        expect(portal.get_by_test_id("replacing")).to_contain_text(number)

        desk.goto(portal.url)
        desk.locator("a", has_text="对账单").first.click()
        expect(desk.get_by_test_id("credit-notes")).to_contain_text("CN")
    finally:
        phone.close()
        desk_context.close()
