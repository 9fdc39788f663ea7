"""The deadline badge of every list and record page: time left or overdue, in working time.

One function, a Jinja global (``deadline_badge(status, due_at)``), so that the leads, screening
and orders lists and record pages and the workflows to come show a deadline the same way:
"剩余 2 个工作日", "剩余 3 个工作小时", "已超时 3 个工作小时", the exact deadline in the title
(shown on a tap on a phone by static/js/app.js), the colour by status.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape

from crm.common.time import utcnow
from crm.i18n import local_datetime
from crm.sla.calendar import current_calendar
from crm.workflow.models import SlaStatus

CSS = {
    SlaStatus.OK: "text-bg-success",
    SlaStatus.WARNING: "text-bg-warning",
    SlaStatus.BREACHED: "text-bg-danger",
    SlaStatus.PAUSED: "text-bg-secondary",
}


def _working_day(calendar) -> timedelta:
    day = timedelta(0)
    for start, end in calendar.hours.periods:
        day += datetime.combine(datetime.min, end) - datetime.combine(datetime.min, start)
    return day


def remaining_text(due_at: datetime, now: datetime | None = None, calendar=None) -> str:
    """ "剩余 2 个工作日" / "剩余 3 个工作小时" / "已超时 3 个工作小时": the working time to or past ``due_at``."""
    calendar = calendar or current_calendar()
    now = now or utcnow()
    overdue = due_at <= now
    span = calendar.working_time_between(due_at, now) if overdue else calendar.working_time_between(now, due_at)
    day = _working_day(calendar)
    if span >= day:
        # Whole days: rounded down while time is left (2.5 days left is "2 days"), up once overdue.
        days = math.ceil(span / day) if overdue else int(span / day)
        if overdue:
            return ngettext("Overdue by %(num)d working day", "Overdue by %(num)d working days", days)
        return ngettext("%(num)d working day left", "%(num)d working days left", days)
    hours = span.total_seconds() / 3600
    if hours >= 1:
        n = math.ceil(hours) if overdue else int(hours)
        if overdue:
            return ngettext("Overdue by %(num)d working hour", "Overdue by %(num)d working hours", n)
        return ngettext("%(num)d working hour left", "%(num)d working hours left", n)
    minutes = max(1, math.ceil(span.total_seconds() / 60))
    if overdue:
        return ngettext("Overdue by %(num)d minute", "Overdue by %(num)d minutes", minutes)
    return ngettext("%(num)d working minute left", "%(num)d working minutes left", minutes)


def deadline_badge(status: str | None, due_at: datetime | None, now: datetime | None = None) -> Markup:
    """The badge for a record's SLA ``status`` and deadline; empty when no deadline runs."""
    css = CSS.get(status)
    if css is None:
        return Markup("")
    if status == SlaStatus.PAUSED or due_at is None:
        # Paused, or (in old data) a status without its deadline: the status alone.
        text = {
            SlaStatus.PAUSED: _("Clock paused: waiting on the other side"),
            SlaStatus.OK: _("On time"),
            SlaStatus.WARNING: _("Due soon"),
            SlaStatus.BREACHED: _("Overdue"),
        }[status]
        title = text
    elif status == SlaStatus.BREACHED and due_at > (now or utcnow()):
        # The status is the sweep's word: a deadline moved later (a calendar edit) does not unbreach it.
        text = _("Overdue")
        title = _("Deadline: %(when)s", when=local_datetime(due_at))
    else:
        text = remaining_text(due_at, now)
        title = _("Deadline: %(when)s", when=local_datetime(due_at))
    return Markup(
        '<span class="badge {css} deadline-badge" data-sla="{status}" title="{title}" data-deadline="{title}"'
        ' tabindex="0" role="button">{text}</span>'
    ).format(css=css, status=escape(status), title=title, text=text)
