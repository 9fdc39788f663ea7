"""Small ``gen_*`` helpers that build test data (in the style of CTFd's tests/helpers.py).

Each opens its own app context, commits, and returns a plain record, so that tests
never hold ORM objects across requests.
"""

from __future__ import annotations

import itertools
import re
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from sqlalchemy import event, select

from crm.access.roles import Role
from crm.auth.models import User
from crm.auth.passwords import hash_password
from crm.common.validators import uscc_check_char
from crm.distributors.services import create_distributor
from crm.extensions import db
from crm.products.models import Dispensing, DosageForm, InsuranceClass, Product
from crm.territories.models import Territory

PASSWORD = "Correct-Horse-9"
_counter = itertools.count(1)


@dataclass(frozen=True)
class UserRef:
    id: int
    username: str
    role: Role
    password: str = PASSWORD


@cache
def _password_hash(app_id: int, password: str) -> str:
    # Argon2id at production cost takes tens of milliseconds; hash each password once per run.
    return hash_password(password)


def gen_user(app, role: Role, *, username: str | None = None, territories=(), company_id=None, active=True) -> UserRef:
    with app.app_context():
        username = username or f"{role.value}{next(_counter)}"
        user = User(
            username=username,
            display_name=f"测试{username}",
            role=role,
            password_hash=_password_hash(id(app), PASSWORD),
            active=active,
            company_id=company_id,
        )
        user.territories = [db.session.get(Territory, code) for code in territories]
        db.session.add(user)
        db.session.commit()
        return UserRef(user.id, user.username, role)


def valid_uscc(seed: int | None = None) -> str:
    seed = next(_counter) if seed is None else seed
    first17 = f"9144030{seed:010d}"[:17]
    return first17 + uscc_check_char(first17)


def gen_distributor(app, territory_code: str = "440305", *, name: str | None = None, uscc: str | None = None) -> int:
    with app.app_context():
        distributor = create_distributor(
            name=name or f"测试医药公司{next(_counter)}",
            uscc=uscc,
            territory_code=territory_code,
            contact_name=None,
            actor=_helper_admin(),
        )
        db.session.commit()
        return distributor.id


def _helper_admin():
    """An administrator in whose name helpers register records (history needs an actor)."""
    admin = db.session.scalar(select(User).where(User.role == Role.ADMIN).order_by(User.id).limit(1))
    if admin is None:
        admin = User(username="helper-admin", display_name="Helper", role=Role.ADMIN, password_hash="!")
        db.session.add(admin)
        db.session.flush()
    return admin


def gen_product(app, *, name: str | None = None, approval_number: str | None = None, active=True) -> int:
    with app.app_context():
        n = next(_counter)
        product = Product(
            name=name or f"测试片{n}",
            specification="0.25g×24片",
            dosage_form=DosageForm.TABLET,
            approval_number=approval_number or f"国药准字H2{n:07d}",
            insurance_class=InsuranceClass.CLASS_B,
            dispensing=Dispensing.RX,
            for_hospital=True,
            active=active,
        )
        db.session.add(product)
        db.session.commit()
        return product.id


_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_token(client) -> str:
    """The CSRF token the current session's pages hand the browser (the meta tag on every page)."""
    response = client.get("/auth/login", follow_redirects=True)
    match = _CSRF_META.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on the page (status {response.status_code})"
    return match.group(1)


def login(client, user: UserRef | str, password: str | None = None, *, remember: bool = False):
    username = user.username if isinstance(user, UserRef) else user
    password = password or (user.password if isinstance(user, UserRef) else PASSWORD)
    data = {"username": username, "password": password, "csrf_token": csrf_token(client)}
    if remember:
        data["remember"] = "y"
    return client.post("/auth/login", data=data)


def post(client, path: str, data: dict | None = None, **kwargs):
    """POST as a browser would: with the CSRF token of the current session."""
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client)}, **kwargs)


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def counted_queries(app):
    """The SQL statements the database receives inside the block (transaction control left out).

    For "a list page issues a constant number of queries": compare the count for
    few rows and for many.
    """
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_of_page(app, client, path: str) -> list[str]:
    """The SQL statements of one GET of ``path`` (which must answer 200)."""
    with counted_queries(app) as statements:
        assert client.get(path).status_code == 200
    return statements
