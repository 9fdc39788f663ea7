"""Exclusive territories: a grant that overlaps an exclusive one of the same product is refused.

Tried through the agreement page (adding a line to another company's draft) and
at signing; the existing grant is a draft or signed agreement of another company.
"""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from crm.access.roles import Role
from crm.distributors.agreements import Grant, find_clashes
from crm.distributors.models import Agreement, AgreementLine
from crm.extensions import db
from tests.helpers import login, post


def add_line(client, app, agreement_id: int, product_id: int, code: str, exclusive: bool):
    with app.app_context():
        version = db.session.get(Agreement, agreement_id).version
    data = {"seen_version": version, "product_id": product_id, "territory_code": code}
    if exclusive:
        data["exclusive"] = "y"
    response = post(client, f"/distributors/agreements/{agreement_id}/lines", data)
    assert response.status_code == 303
    return html.unescape(client.get(response.headers["Location"]).get_data(as_text=True))


def grants_of(app, agreement_id: int) -> set[tuple[int, str, bool]]:
    with app.app_context():
        return {
            (line.product_id, line.territory_code, line.exclusive)
            for line in db.session.scalars(select(AgreementLine).where(AgreementLine.agreement_id == agreement_id))
        }


@pytest.fixture
def newcomer(factory, products):
    """Another company's draft, holding only the other product somewhere else (so that it clashes with nothing)."""
    return factory.draft([(products["阿莫西林胶囊"], "440106", False)], name="后来医药有限公司")


CASES = [
    # existing grant (code, exclusive), asked for (code, exclusive), same product, allowed
    pytest.param(("440305", True), ("440305", True), True, False, id="county-exclusive-vs-exclusive"),
    pytest.param(("440000", True), ("440305", True), True, False, id="province-exclusive-then-county"),
    pytest.param(("440305", True), ("440000", True), True, False, id="county-exclusive-then-province"),
    pytest.param(("440000", True), ("440305", False), True, False, id="province-exclusive-then-county-open"),
    pytest.param(("440305", False), ("440000", True), True, False, id="county-open-then-province-exclusive"),
    pytest.param(("440305", True), ("440305", False), True, False, id="exclusive-then-non-exclusive"),
    pytest.param(("440305", False), ("440305", True), True, False, id="non-exclusive-then-exclusive"),
    pytest.param(("440305", False), ("440305", False), True, True, id="non-exclusive-twice"),
    pytest.param(("440305", True), ("440305", True), False, True, id="different-product"),
    pytest.param(("440305", True), ("440304", True), True, True, id="neighbouring-county"),
    pytest.param(("440300", True), ("440100", True), True, True, id="different-cities"),
]


@pytest.mark.parametrize(("existing", "asked", "same_product", "allowed"), CASES)
@pytest.mark.parametrize("signed", [False, True], ids=["draft", "signed"])
def test_overlapping_exclusive_grants_are_refused(
    app, client, factory, people, products, newcomer, existing, asked, same_product, allowed, signed
):
    build = factory.signed if signed else factory.draft
    holder = build([(products["丹参滴丸"], existing[0], existing[1])], name="先到医药有限公司")
    product = products["丹参滴丸"] if same_product else products["阿莫西林胶囊"]
    login(client, people[Role.ADMIN])
    before = grants_of(app, newcomer.agreement_id)
    page = add_line(client, app, newcomer.agreement_id, product, asked[0], asked[1])
    if allowed:
        assert grants_of(app, newcomer.agreement_id) == before | {(product, asked[0], asked[1])}
    else:
        assert grants_of(app, newcomer.agreement_id) == before
        assert "先到医药有限公司" in page  # the message names whom it clashes with
        with app.app_context():
            assert db.session.get(Agreement, holder.agreement_id).number in page


def test_find_clashes_names_the_existing_grant(app, factory, products):
    holder = factory.draft([(products["丹参滴丸"], "440000", True)], name="全省独家医药有限公司")
    with app.app_context():
        clashes = find_clashes([Grant(products["丹参滴丸"], "440305", False)])
        assert [(c.distributor.id, c.line.territory_code) for c in clashes] == [(holder.distributor_id, "440000")]
        assert (
            find_clashes([Grant(products["丹参滴丸"], "440305", False)], exclude_agreement_id=holder.agreement_id) == []
        )


def test_an_ended_agreement_no_longer_clashes(app, client, factory, people, products, newcomer):
    holder = factory.signed([(products["丹参滴丸"], "440305", True)], name="先到医药有限公司")
    login(client, people[Role.MANAGER])
    add_line(client, app, newcomer.agreement_id, products["丹参滴丸"], "440305", True)
    assert (products["丹参滴丸"], "440305", True) not in grants_of(app, newcomer.agreement_id)
    with app.app_context():
        from crm.distributors.models import Distributor

        version = db.session.get(Distributor, holder.distributor_id).version
    response = post(
        client, f"/distributors/{holder.distributor_id}/terminate", {"seen_version": version, "comment": "合同到期"}
    )
    assert response.status_code == 303
    add_line(client, app, newcomer.agreement_id, products["丹参滴丸"], "440305", True)
    assert (products["丹参滴丸"], "440305", True) in grants_of(app, newcomer.agreement_id)
    with app.app_context():
        version = db.session.get(Agreement, newcomer.agreement_id).version
    assert (
        post(client, f"/distributors/agreements/{newcomer.agreement_id}/sign", {"seen_version": version}).status_code
        == 200
    )


def test_two_non_exclusive_agreements_in_one_county_both_sign(app, client, factory, people, products):
    first = factory.draft([(products["丹参滴丸"], "440305", False)])
    second = factory.draft([(products["丹参滴丸"], "440305", False)])
    login(client, people[Role.MANAGER])
    for made in (first, second):
        with app.app_context():
            version = db.session.get(Agreement, made.agreement_id).version
        response = post(client, f"/distributors/agreements/{made.agreement_id}/sign", {"seen_version": version})
        assert response.status_code == 200
    with app.app_context():
        assert [db.session.get(Agreement, m.agreement_id).status.value for m in (first, second)] == ["signed"] * 2
