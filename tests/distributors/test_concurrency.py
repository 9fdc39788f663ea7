"""Two managers granting the same exclusive county at the same moment: exactly one grant is made."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.distributors.models import Agreement, AgreementLine
from crm.extensions import db
from tests.helpers import csrf_token, login


@pytest.mark.parametrize("rounds", [3])
def test_concurrent_exclusive_grants_one_wins(app, factory, people, products, make_user, rounds):
    for round_ in range(rounds):
        county = ("440303", "440304", "440306")[round_]
        first = factory.draft([(products["阿莫西林胶囊"], "440106", False)])
        second = factory.draft([(products["阿莫西林胶囊"], "440104", False)])
        clients = []
        for made in (first, second):
            client = app.test_client()
            login(client, make_user(Role.MANAGER, territories=["440000", "110000"]))
            with app.app_context():
                version = db.session.get(Agreement, made.agreement_id).version
            clients.append((client, made.agreement_id, version, csrf_token(client)))
        start = threading.Barrier(len(clients))

        def grant(client, agreement_id, version, token, start=start, county=county):
            start.wait()
            client.post(
                f"/distributors/agreements/{agreement_id}/lines",
                data={
                    "csrf_token": token,
                    "seen_version": version,
                    "product_id": products["丹参滴丸"],
                    "territory_code": county,
                    "exclusive": "y",
                },
            )

        threads = [threading.Thread(target=grant, args=c) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        with app.app_context():
            granted = db.session.scalar(
                select(func.count())
                .select_from(AgreementLine)
                .where(AgreementLine.product_id == products["丹参滴丸"], AgreementLine.territory_code == county)
            )
        assert granted == 1
