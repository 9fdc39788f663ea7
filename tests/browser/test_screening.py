"""From applicant to distributor in a real browser (issue 5).

A rep in 杭州 opens a screening case with its documents and submits it; the
manager of 浙江 reviews, scores and approves it and signs the agreement; the new
distributor's portal user signs in with the one-time password shown at signing
and sees its own company, and nothing of anyone else's.

杭州 is not a key region, so the manager's approval is the only one needed.
The company name, credit code and phone are new on every run, so the test can
run again against the same server.
"""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from babel.support import Translations
from playwright.sync_api import Page, expect

from crm.common.validators import uscc_check_char
from crm.demo import DEMO_COMPANIES
from tests.servers import ROOT

pytestmark = pytest.mark.browser

# The browser asks for zh-CN: every label is read as the user reads it, from the app's own catalog.
CATALOG = Translations.load(str(ROOT / "crm" / "translations"), ["zh_Hans_CN"])

PRODUCT = "复方丹参滴丸"
COUNTY = "滨江区"  # 杭州市滨江区 (330108): rep_hz's city, manager_zj's province, no exclusive grant there
OTHER_COMPANY = DEMO_COMPANIES["xihu"][0]  # another distributor in the same province
CASE_URL = re.compile(r"/screening/(\d+)$")
CRITERIA = {
    "capital": (85, "注册资本 3000 万，银行授信充足"),
    "resources": (80, "覆盖二级以上医院 25 家"),
    "logistics": (78, "自有冷链车 4 辆，杭州市内次日达"),
    "terminals": (82, "合作连锁药店 90 家"),
    "thinking": (75, "愿意配合学术推广"),
}


def zh(message: str, **values) -> str:
    text = CATALOG.gettext(message)
    return text % values if values else text


def unique_applicant() -> tuple[str, str, str]:
    """A company name, a valid 18-character credit code and a mobile number not used by an earlier run."""
    stamp = f"{time.time_ns() // 1_000_000 % 10**8:08d}"
    first17 = f"91330108M{stamp}"
    return f"杭州滨江康远医药有限公司{stamp}", first17 + uscc_check_char(first17), f"139{stamp}"


def write_scan(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(b"%PDF-1.4\n% scanned licence\n" + b"0" * 64 + b"\n%%EOF\n")
    return path


def sign_out(page: Page) -> None:
    page.get_by_test_id("user-menu").click()
    page.locator("[data-testid=logout]").click()
    page.wait_for_url("**/auth/login*")


def expect_flash(page: Page, text: str) -> None:
    expect(page.locator("main .alert-success")).to_contain_text(text)


def expect_case_state(page: Page, state: str, label: str) -> None:
    badge = page.locator("[data-testid=state]")
    expect(badge).to_have_attribute("data-state", state)
    expect(badge).to_have_text(zh(label))


def upload(page: Page, kind: str, scan: Path, number: str, expires_on: date | None = None) -> None:
    form = page.locator("[data-testid=documents] form")
    form.locator("select[name=kind]").select_option(kind)
    form.locator("input[name=file]").set_input_files(scan)
    form.locator("input[name=number]").fill(number)
    form.locator("input[name=issued_on]").fill((date.today() - timedelta(days=400)).isoformat())
    if expires_on is not None:
        form.locator("input[name=expires_on]").fill(expires_on.isoformat())
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/screening/\d+#documents$"))


def rep_opens_and_submits(page: Page, sign_in, company: str, uscc: str, phone: str, scans: Path) -> int:
    sign_in("rep_hz")
    page.goto("/screening/new")
    form = page.locator("main form")
    form.locator("input[name=company_name]").fill(company)
    form.locator("input[name=uscc]").fill(uscc)
    # The territory picker searches the server as the rep types (Tom Select).
    page.locator(".ts-control").first.click()
    page.keyboard.type("滨江")
    page.locator(".ts-dropdown .option", has_text="杭州市").filter(has_text=COUNTY).first.click()
    form.locator("input[name=address]").fill("杭州市滨江区江南大道 1000 号")
    form.locator("input[name=contact_name]").fill("周康远")
    form.locator("input[name=contact_phone]").fill(f"{phone[:3]} {phone[3:7]} {phone[7:]}")
    form.locator("textarea[name=summary]").fill("滨江区龙头配送商，覆盖区内主要医院和连锁药店")
    form.locator("button[type=submit]").click()
    page.wait_for_url(CASE_URL)
    case_id = int(CASE_URL.search(page.url).group(1))
    expect_flash(page, zh("Screening case #%(id)d opened.", id=case_id))
    expect(page.locator("[data-testid=company-name]")).to_have_text(company)
    expect_case_state(page, "draft", "Draft")
    expect(page.locator("[data-testid=profile]")).to_contain_text(uscc)
    expect(page.locator("[data-testid=key-region]")).to_have_count(0)

    # One product in the county: the line's territory starts as the case's own.
    lines = page.locator("[data-testid=lines]")
    lines.locator("select[name=product_id]").select_option(label=PRODUCT)
    lines.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/screening/\d+#lines$"))
    expect(lines.locator(".list-group-item")).to_have_count(1)
    expect(lines.locator(".list-group-item")).to_contain_text(PRODUCT)
    expect(lines.locator(".list-group-item")).to_contain_text(COUNTY)

    # The two licences, the drug-trading one valid for two more years.
    upload(page, "business_licence", write_scan(scans, "营业执照.pdf"), uscc)
    expect_flash(page, zh("%(kind)s uploaded.", kind=zh("Business licence")))
    upload(
        page,
        "drug_trading_licence",
        write_scan(scans, "药品经营许可证.pdf"),
        f"浙AA{uscc[-7:-1]}",
        expires_on=date.today() + timedelta(days=730),
    )
    expect_flash(page, zh("%(kind)s uploaded.", kind=zh("Drug-trading licence")))
    documents = page.locator("[data-testid=documents] tr[data-document]")
    expect(documents).to_have_count(2)
    expect(documents.filter(has_text="营业执照.pdf")).to_contain_text(zh("Business licence"))
    expect(documents.filter(has_text="药品经营许可证.pdf")).to_contain_text(
        (date.today() + timedelta(days=730)).isoformat()
    )

    page.locator("button[data-event=submit]").click()
    page.wait_for_url(CASE_URL)
    expect_flash(page, zh("Done: %(event)s.", event=zh("Submit for screening")))
    expect_case_state(page, "submitted", "Submitted")
    expect(page.locator("[data-testid=assignee]")).to_have_text("陈经理")  # manager_zj
    expect(page.locator("[data-testid=lines] form")).to_have_count(0)  # what is asked for is frozen
    sign_out(page)
    return case_id


def manager_reviews_and_approves(page: Page, sign_in, case_id: int, company: str) -> None:
    sign_in("manager_zj")
    page.locator("[data-testid=main-nav] [data-nav-group='distributors']").click()
    page.locator("[data-testid=main-nav] [data-nav='screening.approvals']").click()
    page.wait_for_url("**/screening/approvals")
    row = page.locator(f"[data-testid=approvals] tr[data-case='{case_id}']")
    expect(row).to_contain_text(company)
    expect(row).to_contain_text(zh("Submitted"))
    expect(row).to_contain_text("赵代表")  # rep_hz submitted it
    row.get_by_role("link", name=company).click()
    page.wait_for_url(f"**/screening/{case_id}")

    page.locator("button[data-event=pick_up]").click()
    page.wait_for_url(CASE_URL)
    expect_flash(page, zh("Done: %(event)s.", event=zh("Start the review")))
    expect_case_state(page, "reviewing", "Under review")
    gates = page.locator("[data-testid=gates]")
    expect(gates.locator("[data-gate=licences_valid]")).to_have_attribute("data-passed", "yes")
    expect(gates.locator("[data-gate=not_submitter]")).to_have_attribute("data-passed", "yes")
    expect(gates.locator("[data-gate=score_passes]")).to_have_attribute("data-passed", "no")
    expect(page.locator("[data-testid=approve-refusal]")).to_be_visible()

    scorecard = page.locator("[data-testid=scorecard]")
    for criterion, (score, note) in CRITERIA.items():
        form = scorecard.locator("form")
        form.locator("select[name=criterion]").select_option(criterion)
        form.locator("input[name=score]").fill(str(score))
        form.locator("textarea[name=note]").fill(note)
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"/screening/\d+#scorecard$"))
        row = scorecard.locator(f"tr[data-criterion={criterion}]")
        expect(row).to_contain_text(str(score))
        expect(row).to_contain_text(note)
    expect(page.locator("main .alert-success")).to_contain_text(zh("Business thinking"))
    expect(page.locator("[data-testid=weighted-score] strong").first).to_have_text(re.compile(r"^\d+\.\d$"))

    # Every gate passed, with the badge a user reads, and nothing stands in the way of approval.
    gate_rows = gates.locator("[data-gate]")
    expect(gate_rows).to_have_count(5)
    names = {gate.get_attribute("data-gate") for gate in gate_rows.all()}
    assert names == {"licences_valid", "score_passes", "no_exclusive_clash", "not_submitter", "lines_in_reach"}
    for gate in gate_rows.all():
        expect(gate).to_have_attribute("data-passed", "yes")
        expect(gate.locator(".badge")).to_have_text(zh("Passed"))
    expect(page.locator("[data-testid=approve-refusal]")).to_have_count(0)

    approve = page.locator("[data-testid=approve]")
    approve.locator("textarea[name=comment]").fill("资质齐全，评分达标")
    approve.locator("button[data-event=approve]").click()
    page.wait_for_url(CASE_URL)
    expect_flash(page, zh("Approved: %(name)s is now a distributor in onboarding.", name=company))
    expect_case_state(page, "approved", "Approved")
    expect(page.locator("[data-testid=profile]")).to_contain_text("陈经理")  # approved by


def manager_signs(page: Page, company: str, phone: str) -> tuple[str, str]:
    """From the approved case to its distributor; signing shows the portal user's one-time password."""
    page.locator("[data-testid=profile]").get_by_role("link", name=company).click()
    page.wait_for_url(re.compile(r"/distributors/\d+$"))
    expect(page.locator("[data-testid=company-name]")).to_have_text(company)
    expect(page.locator("[data-testid=state]")).to_have_text(zh("Onboarding"))
    agreement = page.locator("[data-testid=agreements] [data-agreement]")
    expect(agreement).to_have_count(1)
    expect(agreement.locator("[data-testid=agreement-status]")).to_have_text(zh("Draft"))
    expect(agreement.locator("tr[data-line]")).to_contain_text(PRODUCT)
    expect(agreement.locator("[data-contact]")).to_contain_text("周康远")

    agreement.locator(".card-header").get_by_role("button", name=zh("Sign the agreement")).click()
    page.wait_for_url(re.compile(r"/distributors/agreements/\d+/sign$"))
    heading = re.escape(zh("Agreement %(number)s signed", number="NUMBER")).replace("NUMBER", r"ZS-\d{4}-\d{4}")
    expect(page.locator("main h1")).to_have_text(re.compile(heading))
    expect(page.locator("main")).to_contain_text(zh("%(name)s is now an active distributor.", name=company))
    credentials = page.locator("[data-testid=credentials] tbody tr")
    expect(credentials).to_have_count(1)
    expect(credentials).to_contain_text("周康远")
    username = credentials.get_attribute("data-username")
    assert username == phone, f"the portal username is the contact's mobile, not {username!r}"
    password = credentials.locator("[data-testid=password]").inner_text().strip()
    assert len(password) >= 12, "the one-time password is shown in full"

    page.get_by_role("link", name=zh("Back to %(name)s", name=company)).click()
    page.wait_for_url(re.compile(r"/distributors/\d+$"))
    expect(page.locator("[data-testid=state]")).to_have_text(zh("Trading"))
    expect(page.locator("[data-testid=agreement-status]")).to_have_text(zh("Signed"))
    expect(page.locator("[data-testid=case]")).to_contain_text(zh("Contracted"))
    expect(page.locator("[data-testid=portal-users]")).to_contain_text(username)
    expect(page.locator("[data-testid=password]")).to_have_count(0)  # shown once, never again
    return username, password


def other_company_url(page: Page) -> str:
    """The page of another distributor, as the manager finds it in the list."""
    page.goto("/distributors/?q=" + OTHER_COMPANY)
    link = page.locator("main tr[data-distributor] a", has_text=OTHER_COMPANY)
    expect(link).to_have_count(1)
    return link.get_attribute("href")


def test_rep_submits_manager_approves_agreement_signed_portal_user_sees_its_own_company(sign_in, page, tmp_path):
    # Submitting, picking up and approving cannot be taken back: each asks first, and the people say yes.
    page.on("dialog", lambda dialog: dialog.accept())
    company, uscc, phone = unique_applicant()

    case_id = rep_opens_and_submits(page, sign_in, company, uscc, phone, tmp_path)
    manager_reviews_and_approves(page, sign_in, case_id, company)
    username, password = manager_signs(page, company, phone)
    forbidden = [other_company_url(page), "/leads/", "/screening/"]
    sign_out(page)

    # The portal user signs in with the password read off the signing page, and lands inside the app.
    sign_in(username, password)
    expect(page.locator("main input[name=password]")).to_have_count(0)
    nav = page.locator("[data-testid=main-nav]")
    expect(nav.locator("[data-nav='distributors.index']")).to_have_count(0)
    nav.locator("[data-nav='distributors.my_company']").click()
    page.wait_for_url("**/distributors/mine")
    expect(page.locator("[data-testid=company-name]")).to_have_text(company)
    expect(page.locator("[data-testid=state]")).to_have_text(zh("Trading"))
    expect(page.locator("[data-testid=agreement-status]")).to_have_text(zh("Signed"))
    expect(page.locator("main")).to_contain_text(uscc)
    expect(page.locator("main")).not_to_contain_text(OTHER_COMPANY)
    expect(page.locator("[data-testid=actions]")).to_have_count(0)  # staff's buttons are not the portal's

    for url in forbidden:
        response = page.goto(url)
        assert response.status in (403, 404), f"the portal user opened {url}: {response.status}"
        expect(page.locator("main")).not_to_contain_text(OTHER_COMPANY)
