"""User administration: accounts, roles, territories, companies, sign-ins and the audit trail."""

from __future__ import annotations

import html
import json

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from crm.access.roles import Role
from crm.auth.models import AuditEvent, User, UserSession
from crm.extensions import db
from tests.helpers import PASSWORD, counted_queries, gen_distributor, login, post

NEW_PASSWORD = "Another-Horse-42"


def said(app, msgid: str, **values) -> str:
    with app.test_request_context(), force_locale("zh_CN"):
        return gettext(msgid, **values)


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def user_named(app, username: str) -> User | None:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.username == username)).first()
        if user is not None:
            _ = user.territories, user.company
            db.session.expunge_all()
        return user


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def sessions_of(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id))


def audit(app, event_name: str) -> list[tuple[str | None, dict]]:
    """(actor, detail) of each audit row with that event name."""
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.event == event_name).order_by(AuditEvent.id))
        return [(row.username, json.loads(row.detail or "{}")) for row in rows]


def signed_in(client) -> bool:
    response = client.get("/")
    return response.status_code == 200


OWN_PASSWORD = "My-Own-Secret-77"


def choose_own_password(client, current: str, new: str = OWN_PASSWORD):
    response = post(client, "/auth/password", {"current_password": current, "new_password": new, "confirm": new})
    assert response.status_code == 302
    return response


def new_user_form(**overrides) -> dict:
    data = {
        "username": "zhangsan",
        "display_name": "张三",
        "role": Role.SERVICE.value,
        "password": NEW_PASSWORD,
        "territories": [],
        "company_id": "",
    }
    data.update(overrides)
    return data


def edit_form(app, username: str, /, **overrides) -> dict:
    """What the edit page would post back unchanged, with ``overrides`` applied."""
    user = user_named(app, username)
    data = {
        "display_name": user.display_name,
        "role": user.role.value,
        "territories": [t.code for t in user.territories],
        "company_id": str(user.company_id or ""),
        "email": user.email or "",
        "mobile": user.mobile or "",
        "seen_version": str(user.version),
    }
    data.update(overrides)
    return data


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, username="root-admin")


@pytest.fixture
def admin_client(client, admin):
    login(client, admin)
    return client


@pytest.fixture
def other_client(app):
    """A second browser, for the user whose account the admin changes."""
    return app.test_client()


# --- creating accounts ------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "extra"),
    [
        (Role.ADMIN, {}),
        (Role.SERVICE, {}),
        (Role.REP, {"territories": ["440305", "440300"]}),
        (Role.MANAGER, {"territories": ["440000"]}),
        (Role.DISTRIBUTOR, {"company": True}),
    ],
)
def test_admin_creates_each_role_and_the_user_can_sign_in(app, admin, admin_client, role, extra):
    company_id = gen_distributor(app, "440305", name="南山医药") if extra.get("company") else None
    form = new_user_form(
        username="New.User-1", role=role.value, territories=extra.get("territories", []), company_id=company_id or ""
    )
    response = post(admin_client, "/admin/users/new", form)
    assert response.status_code == 302

    user = user_named(app, "new.user-1")  # usernames are stored lower-case
    assert user is not None
    assert (user.role, user.display_name, user.active) == (role, "张三", True)
    assert sorted(t.code for t in user.territories) == sorted(extra.get("territories", []))
    assert user.company_id == company_id
    assert audit(app, "user_created") == [("root-admin", {"target": "new.user-1", "role": role.value})]

    listing = admin_client.get("/admin/users").get_data(as_text=True)
    assert 'data-username="new.user-1"' in listing

    fresh = app.test_client()
    assert login(fresh, "New.User-1", NEW_PASSWORD).status_code == 302
    assert not signed_in(fresh)  # the password page first: the admin chose this one
    choose_own_password(fresh, NEW_PASSWORD)
    assert signed_in(fresh)


def test_territory_and_company_fields_only_apply_to_their_roles(app, admin_client):
    company_id = gen_distributor(app)
    form = new_user_form(role=Role.SERVICE.value, territories=["440300"], company_id=company_id)
    assert post(admin_client, "/admin/users/new", form).status_code == 302
    user = user_named(app, "zhangsan")
    assert (user.territories, user.company_id) == ([], None)


@pytest.mark.parametrize("role", [Role.REP, Role.MANAGER])
def test_rep_or_manager_without_territory_is_refused(app, admin_client, role):
    response = post(admin_client, "/admin/users/new", new_user_form(role=role.value))
    assert response.status_code == 200
    assert said(app, "Reps and managers need at least one territory.") in page_text(response)
    assert user_named(app, "zhangsan") is None


def test_unknown_territory_is_refused(app, admin_client):
    response = post(admin_client, "/admin/users/new", new_user_form(role="rep", territories=["440305", "999999"]))
    assert response.status_code == 200
    assert said(app, "One of the territories does not exist. Pick them from the list.") in page_text(response)
    assert user_named(app, "zhangsan") is None


@pytest.mark.parametrize("company_id", ["", "999999", "abc"])
def test_distributor_without_company_is_refused(app, admin_client, company_id):
    response = post(admin_client, "/admin/users/new", new_user_form(role="distributor", company_id=company_id))
    assert response.status_code == 200
    assert said(app, "Distributor accounts must belong to a company.") in page_text(response)
    assert user_named(app, "zhangsan") is None


@pytest.mark.parametrize("typed", ["zhangsan", "ZhangSan", " ZHANGSAN "])
def test_duplicate_username_is_refused_whatever_the_case(app, admin_client, typed):
    assert post(admin_client, "/admin/users/new", new_user_form()).status_code == 302
    before = user_count(app)
    response = post(admin_client, "/admin/users/new", new_user_form(username=typed, display_name="另一个张三"))
    assert response.status_code == 200
    assert said(app, "The username %(name)s is taken.", name="zhangsan") in page_text(response)
    assert user_count(app) == before
    assert user_named(app, "zhangsan").display_name == "张三"


@pytest.mark.parametrize(
    ("password", "msgid", "values"),
    [
        ("", "The password must be at least %(n)d characters long.", {"n": 10}),
        ("Short-9", "The password must be at least %(n)d characters long.", {"n": 10}),
        ("123456789", "The password must be at least %(n)d characters long.", {"n": 10}),
        ("LiuDehua2024", "The password must not be the username.", {}),
    ],
)
def test_weak_password_is_refused(app, admin_client, password, msgid, values):
    form = new_user_form(username="liudehua2024", password=password)
    response = post(admin_client, "/admin/users/new", form)
    assert response.status_code == 200
    assert said(app, msgid, **values) in page_text(response)
    assert user_named(app, "liudehua2024") is None
    assert audit(app, "user_created") == []


def test_invalid_username_is_refused_beside_the_field(app, admin_client):
    response = post(admin_client, "/admin/users/new", new_user_form(username="张 三"))
    assert response.status_code == 200
    assert said(app, "Use letters, digits, dot, dash or underscore only.") in page_text(response)
    assert user_count(app) == 1


# --- editing ----------------------------------------------------------------


def test_admin_changes_name_and_territories(app, admin_client, make_user):
    rep = make_user(Role.REP, territories=["440305"])
    response = post(
        admin_client,
        f"/admin/users/{rep.id}",
        edit_form(app, rep.username, display_name="李四", territories=["440300", "110000"]),
    )
    assert response.status_code == 302
    user = user_named(app, rep.username)
    assert user.display_name == "李四"
    assert [t.code for t in user.territories] == ["110000", "440300"]
    assert [actor for actor, _ in audit(app, "user_updated")] == ["root-admin"]
    assert audit(app, "role_changed") == []


def test_username_cannot_be_changed(app, admin_client, make_user):
    rep = make_user(Role.REP, territories=["440305"])
    response = post(admin_client, f"/admin/users/{rep.id}", edit_form(app, rep.username, username="hijack"))
    assert response.status_code == 302
    assert user_named(app, "hijack") is None
    assert user_named(app, rep.username) is not None


def test_role_change_ends_the_users_sessions(app, admin_client, other_client, make_user):
    rep = make_user(Role.REP, territories=["440305"])
    login(other_client, rep)
    assert signed_in(other_client)

    response = post(admin_client, f"/admin/users/{rep.id}", edit_form(app, rep.username, role="service"))

    assert response.status_code == 302
    assert user_named(app, rep.username).role == Role.SERVICE
    assert sessions_of(app, rep.id) == 0
    assert not signed_in(other_client)
    assert audit(app, "role_changed") == [("root-admin", {"target": rep.username, "role": "service"})]
    # and they sign in again under the new role
    login(other_client, rep)
    assert other_client.get("/distributors/").status_code == 200
    assert other_client.get("/territories/search?q=南山").status_code == 200


def test_edit_without_role_change_keeps_the_users_sessions(app, admin_client, other_client, make_user):
    rep = make_user(Role.REP, territories=["440305"])
    login(other_client, rep)
    post(admin_client, f"/admin/users/{rep.id}", edit_form(app, rep.username, display_name="新名字"))
    assert signed_in(other_client)


def test_refused_edit_changes_nothing(app, admin_client, make_user):
    rep = make_user(Role.REP, territories=["440305"])
    response = post(
        admin_client, f"/admin/users/{rep.id}", edit_form(app, rep.username, role="manager", territories=[])
    )
    assert response.status_code == 200
    assert said(app, "Reps and managers need at least one territory.") in page_text(response)
    user = user_named(app, rep.username)
    assert (user.role, [t.code for t in user.territories], user.version) == (Role.REP, ["440305"], 1)
    assert audit(app, "user_updated") == []


@pytest.mark.parametrize("seen_version", ["stale", "", "abc", None])
def test_stale_edit_answers_409_and_changes_nothing(app, admin_client, make_user, seen_version):
    rep = make_user(Role.REP, territories=["440305"])
    old_form = edit_form(app, rep.username)
    first = post(admin_client, f"/admin/users/{rep.id}", {**old_form, "display_name": "第一次"})
    assert first.status_code == 302
    stale = {**old_form, "display_name": "第二次", "territories": ["110000"]}
    if seen_version is None:
        del stale["seen_version"]
    elif seen_version != "stale":
        stale["seen_version"] = seen_version
    assert post(admin_client, f"/admin/users/{rep.id}", stale).status_code == 409
    user = user_named(app, rep.username)
    assert (user.display_name, [t.code for t in user.territories]) == ("第一次", ["440305"])


def test_a_territory_only_change_still_makes_older_forms_stale(app, admin_client, make_user):
    """Two admins open the same user; the first changes only the territories."""
    rep = make_user(Role.REP, territories=["440305"])
    old_form = edit_form(app, rep.username)
    assert post(admin_client, f"/admin/users/{rep.id}", {**old_form, "territories": ["440300"]}).status_code == 302
    response = post(admin_client, f"/admin/users/{rep.id}", {**old_form, "display_name": "另一个管理员改的"})
    assert response.status_code == 409
    user = user_named(app, rep.username)
    assert [t.code for t in user.territories] == ["440300"]
    assert user.display_name != "另一个管理员改的"


def test_admin_cannot_drop_own_admin_role(app, admin, admin_client):
    response = post(admin_client, f"/admin/users/{admin.id}", edit_form(app, admin.username, role="service"))
    assert response.status_code == 200
    assert said(app, "You cannot take the administrator role away from yourself.") in page_text(response)
    assert user_named(app, admin.username).role == Role.ADMIN
    assert admin_client.get("/admin/users").status_code == 200


def test_unknown_user_is_404(admin_client):
    assert admin_client.get("/admin/users/999999").status_code == 404
    assert post(admin_client, "/admin/users/999999/active", {"active": "0"}).status_code == 404
    assert post(admin_client, "/admin/users/999999/password", {"password": NEW_PASSWORD}).status_code == 404


# --- deactivation -----------------------------------------------------------


def test_deactivation_ends_sessions_at_once_and_login_then_fails(app, admin_client, other_client, make_user):
    rep = make_user(Role.REP, territories=["440305"])
    login(other_client, rep)
    assert signed_in(other_client)

    response = post(admin_client, f"/admin/users/{rep.id}/active", {"active": "0"})

    assert response.status_code == 302
    assert user_named(app, rep.username).active is False
    assert sessions_of(app, rep.id) == 0
    assert not signed_in(other_client)
    failed = login(other_client, rep)
    assert failed.status_code == 200
    assert said(app, "Wrong username or password, or the account is deactivated.") in page_text(failed)
    assert not signed_in(other_client)
    assert audit(app, "user_deactivated") == [("root-admin", {"target": rep.username})]
    row = admin_client.get("/admin/users").get_data(as_text=True).split(f'data-username="{rep.username}"')[1]
    assert said(app, "Deactivated") in row.split("</tr>")[0]


def test_reactivation_lets_the_user_sign_in_again(app, admin_client, other_client, make_user):
    rep = make_user(Role.REP, territories=["440305"], active=False)
    assert login(other_client, rep).status_code == 200
    response = post(admin_client, f"/admin/users/{rep.id}/active", {"active": "1"})
    assert response.status_code == 302
    assert user_named(app, rep.username).active is True
    assert login(other_client, rep).status_code == 302
    assert signed_in(other_client)
    assert audit(app, "user_activated") == [("root-admin", {"target": rep.username})]


def test_admin_cannot_deactivate_self(app, admin, admin_client):
    response = post(admin_client, f"/admin/users/{admin.id}/active", {"active": "0"}, follow_redirects=True)
    assert said(app, "You cannot deactivate your own account.") in page_text(response)
    assert user_named(app, admin.username).active is True
    assert signed_in(admin_client)
    assert audit(app, "user_deactivated") == []


# --- password reset ---------------------------------------------------------


def test_reset_password_ends_sessions_and_the_new_password_works(app, admin_client, other_client, make_user):
    rep = make_user(Role.REP, territories=["440305"])
    login(other_client, rep)
    assert signed_in(other_client)

    response = post(admin_client, f"/admin/users/{rep.id}/password", {"password": NEW_PASSWORD})

    assert response.status_code == 302
    assert not signed_in(other_client)
    assert login(other_client, rep, PASSWORD).status_code == 200  # the old one no longer works
    assert login(other_client, rep, NEW_PASSWORD).status_code == 302
    assert not signed_in(other_client)  # a reset password is the admin's: the user picks their own first
    choose_own_password(other_client, NEW_PASSWORD)
    assert signed_in(other_client)
    assert audit(app, "password_reset") == [("root-admin", {"target": rep.username})]


@pytest.mark.parametrize(
    ("password", "msgid", "values"),
    [
        ("short", "The password must be at least %(n)d characters long.", {"n": 10}),
        ("{username}", "The password must not be the username.", {}),
        ("", "Enter the new password.", {}),
    ],
)
def test_weak_reset_password_is_refused_and_changes_nothing(
    app, admin_client, other_client, make_user, password, msgid, values
):
    rep = make_user(Role.REP, username="wangxiaoming", territories=["440305"])
    login(other_client, rep)
    response = post(
        admin_client,
        f"/admin/users/{rep.id}/password",
        {"password": password.format(username="WangXiaoMing")},
        follow_redirects=True,
    )
    assert said(app, msgid, **values) in page_text(response)
    assert signed_in(other_client)
    assert login(app.test_client(), rep, PASSWORD).status_code == 302
    assert audit(app, "password_reset") == []


# --- the list ---------------------------------------------------------------


def test_only_admins_reach_user_administration(app, client, make_user):
    rep = make_user(Role.REP, territories=["440305"])
    login(client, make_user(Role.MANAGER, territories=["440000"]))
    assert client.get("/admin/users").status_code == 403
    assert client.get(f"/admin/users/{rep.id}").status_code == 403
    assert post(client, f"/admin/users/{rep.id}/active", {"active": "0"}).status_code == 403
    assert post(client, f"/admin/users/{rep.id}/password", {"password": NEW_PASSWORD}).status_code == 403
    assert post(client, "/admin/users/new", new_user_form(role="admin")).status_code == 403
    assert user_named(app, rep.username).active is True
    assert user_named(app, "zhangsan") is None


def test_users_list_shows_territories_and_companies(app, admin_client, make_user):
    rep = make_user(Role.REP, territories=["440305"])
    company_id = gen_distributor(app, name="南山医药")
    portal = make_user(Role.DISTRIBUTOR, company_id=company_id)
    page = admin_client.get("/admin/users").get_data(as_text=True)
    rep_row = page.split(f'data-username="{rep.username}"')[1].split("</tr>")[0]
    portal_row = page.split(f'data-username="{portal.username}"')[1].split("</tr>")[0]
    assert "广东省 深圳市 南山区" in rep_row
    assert "南山医药" in portal_row


def test_users_list_issues_the_same_number_of_queries_for_few_and_many_users(app, admin_client, make_user):
    def queries_for_list() -> int:
        with counted_queries(app) as statements:
            response = admin_client.get("/admin/users")
        assert response.status_code == 200
        return len(statements)

    def add_users(n: int) -> None:
        for i in range(n):
            if i % 2:
                make_user(Role.REP, territories=["440305", "440300"])
            else:
                make_user(Role.DISTRIBUTOR, company_id=gen_distributor(app))

    add_users(4)
    few = queries_for_list()
    add_users(40)
    many = queries_for_list()
    assert admin_client.get("/admin/users").get_data(as_text=True).count("data-username=") == 45
    assert few == many


# -- contact details and the first sign-in ----------------------------------


def test_the_user_form_takes_email_and_mobile(app, admin_client):
    form = new_user_form(email=" zhang.san@example.cn ", mobile="138 0013 8000")
    assert post(admin_client, "/admin/users/new", form).status_code == 302
    user = user_named(app, "zhangsan")
    # Stored as email notifications read it (crm.notify takes User.email) and as every phone is kept.
    assert (user.email, user.mobile) == ("zhang.san@example.cn", "+8613800138000")
    page = page_text(admin_client.get(f"/admin/users/{user.id}"))
    assert 'value="zhang.san@example.cn"' in page
    assert 'value="138 0013 8000"' in page  # national format on screen

    changed = edit_form(app, "zhangsan", email="", mobile="+86 139-0013-9000")
    assert post(admin_client, f"/admin/users/{user.id}", changed).status_code == 302
    assert (user_named(app, "zhangsan").email, user_named(app, "zhangsan").mobile) == (None, "+8613900139000")


@pytest.mark.parametrize(
    ("field", "value", "msgid"),
    [
        ("email", "zhangsan@", "The email address %(email)s is not valid."),
        ("mobile", "12345", "%(phone)s is not a valid mobile number."),
        ("mobile", "0755 8888 6666", "%(phone)s is not a valid mobile number."),  # a landline
    ],
)
def test_a_bad_email_or_mobile_is_refused(app, admin_client, field, value, msgid):
    response = post(admin_client, "/admin/users/new", new_user_form(**{field: value}))
    assert response.status_code == 200
    assert said(app, msgid, email=value, phone=value) in page_text(response)
    assert user_named(app, "zhangsan") is None


def test_a_new_user_reaches_only_the_password_page_until_choosing_their_own(app, admin_client):
    assert post(admin_client, "/admin/users/new", new_user_form()).status_code == 302
    assert user_named(app, "zhangsan").must_change_password

    fresh = app.test_client()
    assert login(fresh, "zhangsan", NEW_PASSWORD).status_code == 302
    for path in ("/", "/notifications/", "/admin/users"):
        response = fresh.get(path)
        assert (response.status_code, response.headers["Location"]) == (303, "/auth/password"), path
    # A write is turned away as well, before its view runs.
    assert post(fresh, "/language", {"locale": "en"}).status_code == 303
    page = page_text(fresh.get("/auth/password"))
    assert 'data-testid="must-change-password"' in page

    # Keeping the admin's password is not choosing one's own.
    same = post(
        fresh,
        "/auth/password",
        {"current_password": NEW_PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert same.status_code == 200
    assert user_named(app, "zhangsan").must_change_password

    choose_own_password(fresh, NEW_PASSWORD)
    assert not user_named(app, "zhangsan").must_change_password
    assert fresh.get("/").status_code == 200


def test_signing_out_stays_open_with_an_admin_chosen_password(app, admin_client):
    post(admin_client, "/admin/users/new", new_user_form())
    fresh = app.test_client()
    login(fresh, "zhangsan", NEW_PASSWORD)
    assert post(fresh, "/auth/logout").headers["Location"] == "/auth/login"
    assert fresh.get("/").headers["Location"].startswith("/auth/login")  # signed out, not sent to the password page


def test_a_reset_sets_the_flag_again(app, admin_client, make_user):
    rep = make_user(Role.REP, territories=["440305"])
    assert not user_named(app, rep.username).must_change_password  # accounts made otherwise are unaffected
    post(admin_client, f"/admin/users/{rep.id}/password", {"password": NEW_PASSWORD})
    assert user_named(app, rep.username).must_change_password
