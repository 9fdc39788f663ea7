"""The "are you sure" of a workflow button, decided in one place for every workflow.

A page renders ``{{ confirm_move(record, 'event') }}`` inside the button (or passes the
machine instead of a record); static/js/app.js asks before a form whose button carries
``data-confirm`` is sent, so it works under the CSP without inline script.
"""

from __future__ import annotations

from flask_login import current_user
from markupsafe import Markup, escape

from crm.i18n import gettext as _
from crm.workflow.machine import Event, Machine


def confirm_message(machine: Machine, event: Event | str, role) -> str | None:
    """What the button asks before ``event`` is fired by someone of ``role``; None when it can be undone."""
    event = machine.event(event) if isinstance(event, str) else event
    if event is None or machine.undoable_by(event, role):
        return None
    return _("“%(event)s” cannot be undone. Go ahead?", event=str(event.label))


def confirm_move(record_or_machine, event: Event | str) -> Markup:
    """The ``data-confirm`` attribute (with a leading space) for the button of ``event``, or nothing."""
    machine = record_or_machine if isinstance(record_or_machine, Machine) else record_or_machine.__machine__
    user = current_user._get_current_object()
    role = getattr(user, "role", None)
    message = confirm_message(machine, event, role)
    if message is None:
        return Markup("")
    return Markup(' data-confirm="%s"') % escape(message)
