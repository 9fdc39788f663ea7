"""Screening fixtures: the people of a case, and cases driven to any state through the real services."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from werkzeug.datastructures import FileStorage

from crm.access.roles import Role
from crm.auth.models import User
from crm.common.time import local_today
from crm.extensions import db
from crm.screening import services
from crm.screening.models import Criterion, ScreeningCase
from crm.screening.workflow import SCREENING_MACHINE as MACHINE
from crm.territories.models import Territory
from crm.workflow import engine
from tests.helpers import gen_distributor, gen_product, valid_uscc

PDF = b"%PDF-1.7\n" + b"0" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200
DIRECTOR = "director"  # a manager who is a director: a role of its own in the tests
ROLES = (Role.ADMIN, Role.MANAGER, DIRECTOR, Role.REP, Role.SERVICE, Role.DISTRIBUTOR)


def upload(data: bytes = PDF, name: str = "licence.pdf") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


def path_to(state: str) -> list[str]:
    path = MACHINE.path_to(state)
    assert path is not None, f"{state} is unreachable"
    return path


@pytest.fixture
def people(app, make_user):
    """A rep of Shenzhen, a manager and a director of Guangdong, an admin, a service clerk, a portal user."""
    company = gen_distributor(app, "440305", name="门户医药")
    users = {
        Role.REP: make_user(Role.REP, territories=["440300"]),
        Role.MANAGER: make_user(Role.MANAGER, territories=["440000"]),
        DIRECTOR: make_user(Role.MANAGER, territories=["440000"]),
        Role.ADMIN: make_user(Role.ADMIN),
        Role.SERVICE: make_user(Role.SERVICE),
        Role.DISTRIBUTOR: make_user(Role.DISTRIBUTOR, company_id=company),
    }
    with app.app_context():
        db.session.get(User, users[DIRECTOR].id).is_director = True
        db.session.commit()
    return users


@pytest.fixture
def product_id(app):
    return gen_product(app, name="头孢克肟片")


def user(people, role) -> User:
    return db.session.get(User, people[role].id)


def key_region(app, code: str = "440300") -> None:
    with app.app_context():
        db.session.get(Territory, code).is_key_region = True
        db.session.commit()


@pytest.fixture
def drive_case(app, people, product_id):
    """``drive_case("reviewing")`` → id of a case in 南山区 brought there by the rep and the manager.

    The case passes every gate: one line, both licences valid for a year, every
    criterion scored 80 once it is under review. ``scored=False`` leaves the scorecard empty.
    """

    def drive_to(state: str, *, scored: bool = True, documents: bool = True, territory: str = "440305") -> int:
        with app.app_context():
            rep, manager = user(people, Role.REP), user(people, Role.MANAGER)
            case = services.open_case(
                rep,
                company_name="深圳南山康泰医药有限公司",
                uscc=valid_uscc(),
                territory_code=territory,
                address="南山区科技园",
                contact_name="王总",
                contact_phone="13800138000",
                summary="终端网络好",
            )
            services.add_line(case, rep, product_id=product_id, territory_code=territory, exclusive=False)
            if documents:
                add_licences(case, rep)
            for event_name in path_to(state):
                if event_name == "approve":
                    # The machine alone: the approval service (and its distributor) is tested on its own.
                    engine.apply_event(case, "approve", manager, seen_version=case.version)
                elif event_name == "contract":
                    engine.apply_event(case, "contract", manager, seen_version=case.version)
                else:
                    actor = rep if Role.REP in MACHINE.event(event_name).roles else manager
                    comment = "请补充" if MACHINE.event(event_name).comment_required else None
                    services.fire(case, event_name, actor, seen_version=case.version, comment=comment)
                if event_name == "pick_up" and scored:
                    score_all(case, manager)
            db.session.commit()
            return case.id

    return drive_to


def add_licences(case, actor, *, days: int = 365) -> None:
    expires = local_today() + timedelta(days=days)
    services.add_document(case, actor, kind="business_licence", upload=upload(), number="9144")
    services.add_document(
        case, actor, kind="drug_trading_licence", upload=upload(), number="粤AA7550001", expires_on=expires
    )


def score_all(case, manager, value: int = 80) -> None:
    for criterion in Criterion:
        services.score(case, manager, criterion=criterion.value, score=value, note="见资料")


def get_case(case_id: int) -> ScreeningCase:
    return db.session.get(ScreeningCase, case_id)
