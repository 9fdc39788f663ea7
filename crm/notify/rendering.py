"""A notification's text, in the reader's language.

Rows store facts (kind, workflow, record, state), never sentences: the inbox
shows them in the language of whoever reads them, and email and group robots in
the recipient's language at sending time. What a sentence needs from the record
now (its deadline, its assignee) is read for a whole page at once: one query per
workflow on the page, whatever the number of notifications.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import urlsplit

from flask import current_app, url_for
from flask_babel import force_locale, format_datetime
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import literal, select

from crm.access.roles import Role
from crm.auth.models import User
from crm.extensions import db
from crm.notify.models import Notification, NotificationKind
from crm.workflow.registry import model_for


@dataclass(frozen=True)
class RecordFacts:
    """What a sentence about a record needs from the record as it is now."""

    state: str
    due_at: datetime | None
    assignee_name: str | None
    title: str | None = None  # the company's name: what people call the record


@dataclass(frozen=True)
class InboxEntry:
    notification: Notification
    text: str
    url: str | None

    @property
    def unread(self) -> bool:
        return self.notification.read_at is None


def record_facts(notifications: Iterable[Notification]) -> dict[tuple[str, int], RecordFacts]:
    """Current deadline and assignee of the records the notifications name: one query per workflow."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for note in notifications:
        if note.workflow and note.record_id is not None and model_for(note.workflow) is not None:
            wanted[note.workflow].add(note.record_id)
    facts = {}
    for workflow, ids in wanted.items():
        model = model_for(workflow)
        title_column = getattr(model, "__title_column__", None)
        title = getattr(model, title_column) if title_column else literal(None)
        rows = db.session.execute(
            select(model.id, model._state, model.sla_due_at, User.display_name, title)
            .outerjoin(User, User.id == model.assignee_id)
            .where(model.id.in_(sorted(ids)))
        )
        for record_id, state, due_at, assignee_name, name in rows:
            facts[workflow, record_id] = RecordFacts(state, due_at, assignee_name, name)
    return facts


def record_label(note: Notification, facts: RecordFacts | None = None, *, with_state: bool = True) -> str:
    """「招商线索 深圳康泰医药 #12（新建）」: the workflow, the company, the record, and the state it was in.

    The company is read from the record now (``facts``): a notification names what people
    call the record, not only its number.
    """
    model = model_for(note.workflow) if note.workflow else None
    if model is None:
        return _("Record #%(id)s", id=note.record_id if note.record_id is not None else "?")
    machine = model.__machine__
    title = facts.title if facts is not None else None
    if title:
        label = _("%(workflow)s %(title)s #%(id)s", workflow=machine.label, title=title, id=note.record_id)
    else:
        label = _("%(workflow)s #%(id)s", workflow=machine.label, id=note.record_id)
    if not with_state:
        return label
    return _("%(record)s (%(state)s)", record=label, state=state_label(machine, note.state))


def state_label(machine, state: str | None) -> str:
    try:
        return str(machine.state(state).label)
    except KeyError:
        return state or "?"


def _state_news(machine, state: str | None) -> str | None:
    """The machine's sentence for arriving in ``state`` (``State.news``), translated; None without one."""
    try:
        news = machine.state(state).news
    except KeyError:
        return None
    return str(news) if news else None


def notification_text(note: Notification, facts: RecordFacts | None) -> str:
    """The sentence for one notification, in the current locale."""
    record = record_label(note, facts)
    # A deadline belongs to the state: once the record has moved on, the old one means nothing.
    due_at = facts.due_at if facts is not None and facts.state == note.state else None
    due = format_datetime(due_at, "yyyy-MM-dd HH:mm") if due_at else None
    if note.kind == NotificationKind.SLA_WARNING:
        text = (
            _("%(record)s is due at %(due)s", record=record, due=due)
            if due
            else _("%(record)s is due soon", record=record)
        )
    elif note.kind == NotificationKind.SLA_BREACH:
        text = (
            _("%(record)s is overdue (due %(due)s)", record=record, due=due)
            if due
            else _("%(record)s is overdue", record=record)
        )
    elif note.kind == NotificationKind.SLA_ESCALATION:
        assignee = facts.assignee_name if facts is not None else None
        if assignee:
            text = _("%(record)s is overdue; assigned to %(assignee)s", record=record, assignee=assignee)
        else:
            text = _("%(record)s is overdue and nobody is assigned", record=record)
    elif note.kind == NotificationKind.TRANSITION:
        # Said as what happened: the state it entered, not "moved on" (a lost lead moved nowhere).
        model = model_for(note.workflow)
        news = _state_news(model.__machine__, note.state) if model else None
        if news:  # the machine words the event: "… was marked lost", not "moved on"
            text = news % {"record": record_label(note, facts, with_state=False)}
        else:
            text = _(
                "%(record)s is now “%(state)s”",
                record=record_label(note, facts, with_state=False),
                state=state_label(model.__machine__, note.state) if model else (note.state or "?"),
            )
    elif note.kind == NotificationKind.ASSIGNED:
        text = _("%(record)s is now yours", record=record)
    elif note.kind == NotificationKind.UNASSIGNED:
        assignee = facts.assignee_name if facts is not None else None
        if assignee:
            text = _("%(record)s is no longer yours: %(assignee)s has it now", record=record, assignee=assignee)
        else:
            text = _("%(record)s is no longer yours", record=record)
    elif note.kind == NotificationKind.POOL_WARNING:
        text = _("%(record)s returns to the lead pool in one working day unless you log a touch", record=record)
    elif note.kind == NotificationKind.RETURNED_TO_POOL:
        text = _("%(record)s went back to the lead pool: nobody touched it for too long", record=record)
    elif note.kind in (NotificationKind.LICENCE_EXPIRING, NotificationKind.LICENCE_EXPIRED):
        return licence_text(note, record_label(note))  # the sentence names the company itself
    elif note.kind == NotificationKind.DUPLICATE_ELSEWHERE:
        return duplicate_text(note, record)
    else:
        text = record
    if note.message:  # the comment the actor wrote; a dash reads the same in both languages
        text = f"{text} — {note.message}"
    return text


def licence_text(note: Notification, record: str) -> str:
    """A licence-watch sentence; its ``message`` holds the licence's facts as JSON, not words."""
    from crm.distributors.models import DocumentKind

    try:
        facts = json.loads(note.message or "")
        document = DocumentKind(facts["document"]).label
        expires_on = date.fromisoformat(facts["expires_on"]).isoformat()
    except (ValueError, KeyError, TypeError):
        return record
    if facts.get("number"):
        document = _("%(document)s No. %(number)s", document=document, number=facts["number"])
    company = facts.get("company") or record
    if note.kind == NotificationKind.LICENCE_EXPIRED:
        return _(
            "%(record)s: %(document)s of %(company)s expired on %(date)s",
            record=record,
            document=document,
            company=company,
            date=expires_on,
        )
    return _(
        "%(record)s: %(document)s of %(company)s expires on %(date)s",
        record=record,
        document=document,
        company=company,
        date=expires_on,
    )


def duplicate_text(note: Notification, record: str) -> str:
    """Who, outside the lead's territories, entered a look-alike of it; ``message`` is JSON."""
    reasons = {
        "uscc": _("same credit code"),
        "phone": _("same phone number"),
        "company_name": _("same company name"),
    }
    try:
        facts = json.loads(note.message or "")
        user = str(facts["user"])
        matched = _(", ").join(str(reasons[f]) for f in facts.get("fields", []) if f in reasons)
    except (ValueError, KeyError, TypeError):
        return record
    return _(
        "%(record)s: %(user)s, outside its territories, entered a company that looks like it (%(matched)s)",
        record=record,
        user=user,
        matched=matched or "—",
    )


def record_path(note: Notification, reader: User | None) -> str:
    """Where the notification's record is shown to ``reader``.

    A distributor's portal users see their company on its own page, not on the
    staff page of the distributor (which they may not open).
    """
    from crm.workflow.views import record_url

    if note.workflow == "distributors" and reader is not None and reader.role == Role.DISTRIBUTOR:
        return url_for("distributors.my_company")
    return record_url(note.workflow, note.record_id)


def reader_locale(user: User) -> str:
    """The user's language, or the installation's default (Chinese)."""
    languages = current_app.config["LANGUAGES"]
    return user.locale if user.locale in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def text_for(user: User, note: Notification) -> str:
    """The sentence in ``user``'s language, for email and group robots (no request to take it from)."""
    facts = record_facts([note])
    with force_locale(reader_locale(user)):
        return notification_text(note, facts.get((note.workflow, note.record_id)))


@dataclass(frozen=True)
class OutgoingMessage:
    """One notification ready for an external channel, already in the recipient's language."""

    recipient_name: str
    recipient_email: str | None
    subject: str
    email_body: str
    robot_text: str


def outgoing_message(user: User, note: Notification) -> OutgoingMessage:
    """Subject and bodies for email and group robots, in ``user``'s language."""
    facts = record_facts([note])
    fact = facts.get((note.workflow, note.record_id))
    record_link = _absolute_url(note, fact, user)
    inbox_link = _absolute_url(None, None)
    with force_locale(reader_locale(user)):
        text = notification_text(note, fact)
        product = _("ZhaoShangTong")
        lines = [_("Hello %(name)s,", name=user.display_name), "", text]
        if record_link:
            lines += ["", _("Open the record: %(url)s", url=record_link)]
        lines += ["", "-- ", product]
        if inbox_link:
            lines.append(_("All your notifications: %(url)s", url=inbox_link))
        robot = f"{text}\n{record_link}" if record_link else text
        return OutgoingMessage(
            recipient_name=user.display_name,
            recipient_email=user.email,
            subject=f"[{product}] {text}",
            email_body="\n".join(lines) + "\n",
            # The product name leads, so that a DingTalk robot's keyword rule can match it.
            robot_text=f"[{product}] @{user.display_name} {robot}",
        )


def _absolute_url(note: Notification | None, fact: RecordFacts | None, reader: User | None = None) -> str | None:
    """A link for mail and chat, when NOTIFY_BASE_URL says where the site is; else none.

    The scheduler has no request to take the host from, so the URL is built in a
    request context made from the configured base URL.
    """
    base = current_app.config.get("NOTIFY_BASE_URL")
    if not base:
        return None
    with current_app.test_request_context("/", base_url=base):
        if note is None:
            path = url_for("notify.index")
        elif fact is None:
            return None
        else:
            path = record_path(note, reader)
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}{path}"


def inbox_entries(notifications: list[Notification]) -> list[InboxEntry]:
    """Text and link for a page of the inbox, in the current request's language."""
    facts = record_facts(notifications)
    reader = current_user if current_user and current_user.is_authenticated else None
    entries = []
    for note in notifications:
        fact = facts.get((note.workflow, note.record_id))
        url = record_path(note, reader) if fact is not None else None
        entries.append(InboxEntry(note, notification_text(note, fact), url))
    return entries
