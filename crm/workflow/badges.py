"""What a list shows per workflow record without calling anything per row: SLA badges and record links.

A list of 50 or 100 records that includes workflow/_sla.html and calls ``url_for``
in every row spends milliseconds on it; these are built once per page (or per
catalog) and looked up by subscript in the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for

from crm.i18n import gettext as _
from crm.i18n import once_per_catalog
from crm.workflow.models import SlaStatus


@dataclass(frozen=True)
class SlaBadge:
    css: str
    text: str  # translated; ``%(when)s`` stands for the deadline


@once_per_catalog
def sla_badges() -> dict[str | None, SlaBadge | None]:
    """The SLA badges of workflow/_sla.html by status, translated once for the whole list.

    Including that partial in each of 50 rows costs a template context and four
    catalog look-ups per row; the list formats these instead. Every status has a
    key (None: no badge), so that a row looks its badge up by subscript, without a call.
    """
    return {
        SlaStatus.OK: SlaBadge("text-bg-success", _("Due %(when)s")),
        SlaStatus.WARNING: SlaBadge("text-bg-warning", _("Due soon: %(when)s")),
        SlaStatus.BREACHED: SlaBadge("text-bg-danger", _("Overdue since %(when)s")),
        SlaStatus.PAUSED: SlaBadge("text-bg-secondary", _("Clock paused: waiting on the other side")),
        SlaStatus.MET: None,
        None: None,
    }


@once_per_catalog
def sla_status_labels() -> dict[str, str]:
    """A deadline's status in a word, for filter menus and exports."""
    return {
        SlaStatus.OK: _("On time"),
        SlaStatus.WARNING: _("Due soon"),
        SlaStatus.BREACHED: _("Overdue"),
        SlaStatus.PAUSED: _("Clock paused"),
        SlaStatus.MET: _("Deadline met"),
    }


def url_parts(endpoint: str, arg: str) -> tuple[str, str]:
    """A record page's URL around its id: (before, after), built once per page.

    A list of 100 records would otherwise spend a millisecond in ``url_for``; the
    rows write ``before``, the id and ``after`` without calling anything.
    """
    sentinel = 987654321
    before, after = url_for(endpoint, **{arg: sentinel}).split(str(sentinel), 1)
    return before, after
