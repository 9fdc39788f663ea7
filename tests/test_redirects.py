"""``next`` leads only to a page of this site: the helper, every endpoint that follows one, and the source.

The bypass list is the usual one for open redirects (OWASP's unvalidated-redirects
cheat sheet, PortSwigger's URL-validation-bypass list): scheme-relative and
backslash forms, control characters and whitespace that parsers drop, schemes,
and percent-encoded versions of each.
"""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crm.access.roles import Role
from crm.common.urls import safe_next
from crm.notify.models import NotificationKind
from tests.helpers import PASSWORD, csrf_token, login, post
from tests.notify.conftest import notify

EVIL = "evil.example"

BYPASSES = [
    # scheme-relative, with any number of slashes
    f"//{EVIL}",
    f"///{EVIL}",
    f"////{EVIL}/x",
    f"//{EVIL}@127.0.0.1/x",
    "//127.0.0.1:5104/x",
    # backslashes, which browsers read as slashes
    f"/\\{EVIL}",
    f"\\\\{EVIL}",
    f"\\/{EVIL}",
    f"/\\/{EVIL}",
    f"/.\\{EVIL}",
    # control characters and whitespace that URL parsers drop (the reported case is the first)
    "/\t/127.0.0.1:5104/x",
    f"/\t/{EVIL}",
    f"/\n/{EVIL}",
    f"/\r/{EVIL}",
    f"/\r\n/{EVIL}",
    f"\t//{EVIL}",
    f" //{EVIL}",
    f"  /\\{EVIL}",
    f"\x00//{EVIL}",
    f"/\x00/{EVIL}",
    f"/\x0b/{EVIL}",
    f"/\x0c/{EVIL}",
    f"/\x1f/{EVIL}",
    f"\x7f//{EVIL}",
    f"/\x7f/{EVIL}",
    f"\u3000//{EVIL}",
    f"/\u2028/{EVIL}",
    f"//{EVIL}\t",
    # percent-encoded forms a proxy or a second decode turns into the above
    f"/%09/{EVIL}",
    f"/%0a/{EVIL}",
    f"/%0D%0A/{EVIL}",
    f"/%00/{EVIL}",
    f"/%2F%2F{EVIL}",
    f"/%2f{EVIL}",
    f"%2F%2F{EVIL}",
    f"/%5c{EVIL}",
    f"/%5C{EVIL}",
    f"%5C%5C{EVIL}",
    f"/%252F%252F{EVIL}",
    f"/%25252F%25252F{EVIL}",
    f"/%2525252F%2525252F{EVIL}",
    # schemes
    f"https:{EVIL}",
    f"https:/{EVIL}",
    f"https://{EVIL}",
    f"http://{EVIL}",
    f"HTTP://{EVIL}",
    f"ftp://{EVIL}",
    "javascript:alert(1)",
    "JavaScript:alert(document.domain)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    # not a path at all
    EVIL,
    f"@{EVIL}",
    f".{EVIL}",
    f"\uff0f\uff0f{EVIL}",  # fullwidth solidus
    "",
    " ",
    "\\",
]

LOCAL = [
    "/",
    "/leads/?status=new&page=2",
    "/leads/?",
    "/leads/?q=%E6%B7%B1%E5%9C%B3",
    "/leads/?q=a+b&owner=me",
    "/notifications?page=2",
    "/workflows/testflow/5",
    "/distributors/12#agreements",
    "/leads/?next=//elsewhere",  # a query that mentions a URL is still a page of ours
]


def is_local_path(location: str) -> bool:
    """What the browser will treat as a page of the same site."""
    parts = urlsplit(location)
    return (
        location.startswith("/")
        and not location.startswith("//")
        and "\\" not in location
        and all(0x20 < ord(c) != 0x7F for c in location)
        and not parts.scheme
        and not parts.netloc
    )


# --- the helper --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", BYPASSES, ids=repr)
def test_helper_refuses_every_way_off_the_site(value):
    assert safe_next(value, "/home") == "/home"


@pytest.mark.parametrize("value", LOCAL)
def test_helper_keeps_paths_of_this_site(value):
    assert safe_next(value, "/home") == value


def test_helper_refuses_what_is_not_text():
    assert safe_next(None, "/home") == "/home"
    assert safe_next(["/leads/"], "/home") == "/home"  # type: ignore[arg-type]


# --- every endpoint that follows a next ----------------------------------------------------------


def _refused(responses: dict[str, object], expected: str) -> dict[str, tuple[int, str]]:
    """The payloads whose answer was not a redirect to ``expected`` (or not a local path at all).

    A value with a NUL never reaches a view: every request carrying one is refused
    with 400 (crm.web), which redirects nowhere.
    """
    wrong = {}
    for value, response in responses.items():
        location = response.headers.get("Location", "")
        if "\x00" in value and response.status_code == 400 and not location:
            continue
        if response.status_code not in (302, 303) or location != expected or not is_local_path(location):
            wrong[repr(value)] = (response.status_code, location)
    return wrong


def followed(responses) -> dict[str, str]:
    """Where the local paths led (Werkzeug drops the empty query of ``request.full_path``'s "/leads/?")."""
    return {value: responses[value].headers["Location"] for value in LOCAL}


def test_sign_in_goes_only_to_this_site(app, make_user):
    rep = make_user(Role.REP, territories=["440300"])
    responses = {}
    for value in BYPASSES + LOCAL:
        client = app.test_client()  # signed out each time: a signed-in visitor is sent home before next is read
        responses[value] = client.post(
            "/auth/login",
            query_string={"next": value},
            data={"username": rep.username, "password": PASSWORD, "csrf_token": csrf_token(client)},
        )
    assert _refused({v: responses[v] for v in BYPASSES}, "/") == {}
    assert followed(responses) == {v: v.removesuffix("?") for v in LOCAL}


def test_language_switch_goes_only_to_this_site(client):
    responses = {value: post(client, "/language", {"locale": "en", "next": value}) for value in BYPASSES + LOCAL}
    assert _refused({v: responses[v] for v in BYPASSES}, "/") == {}
    assert followed(responses) == {v: v.removesuffix("?") for v in LOCAL}


def test_opening_a_notification_goes_only_to_this_site(app, client, make_user):
    user = make_user(Role.SERVICE)
    note = notify(app, user.id, NotificationKind.SLA_WARNING)
    login(client, user)
    responses = {
        value: post(client, "/notifications/read", {"notification_id": note, "next": value})
        for value in BYPASSES + LOCAL
    }
    assert _refused({v: responses[v] for v in BYPASSES}, "/notifications") == {}
    assert followed(responses) == {v: v.removesuffix("?") for v in LOCAL}


# --- the source ----------------------------------------------------------------------------------

CRM = Path(__file__).resolve().parents[1] / "crm"
# What the request carries and a view might redirect to: ``next`` in any of its containers, the Referer.
_REDIRECT_INPUTS = {"next"}


def _reads_a_redirect_input(node: ast.AST) -> bool:
    """``x.get("next")``, ``x.getlist("next")``, ``x["next"]``, ``form.next.data``, ``request.referrer``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "getlist"):
        first = node.args[0] if node.args else None
        return isinstance(first, ast.Constant) and first.value in _REDIRECT_INPUTS
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value in _REDIRECT_INPUTS
    if isinstance(node, ast.Attribute):
        if node.attr == "referrer":
            return True
        return node.attr == "data" and isinstance(node.value, ast.Attribute) and node.value.attr in _REDIRECT_INPUTS
    return False


def unchecked_redirect_inputs(source: str, filename: str) -> list[str]:
    """Where ``source`` reads a redirect input other than as the first argument of ``safe_next``."""
    tree = ast.parse(source, filename)
    checked = {
        id(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and node.args
        and (getattr(node.func, "id", None) == "safe_next" or getattr(node.func, "attr", None) == "safe_next")
    }
    return [
        f"{filename}:{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if _reads_a_redirect_input(node) and id(node) not in checked
    ]


def test_no_view_reads_next_without_the_helper():
    found = []
    for path in sorted(CRM.rglob("*.py")):
        found += unchecked_redirect_inputs(path.read_text(encoding="utf-8"), str(path.relative_to(CRM.parent)))
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        'target = request.form.get("next") or "/"',
        'return redirect(request.args["next"])',
        "return redirect(request.referrer)",
        "return redirect(form.next.data)",
        'return redirect(_back_to(request.values.get("next")))',
    ],
)
def test_the_source_check_catches_a_next_read_by_hand(source):
    assert unchecked_redirect_inputs(source, "view.py") != []


def test_the_source_check_accepts_the_helper():
    assert unchecked_redirect_inputs('redirect(safe_next(request.form.get("next"), url_for("x")))', "view.py") == []
