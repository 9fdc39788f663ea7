"""The interface speaks Chinese by default and English on request, and shows times in Beijing time.

The catalog tests fail when a developer adds a string in code or a template without running
``make i18n`` and translating it, and name the strings concerned.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext
from sqlalchemy import select

from crm.access.roles import Role
from crm.auth.models import AuditEvent, User
from crm.extensions import db
from tests.helpers import login, post

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "crm" / "translations"
# Babel resolves the locale zh_CN to zh_Hans_CN and looks for the catalog under that name.
ZH_PO = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
SHANGHAI = ZoneInfo("Asia/Shanghai")

# A named printf placeholder as Babel's python-format check sees it: %(name)s, %(n)d, %(x).1f …
_PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa])")


def _read(path: Path):
    with path.open("rb") as fh:
        return read_po(fh)


def _key(message) -> tuple[str, str | None]:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return msgid, message.context


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    return list(value or ())


def _placeholders(texts) -> Counter:
    return Counter(match for text in texts for match in _PLACEHOLDER.findall(text))


def _describe(keys) -> str:
    return "\n".join(f"  {msgid!r}" + (f" (context {ctx!r})" if ctx else "") for msgid, ctx in sorted(keys))


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The messages in the sources right now, extracted exactly as ``make i18n`` does."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    CommandLineInterface().run(
        [
            "pybabel",
            "-q",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--no-location",
            "--sort-output",
            "-o",
            str(pot),
            str(ROOT),
        ]
    )
    catalog = _read(pot)
    assert len(catalog) > 50, "the extraction found almost nothing; is babel.cfg still right?"
    return catalog


@pytest.fixture(scope="module")
def zh_catalog():
    return _read(ZH_PO)


# --- catalogs ---------------------------------------------------------------------------------


def test_every_source_string_is_in_the_chinese_catalog(extracted, zh_catalog):
    in_sources = {_key(m) for m in extracted if m.id}
    in_catalog = {_key(m) for m in zh_catalog if m.id}
    missing = in_sources - in_catalog
    assert not missing, (
        f"{len(missing)} string(s) in the code or templates are not in the zh_CN catalog; "
        f"run `make i18n` and translate them in {ZH_PO.relative_to(ROOT)}:\n{_describe(missing)}"
    )


def test_every_chinese_entry_is_translated_and_not_fuzzy(zh_catalog):
    untranslated = {_key(m) for m in zh_catalog if m.id and not all(s.strip() for s in _strings(m.string))}
    fuzzy = {_key(m) for m in zh_catalog if m.id and m.fuzzy}
    assert not untranslated, f"untranslated in zh_CN:\n{_describe(untranslated)}"
    assert not fuzzy, f"fuzzy (unreviewed) in zh_CN, check the translation and drop the flag:\n{_describe(fuzzy)}"


def test_chinese_translations_keep_the_placeholders(zh_catalog):
    wrong = []
    for message in zh_catalog:
        if not message.id:
            continue
        expected = _placeholders(_strings(message.id)[:1])
        for translation in _strings(message.string):
            if translation and _placeholders([translation]) != expected:
                wrong.append(f"  {_strings(message.id)[0]!r} → {translation!r}")
    assert not wrong, "placeholders differ between msgid and msgstr:\n" + "\n".join(wrong)


@pytest.mark.parametrize("locale", ["zh_Hans_CN", "en"])
def test_catalog_compiles_without_errors(locale):
    """What `pybabel compile` checks; English keeps empty msgstrs and falls back to the msgid."""
    catalog = _read(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po")
    errors = [f"  {message.id!r}: {'; '.join(map(str, errs))}" for message, errs in catalog.check()]
    assert not errors, f"{locale} catalog does not compile:\n" + "\n".join(errors)
    if locale == "en":
        assert not [m.id for m in catalog if m.id and m.fuzzy], "fuzzy entries in the English catalog"


def test_the_app_finds_the_chinese_catalog(app):
    """The locale code zh_CN must reach the compiled catalog (Babel looks under zh_Hans_CN)."""
    with app.test_request_context():
        with force_locale("zh_CN"):
            assert gettext("Save") == "保存", "the zh_CN catalog is not loaded; run `make translations`"
        with force_locale("en"):
            assert gettext("Save") == "Save"


# --- language choice --------------------------------------------------------------------------


def _page(client, path: str = "/"):
    response = client.get(path)
    assert response.status_code == 200, f"GET {path} answered {response.status_code}"
    return response.get_data(as_text=True)


def _stored_locale(app, user) -> str | None:
    with app.app_context():
        return db.session.scalar(select(User.locale).where(User.id == user.id))


def _switch(client, locale: str, next_path: str = "/"):
    response = post(client, "/language", {"locale": locale, "next": next_path})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(next_path)
    return response


def test_login_page_is_in_chinese_by_default(client):
    page = _page(client, "/auth/login")
    assert 'lang="zh-CN"' in page
    assert "<title>登录 · 招商通</title>" in page
    assert "用户名" in page
    assert "密码" in page
    assert "在此设备上保持登录" in page
    assert "Sign in" not in page
    assert "Username" not in page


def test_signed_in_pages_stay_in_chinese(client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    assert login(client, rep).status_code == 302
    page = _page(client, "/")
    assert 'lang="zh-CN"' in page
    assert f"测试{rep.username}，您好" in page
    assert "退出登录" in page
    assert "区域招商代表" in page  # the role badge
    assert "Sign out" not in page
    assert "Welcome" not in page


def test_visitor_switches_the_login_page_to_english_and_back(client):
    _switch(client, "en", "/auth/login")
    page = _page(client, "/auth/login")
    assert 'lang="en"' in page
    assert "<title>Sign in · ZhaoShangTong</title>" in page
    assert "Keep me signed in on this device" in page
    assert "登录" not in page

    _switch(client, "zh_CN", "/auth/login")
    page = _page(client, "/auth/login")
    assert 'lang="zh-CN"' in page
    assert "<title>登录 · 招商通</title>" in page


def test_unknown_language_is_ignored(client):
    _switch(client, "fr", "/auth/login")
    page = _page(client, "/auth/login")
    assert 'lang="zh-CN"' in page
    assert "登录" in page


def test_language_chosen_before_signing_in_is_kept_after(client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    _switch(client, "en", "/auth/login")
    assert login(client, rep).status_code == 302
    page = _page(client, "/")
    assert 'lang="en"' in page
    assert "Sign out" in page


def test_signed_in_choice_is_stored_on_the_account_and_follows_the_user(app, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    laptop = app.test_client()
    assert login(laptop, rep).status_code == 302
    assert _stored_locale(app, rep) is None

    _switch(laptop, "en")
    page = _page(laptop, "/")
    assert 'lang="en"' in page
    assert f"Welcome, 测试{rep.username}" in page
    assert "Sign out" in page
    assert "Regional rep" in page
    assert "退出登录" not in page
    assert _stored_locale(app, rep) == "en"

    # A new sign-in on another device (fresh cookies, Chinese until the account is known) is in English.
    phone = app.test_client()
    assert 'lang="zh-CN"' in _page(phone, "/auth/login")
    assert login(phone, rep).status_code == 302
    page = _page(phone, "/")
    assert 'lang="en"' in page
    assert "Sign out" in page

    # Switching back on the phone is stored too, and the laptop follows on its next page.
    _switch(phone, "zh_CN")
    assert _stored_locale(app, rep) == "zh_CN"
    page = _page(phone, "/")
    assert 'lang="zh-CN"' in page
    assert "退出登录" in page
    assert "Sign out" not in page
    assert "退出登录" in _page(laptop, "/")


# --- error pages ------------------------------------------------------------------------------


def test_not_found_page_in_chinese(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert 'lang="zh-CN"' in page
    assert "页面不存在" in page
    assert "页面或记录不存在，或您无权查看。" in page
    assert "返回首页" in page
    assert "Page not found" not in page


def test_not_found_page_in_english(client):
    _switch(client, "en", "/auth/login")
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert 'lang="en"' in page
    assert "Page not found" in page
    assert "The page or record does not exist, or you cannot see it." in page
    assert "Back to the home page" in page
    assert "页面不存在" not in page


def test_hidden_record_answers_a_translated_404(client, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    login(client, rep)
    response = client.get("/distributors/999999")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)
    _switch(client, "en")
    response = client.get("/distributors/999999")
    assert response.status_code == 404
    assert "Page not found" in response.get_data(as_text=True)


# --- time zone --------------------------------------------------------------------------------


def _beijing(utc_naive: datetime) -> str:
    return utc_naive.replace(tzinfo=UTC).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def test_audit_log_shows_login_time_in_beijing_time(app, client, make_user):
    admin = make_user(Role.ADMIN)
    assert login(client, admin).status_code == 302
    with app.app_context():
        stored = db.session.scalar(
            select(AuditEvent.at).where(AuditEvent.event == "login", AuditEvent.user_id == admin.id)
        )
    assert stored is not None, "signing in wrote no audit event"

    page = _page(client, "/admin/audit")
    row = re.search(rf'<tr>(?:(?!</tr>).)*title="login">(?:(?!</tr>).)*>{admin.username}</td>', page, re.S)
    assert row, "the login event is not listed on the audit page"
    assert _beijing(stored) in row.group(0)
    assert stored.strftime("%Y-%m-%d %H:%M:%S") not in row.group(0)


def test_audit_log_moves_late_evening_utc_to_the_next_day(app, client, make_user):
    """16:30 UTC on 31 Dec is 00:30 on 1 Jan in Beijing: the date rolls over too."""
    admin = make_user(Role.ADMIN)
    with app.app_context():
        db.session.add(AuditEvent(at=datetime(2025, 12, 31, 16, 30, 5), event="login", username="nightowl"))
        db.session.commit()
    login(client, admin)
    page = _page(client, "/admin/audit?event=login")
    row = re.search(r"<tr>(?:(?!</tr>).)*>nightowl</td>", page, re.S)
    assert row, "the seeded event is not listed on the audit page"
    assert "2026-01-01 00:30:05" in row.group(0)
