"""Fixtures of the distributor tests: one user per role and factories of approved cases and agreements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.time import local_today
from crm.distributors import onboarding
from crm.distributors.models import Agreement, DocumentKind, QualificationDocument
from crm.extensions import db
from crm.leads.models import Campaign, Channel
from crm.leads.services import create_lead
from crm.leads.workflow import LEAD_MACHINE
from crm.screening.models import CaseLine, CaseScore, Criterion, ScreeningCase
from crm.workflow import engine
from tests.helpers import gen_product, valid_uscc


@pytest.fixture
def people(make_user) -> dict:
    """A rep of Shenzhen, a manager of Guangdong, an admin, a service desk user."""
    return {
        Role.REP: make_user(Role.REP, territories=["440300"]),
        Role.MANAGER: make_user(Role.MANAGER, territories=["440000"]),
        Role.ADMIN: make_user(Role.ADMIN),
        Role.SERVICE: make_user(Role.SERVICE),
    }


@pytest.fixture
def products(app) -> dict[str, int]:
    return {name: gen_product(app, name=name) for name in ("丹参滴丸", "阿莫西林胶囊")}


@dataclass(frozen=True)
class Onboarded:
    case_id: int
    distributor_id: int
    agreement_id: int
    lead_id: int | None


@pytest.fixture
def factory(app, people):
    """Builds approved screening cases the way the screening pages do (engine events, gates passing)."""
    return CaseFactory(app, people)


class CaseFactory:
    def __init__(self, app, people):
        self.app, self.people = app, people
        self.count = 0
        with app.app_context():
            campaign = Campaign(name="分销测试招商会", channel=Channel.CONFERENCE)
            db.session.add(campaign)
            db.session.commit()
            self.campaign_id = campaign.id

    def user(self, role: Role) -> User:
        return db.session.get(User, self.people[role].id)

    def approved_case(
        self,
        lines,
        *,
        territory: str = "440305",
        name: str | None = None,
        phone: str | None = "+8613800138000",
        lead_state: str | None = "applied",
    ) -> int:
        """An approved case asking for ``lines`` (product id, territory code, exclusive); returns its id."""
        self.count += 1
        name = name or f"深圳测试医药{self.count}有限公司"
        with self.app.app_context():
            rep, manager = self.user(Role.REP), self.user(Role.MANAGER)
            lead_id = None
            if lead_state is not None:
                lead = create_lead(
                    rep,
                    company_name=name,
                    territory_code=territory,
                    campaign_id=self.campaign_id,
                    allow_duplicate=True,
                )
                for event in LEAD_MACHINE.path_to(lead_state):
                    engine.apply_event(lead, event, rep, seen_version=lead.version, comment="ok")
                lead_id = lead.id
            case = ScreeningCase(
                company_name=name,
                uscc=valid_uscc(),
                territory_code=territory,
                address="深圳市南山区科技园",
                contact_name="张经理",
                contact_phone=phone,
                lead_id=lead_id,
                created_by_id=rep.id,
            )
            case.lines = [CaseLine(product_id=p, territory_code=code, exclusive=ex) for p, code, ex in lines]
            engine.start(case, rep)
            today = local_today()
            db.session.add_all(
                [
                    _document(case, DocumentKind.BUSINESS_LICENCE, None),
                    _document(case, DocumentKind.DRUG_TRADING_LICENCE, today + timedelta(days=400)),
                ]
            )
            case.scores = [CaseScore(criterion=c, score=80) for c in Criterion]
            db.session.flush()
            case.submitted_by_id = rep.id
            db.session.flush()  # the version the events check is the one after this write
            engine.apply_event(case, "submit", rep, seen_version=case.version)
            engine.apply_event(case, "pick_up", manager, seen_version=case.version)
            engine.apply_event(case, "approve", manager, seen_version=case.version)
            case.approved_by_id = manager.id
            db.session.commit()
            return case.id

    def onboard(self, case_id: int) -> Onboarded:
        """What the approval does next: the distributor and its draft agreement."""
        with self.app.app_context():
            case = db.session.get(ScreeningCase, case_id)
            distributor, agreement = onboarding.create_from_case(case, self.user(Role.MANAGER))
            db.session.commit()
            return Onboarded(case_id, distributor.id, agreement.id, case.lead_id)

    def draft(self, lines, **kwargs) -> Onboarded:
        return self.onboard(self.approved_case(lines, **kwargs))

    def signed(self, lines, **kwargs) -> Onboarded:
        made = self.draft(lines, **kwargs)
        with self.app.app_context():
            agreement = db.session.get(Agreement, made.agreement_id)
            onboarding.sign_agreement(agreement, self.user(Role.MANAGER), agreement.version)
            db.session.commit()
        return made


def _document(case, kind, expires_on) -> QualificationDocument:
    return QualificationDocument(
        case_id=case.id,
        kind=kind,
        number=f"粤{kind.value[:3]}{case.id:06d}",
        expires_on=expires_on,
        stored_name=f"{kind.value}-{case.id}.pdf",
        original_name=f"{kind.label}.pdf",
        content_type="application/pdf",
        size=1024,
    )
