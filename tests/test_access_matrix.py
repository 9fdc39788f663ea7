"""Every route × every role (and anonymous), generated from ``app.url_map``.

The expectation table below is the access policy in one place. A route added
without a row here fails ``test_every_route_has_an_expectation``; a route whose
answer differs from its row fails the matrix for that role.

Records inside the user's reach answer 200; the same route on a record outside
their territories answers 404 (not 403), so that ids do not leak.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from crm.access.roles import Role
from tests.distributors.helpers import gen_draft_agreement
from tests.helpers import csrf_token, gen_distributor, gen_product, login

ANON = "anonymous"
ALL = frozenset(Role)
STAFF = frozenset({Role.ADMIN, Role.MANAGER, Role.REP, Role.SERVICE})
ADMIN = frozenset({Role.ADMIN})
IMPORTERS = frozenset({Role.ADMIN, Role.MANAGER, Role.REP})
LEAD_ENTRY = frozenset({Role.ADMIN, Role.MANAGER, Role.REP})
LEAD_MANAGERS = frozenset({Role.ADMIN, Role.MANAGER})
TOUCHING = frozenset({Role.MANAGER, Role.REP})
DESK = frozenset({Role.ADMIN, Role.SERVICE})
HOLDERS = frozenset({Role.ADMIN, Role.SERVICE, Role.MANAGER})
RECEIVERS = frozenset({Role.ADMIN, Role.SERVICE, Role.DISTRIBUTOR})


def expect(ok: int, allowed=ALL, *, denied: int = 403, anonymous: int = 302, **special) -> dict:
    """Status per role: ``ok`` for allowed roles, ``denied`` for the others, ``anonymous`` signed out."""
    table = {role: (ok if role in allowed else denied) for role in Role}
    table[ANON] = anonymous
    table.update({Role(k): v for k, v in special.items()})
    return table


# (endpoint, method) → status per role, for records inside the user's reach.
# A POST here carries only the CSRF token: create forms answer 200 with their
# errors, and edit forms answer 409 because the version the user saw is missing.
EXPECTED = {
    ("main.index", "GET"): expect(200),
    ("main.healthz", "GET"): expect(200, anonymous=200),
    ("main.set_language", "POST"): expect(302, anonymous=302),
    ("auth.login", "GET"): expect(302, anonymous=200),
    ("auth.login", "POST"): expect(302, anonymous=200),
    ("auth.change_password", "GET"): expect(200),
    ("auth.change_password", "POST"): expect(200),
    ("auth.logout", "POST"): expect(302),
    ("admin.users", "GET"): expect(200, ADMIN),
    ("admin.user_new", "GET"): expect(200, ADMIN),
    ("admin.user_new", "POST"): expect(200, ADMIN),
    ("admin.user_edit", "GET"): expect(200, ADMIN),
    ("admin.user_edit", "POST"): expect(409, ADMIN),
    ("admin.user_reset_password", "POST"): expect(302, ADMIN),
    ("admin.user_set_active", "POST"): expect(302, ADMIN),
    ("admin.audit_log", "GET"): expect(200, ADMIN),
    ("territories.index", "GET"): expect(200, {Role.ADMIN, Role.MANAGER}),
    ("territories.edit", "GET"): expect(200, ADMIN),
    ("territories.edit", "POST"): expect(200, ADMIN),
    ("territories.search", "GET"): expect(200, STAFF),
    ("products.index", "GET"): expect(200, STAFF),
    ("products.detail", "GET"): expect(200, STAFF),
    ("products.new", "GET"): expect(200, ADMIN),
    ("products.new", "POST"): expect(200, ADMIN),
    ("products.edit", "GET"): expect(200, ADMIN),
    ("products.edit", "POST"): expect(409, ADMIN),
    ("distributors.index", "GET"): expect(200, STAFF),
    ("distributors.export", "GET"): expect(200, STAFF),
    ("distributors.detail", "GET"): expect(200, STAFF),
    ("distributors.my_company", "GET"): expect(200, {Role.DISTRIBUTOR}),
    ("distributors.new", "GET"): expect(200, ADMIN),
    ("distributors.new", "POST"): expect(200, ADMIN),
    ("distributors.edit", "GET"): expect(200, ADMIN),
    ("distributors.edit", "POST"): expect(409, ADMIN),
    # The test workflow's record lies in 南山区; "take" is for reps and managers. Without the
    # version the form carries, every role that may see the record gets 409 before any other
    # check (a stale page must hear "reload"); the portal gets 404.
    ("workflow.record", "GET"): expect(200, STAFF, denied=404),
    ("workflow.fire", "POST"): expect(409, STAFF, denied=404),
    ("workflow.index", "GET"): expect(200, STAFF),
    ("workflow.diagram", "GET"): expect(200, STAFF),
    ("workflow.overdue", "GET"): expect(200, STAFF),
    ("workflow.breaches", "GET"): expect(200, {Role.ADMIN, Role.MANAGER}),
    # SLA settings: a rule form without the version it was loaded with is stale (409); the
    # holiday forms without their fields answer 200 with the errors; a delete redirects.
    ("sla.rules", "GET"): expect(200, ADMIN),
    ("sla.rule_edit", "GET"): expect(200, ADMIN),
    ("sla.rule_edit", "POST"): expect(409, ADMIN),
    ("sla.rule_reset", "POST"): expect(409, ADMIN),
    ("sla.holidays", "GET"): expect(200, ADMIN),
    ("sla.holidays", "POST"): expect(200, ADMIN),
    ("sla.holiday_range", "POST"): expect(200, ADMIN),
    ("sla.holiday_delete", "POST"): expect(303, ADMIN),
    ("sla.holiday_year_complete", "POST"): expect(303, ADMIN),
    # Everyone has an inbox. Marking one read without naming a notification of one's own answers 404.
    ("notify.index", "GET"): expect(200),
    ("notify.mark_read", "POST"): expect(404),
    ("notify.mark_all_read", "POST"): expect(303),
    # The pool (公海): reps and managers see their territories' pool, the admin all of it. Only
    # reps and managers claim; the sample lead has an owner and was never pooled, so a claim
    # answers 404 like a lead they cannot see (claiming itself: tests/leads/test_pool.py).
    ("leads.pool", "GET"): expect(200, {Role.ADMIN, Role.MANAGER, Role.REP}),
    ("leads.claim", "POST"): expect(404, {Role.MANAGER, Role.REP}),
    # Sending a lead back: its owner or a manager, within reach (409 without the version seen).
    # The bulk form without a chosen action goes back to the list.
    ("leads.release", "GET"): expect(200, LEAD_ENTRY),
    ("leads.release", "POST"): expect(409, LEAD_ENTRY),
    ("leads.bulk", "POST"): expect(303, LEAD_MANAGERS),
    # Lead import: admins, managers and reps. An import is seen by its uploader (the rep here) and
    # admins; the manager gets 404. Without a file or campaign the upload and mapping forms answer
    # 200 with the error; the preview and the run of a file not yet checked go back to its page.
    ("leads.import_upload", "GET"): expect(200, IMPORTERS),
    ("leads.import_upload", "POST"): expect(200, IMPORTERS),
    ("leads.import_mapping", "GET"): expect(200, IMPORTERS, manager=404),
    ("leads.import_mapping", "POST"): expect(200, IMPORTERS, manager=404),
    ("leads.import_preview", "GET"): expect(302, IMPORTERS, manager=404),
    ("leads.import_report", "GET"): expect(200, IMPORTERS, manager=404),
    ("leads.import_run", "POST"): expect(302, IMPORTERS, manager=404),
    ("leads.import_job", "GET"): expect(200, IMPORTERS, manager=404),
    ("leads.import_progress", "GET"): expect(200, IMPORTERS, manager=404),
    # The lead list and its export: staff, each within their reach; the portal has no leads.
    ("leads.index", "GET"): expect(200, STAFF),
    ("leads.export", "GET"): expect(200, STAFF),
    ("leads.owner_options", "GET"): expect(200, STAFF),
    ("leads.campaign_options", "GET"): expect(200, STAFF),
    # Campaigns and the scripts library: staff read them, managers and the admin keep them;
    # the comparison and the funnel are for managers and the admin.
    ("leads.campaigns", "GET"): expect(200, STAFF),
    ("leads.campaign_detail", "GET"): expect(200, STAFF),
    ("leads.campaign_new", "GET"): expect(200, {Role.ADMIN, Role.MANAGER}),
    ("leads.campaign_new", "POST"): expect(200, {Role.ADMIN, Role.MANAGER}),
    ("leads.campaign_edit", "GET"): expect(200, {Role.ADMIN, Role.MANAGER}),
    ("leads.campaign_edit", "POST"): expect(409, {Role.ADMIN, Role.MANAGER}),
    ("leads.campaign_compare", "GET"): expect(200, {Role.ADMIN, Role.MANAGER}),
    ("leads.funnel", "GET"): expect(200, {Role.ADMIN, Role.MANAGER}),
    ("leads.scripts", "GET"): expect(200, STAFF),
    ("leads.script_new", "GET"): expect(200, {Role.ADMIN, Role.MANAGER}),
    ("leads.script_new", "POST"): expect(200, {Role.ADMIN, Role.MANAGER}),
    ("leads.script_edit", "GET"): expect(200, {Role.ADMIN, Role.MANAGER}),
    ("leads.script_edit", "POST"): expect(409, {Role.ADMIN, Role.MANAGER}),
    # One lead's pages: reps, managers and the admin enter leads; touches are for reps and
    # managers; reassign and merge for managers and the admin. A POST without the version
    # the page was loaded with is stale (409) before any other check.
    ("leads.new", "GET"): expect(200, LEAD_ENTRY),
    ("leads.new", "POST"): expect(200, LEAD_ENTRY),
    ("leads.detail", "GET"): expect(200, STAFF),
    # Editing a lead and its contacts: whoever enters leads, within reach; a POST without the
    # version the page showed is stale (409).
    ("leads.edit", "GET"): expect(200, LEAD_ENTRY),
    ("leads.edit", "POST"): expect(409, LEAD_ENTRY),
    ("leads.contact_add", "POST"): expect(409, LEAD_ENTRY),
    ("leads.contact_remove", "POST"): expect(409, LEAD_ENTRY),
    ("leads.touch", "GET"): expect(200, TOUCHING),
    ("leads.touch", "POST"): expect(409, TOUCHING),
    ("leads.touch_photo", "GET"): expect(200, STAFF),
    ("leads.lose", "GET"): expect(200, LEAD_ENTRY),
    ("leads.lose", "POST"): expect(409, LEAD_ENTRY),
    ("leads.reassign", "GET"): expect(200, LEAD_MANAGERS),
    ("leads.reassign", "POST"): expect(409, LEAD_MANAGERS),
    ("leads.merge", "GET"): expect(200, LEAD_MANAGERS),
    ("leads.merge", "POST"): expect(409, LEAD_MANAGERS),
    # --- licence watch (issue 5): the expiring-licence report, each user within their reach;
    # customer service and the portal have no report (a portal user sees their own licences
    # on their company page).
    ("distributors.licences", "GET"): expect(200, {Role.ADMIN, Role.MANAGER, Role.REP}),
    # --- end licence watch
    # --- distributors and agreements (issue 5): managers and the admin keep agreements and see
    # coverage. Every POST carries the version the page was loaded with: without it, 409 before
    # any other check. The sample agreement is a draft of the 南山 company.
    ("distributors.coverage", "GET"): expect(200, LEAD_MANAGERS),
    ("distributors.terminate", "POST"): expect(409, LEAD_MANAGERS),
    ("distributors.agreement_edit", "GET"): expect(200, LEAD_MANAGERS),
    ("distributors.agreement_edit", "POST"): expect(409, LEAD_MANAGERS),
    ("distributors.agreement_line_add", "POST"): expect(409, LEAD_MANAGERS),
    ("distributors.agreement_line_remove", "POST"): expect(409, LEAD_MANAGERS),
    ("distributors.agreement_line_price", "POST"): expect(409, LEAD_MANAGERS),
    ("distributors.agreement_contact_add", "POST"): expect(409, LEAD_MANAGERS),
    ("distributors.agreement_contact_remove", "POST"): expect(409, LEAD_MANAGERS),
    ("distributors.agreement_sign", "POST"): expect(409, LEAD_MANAGERS),
    # --- end distributors and agreements
    # --- Screening (商筛选): staff read cases in reach; reps, managers and the admin work on them;
    # scores and approval are for managers and the admin; the policy is the admin's. A POST without
    # the version the case page was loaded with is stale (409); a blank new-case form answers 200.
    ("screening.index", "GET"): expect(200, STAFF),
    ("screening.export", "GET"): expect(200, STAFF),
    ("screening.approvals", "GET"): expect(200, LEAD_MANAGERS),
    ("screening.new", "GET"): expect(200, LEAD_ENTRY),
    ("screening.new", "POST"): expect(200, LEAD_ENTRY),
    ("screening.policy", "GET"): expect(200, ADMIN),
    ("screening.policy", "POST"): expect(409, ADMIN),
    ("screening.detail", "GET"): expect(200, STAFF),
    ("screening.edit", "GET"): expect(200, LEAD_ENTRY),
    ("screening.edit", "POST"): expect(409, LEAD_ENTRY),
    ("screening.add_line", "POST"): expect(409, LEAD_ENTRY),
    ("screening.remove_line", "POST"): expect(409, LEAD_ENTRY),
    ("screening.upload_document", "POST"): expect(409, LEAD_ENTRY),
    ("screening.document", "GET"): expect(200, STAFF),
    ("screening.score", "POST"): expect(409, LEAD_MANAGERS),
    ("screening.fire", "POST"): expect(409, LEAD_ENTRY),
    ("screening.approve", "POST"): expect(409, LEAD_MANAGERS),
    # --- end of screening
    # --- Orders (issue 12): the order desk (service, admin) confirms, ships and invoices; managers
    # hold and release; reps and managers ask for a release; the portal places, follows and signs
    # for its own company's orders. Staff read orders shipped into their reach. A POST without the
    # version the page was loaded with is stale (409) before any other check. The sample order of
    # the 南山 company is shipped (so its 随货同行单 exists); lots are the maker's, read by staff.
    ("orders.index", "GET"): expect(200, ALL),
    ("orders.detail", "GET"): expect(200, ALL),
    ("orders.export", "GET"): expect(200, ALL),
    ("orders.confirm", "POST"): expect(409, DESK),
    ("orders.hold", "POST"): expect(409, HOLDERS),
    ("orders.release", "POST"): expect(409, LEAD_MANAGERS),
    ("orders.ask_release", "POST"): expect(409, LEAD_ENTRY),
    ("orders.fire", "POST"): expect(409, ALL),
    ("orders.ship", "POST"): expect(409, DESK),
    ("orders.receipt", "POST"): expect(409, RECEIVERS),
    ("orders.invoice", "POST"): expect(409, DESK),
    ("orders.delivery_note", "GET"): expect(200, ALL),
    ("orders.delivery_note_pdf", "GET"): expect(200, ALL),
    ("orders.lots_index", "GET"): expect(200, STAFF),
    ("orders.lot_new", "GET"): expect(200, DESK),
    ("orders.lot_new", "POST"): expect(422, DESK),
    ("orders.lot_detail", "GET"): expect(200, STAFF),
    # Lot import: the order desk's. Without a file the upload answers 422 with the error; a confirm
    # without the token of one's own checked upload finds nothing (404).
    ("orders.lot_import", "GET"): expect(200, DESK),
    ("orders.lot_import", "POST"): expect(422, DESK),
    ("orders.lot_import_confirm", "POST"): expect(404, DESK),
    ("orders.trace", "GET"): expect(200, STAFF),
    ("orders.statement", "GET"): expect(200, ALL),
    ("orders.statement_xlsx", "GET"): expect(200, ALL),
    ("orders.payment", "POST"): expect(302, DESK),
    ("orders.credit", "POST"): expect(409, LEAD_MANAGERS),
    # Discounts: the desk, reps and managers ask; managers decide (409 without the version seen).
    ("orders.discount_request", "POST"): expect(409, STAFF),
    ("orders.discount_decide", "POST"): expect(409, LEAD_MANAGERS),
    ("orders.discounts_index", "GET"): expect(200, STAFF),
    ("portal.index", "GET"): expect(200, {Role.DISTRIBUTOR}),
    ("portal.catalogue", "GET"): expect(200, {Role.DISTRIBUTOR}),
    ("portal.catalogue", "POST"): expect(422, {Role.DISTRIBUTOR}),
    # --- end of orders
    # --- Returns (issue 13): the 南山 company's return of its delivered order. Requests come from the
    # distributor or the order desk for it; managers and the desk decide; the desk receives and inspects.
    ("returns.index", "GET"): expect(200, ALL),
    ("returns.detail", "GET"): expect(200, ALL),
    ("returns.new", "GET"): expect(200, RECEIVERS),
    ("returns.new", "POST"): expect(422, RECEIVERS),
    ("returns.fire", "POST"): expect(409, ALL),
    ("returns.reject", "POST"): expect(409, HOLDERS),
    ("returns.temperature", "POST"): expect(409, RECEIVERS),
    ("returns.receive", "POST"): expect(409, DESK),
    ("returns.inspect", "POST"): expect(409, DESK),
    ("returns.refund", "POST"): expect(409, DESK),
    ("returns.replace", "POST"): expect(409, DESK),
    ("returns.quality", "GET"): expect(200, STAFF),
    ("returns.policy", "GET"): expect(200, LEAD_MANAGERS),
    ("returns.policy", "POST"): expect(422, LEAD_MANAGERS),
    # --- end of returns
}

# The same routes on a record outside the territories of the rep and the manager.
EXPECTED_OUT_OF_REACH = {
    ("distributors.detail", "GET"): expect(200, STAFF, manager=404, rep=404),
    ("distributors.edit", "GET"): expect(200, ADMIN),
    ("distributors.edit", "POST"): expect(409, ADMIN),
    ("workflow.record", "GET"): expect(200, STAFF, denied=404, manager=404, rep=404),
    ("workflow.fire", "POST"): expect(409, {Role.ADMIN, Role.SERVICE}, denied=404),
    ("leads.claim", "POST"): expect(404, {Role.MANAGER, Role.REP}),
    ("leads.detail", "GET"): expect(200, STAFF, manager=404, rep=404),
    ("leads.edit", "GET"): expect(200, LEAD_ENTRY, manager=404, rep=404),
    ("leads.release", "GET"): expect(200, LEAD_ENTRY, manager=404, rep=404),
    ("leads.release", "POST"): expect(409, LEAD_ENTRY, manager=404, rep=404),
    ("leads.edit", "POST"): expect(409, LEAD_ENTRY, manager=404, rep=404),
    ("leads.contact_add", "POST"): expect(409, LEAD_ENTRY, manager=404, rep=404),
    ("leads.contact_remove", "POST"): expect(409, LEAD_ENTRY, manager=404, rep=404),
    ("leads.touch", "GET"): expect(404, TOUCHING),
    ("leads.touch", "POST"): expect(404, TOUCHING),
    ("leads.touch_photo", "GET"): expect(200, STAFF, manager=404, rep=404),
    ("leads.lose", "GET"): expect(200, LEAD_ENTRY, manager=404, rep=404),
    ("leads.lose", "POST"): expect(409, LEAD_ENTRY, manager=404, rep=404),
    ("leads.reassign", "GET"): expect(200, LEAD_MANAGERS, manager=404),
    ("leads.reassign", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    ("leads.merge", "GET"): expect(200, LEAD_MANAGERS, manager=404),
    ("leads.merge", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    # --- distributors and agreements (issue 5): the Beijing company's draft agreement
    ("distributors.terminate", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    ("distributors.agreement_edit", "GET"): expect(200, LEAD_MANAGERS, manager=404),
    ("distributors.agreement_edit", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    ("distributors.agreement_line_add", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    ("distributors.agreement_line_remove", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    ("distributors.agreement_line_price", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    ("distributors.agreement_contact_add", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    ("distributors.agreement_contact_remove", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    ("distributors.agreement_sign", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    # --- end distributors and agreements
    # --- Screening: a case in 东城区, outside the rep's and the manager's territories.
    ("screening.detail", "GET"): expect(200, STAFF, manager=404, rep=404),
    ("screening.edit", "GET"): expect(200, ADMIN, manager=404, rep=404),
    ("screening.edit", "POST"): expect(409, ADMIN, manager=404, rep=404),
    ("screening.add_line", "POST"): expect(409, ADMIN, manager=404, rep=404),
    ("screening.remove_line", "POST"): expect(409, ADMIN, manager=404, rep=404),
    ("screening.upload_document", "POST"): expect(409, ADMIN, manager=404, rep=404),
    ("screening.document", "GET"): expect(200, STAFF, manager=404, rep=404),
    ("screening.score", "POST"): expect(409, ADMIN, manager=404),
    ("screening.fire", "POST"): expect(409, ADMIN, manager=404, rep=404),
    ("screening.approve", "POST"): expect(409, ADMIN, manager=404),
    # --- end of screening
    # --- Orders: the 东城 company's shipped order; the portal user is of the 南山 company.
    ("orders.detail", "GET"): expect(200, ALL, manager=404, rep=404, distributor=404),
    ("orders.confirm", "POST"): expect(409, DESK),
    ("orders.hold", "POST"): expect(409, HOLDERS, manager=404),
    ("orders.release", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    ("orders.ask_release", "POST"): expect(409, LEAD_ENTRY, manager=404, rep=404),
    ("orders.fire", "POST"): expect(409, ALL, manager=404, rep=404, distributor=404),
    ("orders.receipt", "POST"): expect(409, RECEIVERS, distributor=404),
    ("orders.delivery_note", "GET"): expect(200, ALL, manager=404, rep=404, distributor=404),
    ("orders.delivery_note_pdf", "GET"): expect(200, ALL, manager=404, rep=404, distributor=404),
    ("orders.statement", "GET"): expect(200, ALL, manager=404, rep=404, distributor=404),
    ("orders.statement_xlsx", "GET"): expect(200, ALL, manager=404, rep=404, distributor=404),
    ("orders.credit", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    ("orders.discount_request", "POST"): expect(409, STAFF, manager=404, rep=404),
    ("orders.discount_decide", "POST"): expect(409, LEAD_MANAGERS, manager=404),
    # --- end of orders
    # --- Returns: the 东城 company's return.
    ("returns.detail", "GET"): expect(200, ALL, manager=404, rep=404, distributor=404),
    ("returns.fire", "POST"): expect(409, ALL, manager=404, rep=404, distributor=404),
    ("returns.reject", "POST"): expect(409, HOLDERS, manager=404),
    ("returns.temperature", "POST"): expect(409, RECEIVERS, distributor=404),
    ("returns.policy", "GET"): expect(200, LEAD_MANAGERS, manager=404),
    ("returns.policy", "POST"): expect(422, LEAD_MANAGERS, manager=404),
    # --- end of returns
}

# Routes whose request changes the caller's own session run last.
RUN_LAST = {("auth.logout", "POST"), ("main.set_language", "POST")}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_has_an_expectation(app):
    missing = sorted(
        f"{rule.endpoint} {method} {rule.rule}"
        for rule, method in _routes(app)
        if (rule.endpoint, method) not in EXPECTED
    )
    assert not missing, "routes without an access expectation:\n" + "\n".join(missing)
    stale = sorted(set(EXPECTED) - {(rule.endpoint, method) for rule, method in _routes(app)})
    assert not stale, f"expectations for routes that no longer exist: {stale}"


@pytest.fixture
def world(app, make_user, drive):
    """A manager of Guangdong, a rep of Shenzhen, a distributor company in Shenzhen, one in Beijing."""
    inside = gen_distributor(app, "440305", name="深圳南山医药")
    outside = gen_distributor(app, "110101", name="北京东城医药")
    users = {
        Role.ADMIN: make_user(Role.ADMIN),
        Role.MANAGER: make_user(Role.MANAGER, territories=["440000"]),
        Role.REP: make_user(Role.REP, territories=["440300"]),
        Role.SERVICE: make_user(Role.SERVICE),
        Role.DISTRIBUTOR: make_user(Role.DISTRIBUTOR, company_id=inside),
    }
    target = make_user(Role.REP, territories=["440300"])
    with app.app_context():
        from crm.extensions import db
        from crm.sla.models import HolidayOverride

        holiday = HolidayOverride(day=date(2026, 12, 31), is_working_day=False, name="公司假日")
        db.session.add(holiday)
        from crm.leads.models import Campaign, Channel, Script
        from crm.territories.models import Territory

        # A 广东 campaign, so that the 广东 manager keeps it (a nationwide one is the admin's).
        campaign = Campaign(name="测试药交会", channel=Channel.TRADE_SHOW)
        campaign.territories = [db.session.get(Territory, "440000")]
        script = Script(objection="价格太高", answer="看终端毛利")
        db.session.add_all([campaign, script])
        db.session.commit()
        holiday_id, campaign_id, script_id = holiday.id, campaign.id, script.id
    inside_lead, outside_lead = _sample_leads(app, users)
    inside_case, outside_case = _sample_screening_cases(app, users, gen_product(app))  # screening
    # distributors and agreements (issue 5): a draft agreement of each company
    granted = gen_product(app)
    inside_agreement = gen_draft_agreement(app, inside, granted, "440305", "ZS-MATRIX-1")
    outside_agreement = gen_draft_agreement(app, outside, granted, "110101", "ZS-MATRIX-2")
    inside_order, outside_order = _sample_orders(app, users[Role.ADMIN], {inside: "440305", outside: "110101"})
    return {
        "users": users,
        "values": {
            "distributor_id": inside,
            "user_id": target.id,
            "product_id": gen_product(app),
            "code": "440305",
            "workflow": "testflow",
            "record_id": drive("open"),
            "event": "take",
            "state": "open",
            "holiday_id": holiday_id,
            "year": 2031,
            "import_id": _sample_import(app, users[Role.REP]),
            # Claiming a lead that is not in the pool answers 404 (claims: tests/leads/test_pool.py).
            "lead_id": _sample_owned_lead(app, target.id, "440305", campaign_id),
            **inside_lead,
            "campaign_id": campaign_id,
            "script_id": script_id,
            **inside_case,  # screening
            **inside_agreement,
            **inside_order,
        },
        "outside": {
            "distributor_id": outside,
            "record_id": drive("open", territory="110101"),
            "lead_id": _sample_owned_lead(app, None, "110101", campaign_id),
            **outside_lead,
            **outside_case,  # screening
            **outside_agreement,
            **outside_order,
        },
    }


def _sample_orders(app, admin_ref, companies: dict[int, str]) -> list[dict]:
    """A shipped order of each company (its 随货同行单 exists), with credit terms: ids for the order routes."""
    from crm.auth.models import User
    from crm.extensions import db
    from crm.orders.models import Order, OrderDiscount
    from tests.orders.helpers import make_suppliable, orders_in_states, sample_lot, shipment_of

    product_id = gen_product(app, name="矩阵订单片")
    samples = []
    with app.test_request_context():
        admin = db.session.get(User, admin_ref.id)
        lot_id = sample_lot(product_id, "MATRIX-LOT")
        for distributor_id, county in companies.items():
            make_suppliable(distributor_id, county, product_id, admin, f"ZS-MATRIX-O-{county}")
            orders = orders_in_states(distributor_id, county, product_id, admin, lot_id)
            line = db.session.get(Order, orders["shipped"]).lines[0]
            discount = OrderDiscount(  # a request waiting on the shipped order's line, for the decide route
                order_id=line.order_id,
                order_line_id=line.id,
                list_price=line.unit_price,
                unit_price=line.unit_price / 2,
                reason="矩阵折让",
                requested_by_id=admin.id,
            )
            db.session.add(discount)
            db.session.flush()
            from tests.returns.helpers import sample_return

            return_id = sample_return(orders["delivered"], admin)
            samples.append(
                {
                    "order_id": orders["shipped"],
                    "shipment_id": shipment_of(orders["shipped"]),
                    "order_event": "cancel",
                    "lot_id": lot_id,
                    "order_line_id": line.id,
                    "discount_id": discount.id,
                    "return_id": return_id,
                    "return_event": "approve",
                }
            )
        db.session.commit()
    return samples


def _sample_screening_cases(app, users, product_id) -> tuple[dict, dict]:
    """A screening case in 南山 and one in 东城, each with a line and a PDF: ids for the screening routes."""
    import io

    from werkzeug.datastructures import FileStorage

    from crm.auth.models import User
    from crm.extensions import db
    from crm.screening import services

    samples = []
    with app.app_context():
        admin = db.session.get(User, users[Role.ADMIN].id)
        for code in ("440305", "110101"):
            case = services.open_case(admin, company_name=f"矩阵筛选医药{code}", territory_code=code)
            line = services.add_line(case, admin, product_id=product_id, territory_code=code)
            pdf = FileStorage(stream=io.BytesIO(b"%PDF-1.7\n" + b"0" * 64), filename="授权书.pdf")
            document = services.add_document(case, admin, kind="authorization_letter", upload=pdf)
            samples.append({"case_id": case.id, "line_id": line.id, "document_id": document.id, "event_name": "submit"})
        db.session.commit()
    return samples[0], samples[1]


def _sample_leads(app, users) -> tuple[dict, dict]:
    """A lead in 南山 and one in 东城, each with a touch that has a photo: ``lead_id`` and ``touch_id``."""
    from crm.auth.models import User
    from crm.common import uploads
    from crm.extensions import db
    from crm.leads import services
    from crm.leads.models import Campaign, Channel, Touch, TouchKind, TouchMethod

    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    samples = []
    with app.app_context():
        admin = db.session.get(User, users[Role.ADMIN].id)
        campaign = Campaign(name="访问矩阵推介会", channel=Channel.CONFERENCE)
        db.session.add(campaign)
        db.session.flush()
        for code in ("440305", "110101"):
            lead = services.create_lead(
                admin,
                company_name=f"矩阵医药{code}",
                territory_code=code,
                campaign_id=campaign.id,
                contacts=[services.ContactInput("矩阵联系人")],
                allow_duplicate=True,
            )
            touch = Touch(
                lead_id=lead.id,
                user_id=admin.id,
                kind=TouchKind.VISIT,
                method=TouchMethod.RANDOM_VISIT,
                summary="拜访",
                photo_name=uploads.store(png, uploads.PNG, services.TOUCH_PHOTO_AREA),
            )
            db.session.add(touch)
            db.session.flush()
            samples.append({"lead_id": lead.id, "touch_id": touch.id, "contact_id": lead.contacts[0].id})
        db.session.commit()
    return samples[0], samples[1]


def _sample_owned_lead(app, owner_id, territory_code, campaign_id) -> int:
    """A lead that was never in the pool (owned by ``owner_id``; without one, 110101 has nobody to take it)."""
    from crm.auth.models import User
    from crm.extensions import db
    from crm.leads.services import create_lead

    with app.app_context():
        admin = db.session.scalars(db.select(User).where(User.role == Role.ADMIN)).first()
        lead = create_lead(
            admin,
            company_name=f"公海矩阵医药{territory_code}",
            territory_code=territory_code,
            campaign_id=campaign_id,
            owner_id=owner_id,
            allow_duplicate=True,
        )
        db.session.commit()
        return lead.id


def _sample_import(app, uploader) -> int:
    """An uploaded lead list, its columns not yet confirmed."""
    from crm.extensions import db
    from crm.leads.importer import imports_dir
    from crm.leads.imports_models import LeadImport

    with app.app_context():
        (imports_dir() / "matrix.csv").write_text("企业名称,电话,地区\n矩阵导入医药,13800138000,深圳南山\n", "utf-8")
        job = LeadImport(file_name="matrix.csv", original_name="名单.csv", created_by_id=uploader.id)
        db.session.add(job)
        db.session.commit()
        return job.id


def _url(rule, values) -> str:
    missing = [arg for arg in rule.arguments if arg not in values]
    assert not missing, f"no sample value for {missing} of {rule.rule}: add one to the world fixture"
    return rule.build({arg: values[arg] for arg in rule.arguments}, append_unknown=False)[1]


def _check(app, role, cookie, table, values) -> list[str]:
    mismatches = []
    routes = sorted(_routes(app), key=lambda rm: (rm[0].endpoint, rm[1]) in RUN_LAST)
    for rule, method in routes:
        key = (rule.endpoint, method)
        if key not in table:
            continue
        client = app.test_client()
        if cookie:
            client.set_cookie("crm_session", cookie)
        url = _url(rule, values)
        if method == "GET":
            response = client.get(url)
        else:
            response = client.open(url, method=method, data={"csrf_token": csrf_token(client)})
        expected = table[key][role]
        if response.status_code != expected:
            mismatches.append(f"{method} {url} ({rule.endpoint}): expected {expected}, got {response.status_code}")
    return mismatches


@pytest.mark.parametrize("role", [ANON, *Role], ids=str)
def test_role_route_matrix(app, world, role):
    cookie = None
    if role != ANON:
        client = app.test_client()
        assert login(client, world["users"][role]).status_code == 302
        cookie = client.get_cookie("crm_session").value
    mismatches = []
    if role != ANON:  # first: the main table ends by signing out
        outside = {**world["values"], **world["outside"]}
        mismatches += _check(app, role, cookie, EXPECTED_OUT_OF_REACH, outside)
    mismatches += _check(app, role, cookie, EXPECTED, world["values"])
    assert not mismatches, f"{role}:\n" + "\n".join(mismatches)


# Query strings a user, a stale bookmark or a scanner sends: numbers out of range or not numbers,
# unknown codes, a NUL byte, markup, an open redirect, a very long search.
ODD_QUERIES = (
    "page=-1&size=0&q=%25_&state=bogus&owner=abc&territory=%25&campaign=1e99&channel=x&sla=x&pool=2"
    "&kind=x&status=x&sort=x&from=2026-13-45&to=x&days=-5&year=99999&month=2026-00&product=x&region=x",
    "page=99999999999999999999999&size=99999999999&owner=3000000000&campaign=-1&territory=44030&q=" + "药" * 2000,
    "page=1.5&size=1e3&q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&next=%2F%2Fevil.example&date=0000-00-00"
    "&tier=%FF&state=won&sla=breached&pool=1",
    "q=%00&name=a%00b",  # refused at the door: PostgreSQL cannot store a NUL
)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.REP, Role.DISTRIBUTOR], ids=str)
def test_odd_query_strings_never_break_a_page(app, world, role):
    client = app.test_client()
    assert login(client, world["users"][role]).status_code == 302
    broken = []
    for rule, method in _routes(app):
        if method != "GET" or rule.endpoint == "auth.logout":
            continue
        url = _url(rule, world["values"])
        for query in ODD_QUERIES:
            status = client.get(f"{url}?{query}").status_code
            if status >= 500:
                broken.append(f"GET {url}?{query[:60]}… answered {status}")
    assert not broken, "\n".join(broken)


# What a paste or a fat finger puts in a form field: a 40-digit number, both ways, one too large for
# a float, 3,000 characters, a date that does not exist, markup, a blank.
ODD_VALUES = ("9" * 40, "-" + "9" * 40, "1e309", "药" * 3000, "2026-02-30", "<b>x</b>", " ")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.REP], ids=str)
def test_odd_form_values_never_break_a_form(app, world, role):
    """Every POST route gets each odd value in every field its page shows: a message, never a 500."""
    client = app.test_client()
    assert login(client, world["users"][role]).status_code == 302
    broken = []
    for rule, method in _routes(app):
        if method != "POST" or rule.endpoint == "auth.logout":
            continue
        url = _url(rule, world["values"])
        names = set()
        for page in (url, url.rsplit("/", 1)[0]):  # the form's own page, or the record's
            response = client.get(page)
            if response.status_code == 200:
                names |= set(re.findall(r'name="([a-z_0-9-]+)"', response.get_data(as_text=True)))
        names.discard("csrf_token")
        for value in ODD_VALUES:
            form = {**dict.fromkeys(names, value), "csrf_token": csrf_token(client)}
            status = client.post(url, data=form).status_code
            if status >= 500:
                broken.append(f"POST {url} with {value[:12]!r} in {sorted(names)} answered {status}")
    assert not broken, "\n".join(broken)


def test_an_id_no_column_can_hold_is_a_404(client, world):
    login(client, world["users"][Role.ADMIN])
    assert client.get("/leads/99999999999999999999").status_code == 404
    assert client.get("/leads/2147483648").status_code == 404
