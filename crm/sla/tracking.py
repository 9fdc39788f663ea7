"""SLA fields of a workflow record: computed when it enters a state, kept while paused.

Durations are working time on the installation's calendar (crm.sla.calendar).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from crm.sla.clock import WorkCalendar
from crm.workflow.machine import Machine, Sla
from crm.workflow.models import SlaStatus

_ZERO = timedelta(0)


def outcome_of_leaving(record, now: datetime) -> str | None:
    """met / breached for the state being left, None when it had no running deadline."""
    if record.sla_status == SlaStatus.BREACHED:
        return SlaStatus.BREACHED
    if record.sla_status in SlaStatus.RUNNING and record.sla_due_at is not None:
        return SlaStatus.MET if now <= record.sla_due_at else SlaStatus.BREACHED
    return None


def enter_state(
    record,
    from_state: str | None,
    machine: Machine,
    rules: dict[str, Sla],
    calendar: WorkCalendar,
    now: datetime,
    left_outcome: str | None = None,
) -> None:
    """Set the SLA fields for the state ``record`` has just entered.

    - a paused state keeps the working time left (not wall time) and stops the clock;
    - leaving a pause back into the state that was paused resumes with that time left;
    - any other state with a rule starts a fresh deadline; one without clears them
      and shows ``met`` when the deadline just left was kept (``left_outcome``).
    """
    state = machine.state(record.state)
    if state.paused:
        running = record.sla_status in (*SlaStatus.RUNNING, SlaStatus.BREACHED) and record.sla_due_at is not None
        if running and record.sla_paused_state is None:
            left = calendar.working_time_between(now, record.sla_due_at)
            record.sla_remaining_seconds = int(left.total_seconds())
            record.sla_paused_state = from_state
        record.sla_status = SlaStatus.PAUSED
        record.sla_due_at = record.sla_warn_at = record.sla_next_check_at = None
        return

    rule = rules.get(state.code)
    resumed_from = record.sla_paused_state
    remaining = record.sla_remaining_seconds
    record.sla_paused_state = None
    record.sla_remaining_seconds = None
    if rule is None:
        record.sla_status = SlaStatus.MET if left_outcome == SlaStatus.MET else None
        record.sla_due_at = record.sla_warn_at = record.sla_next_check_at = None
        return

    left = timedelta(seconds=remaining) if resumed_from == state.code and remaining is not None else rule.duration
    warn_left = rule.duration * (1 - rule.warn_fraction)  # the warning fires when this much is left
    record.sla_due_at = calendar.add_working_time(now, left)
    record.sla_warn_at = calendar.add_working_time(now, max(_ZERO, left - warn_left))
    if left <= _ZERO:
        record.sla_status, record.sla_next_check_at = SlaStatus.BREACHED, None
    elif left <= warn_left and resumed_from == state.code:
        # Already warned before the pause: the next thing to flag is the breach.
        record.sla_status, record.sla_next_check_at = SlaStatus.WARNING, record.sla_due_at
    else:
        record.sla_status, record.sla_next_check_at = SlaStatus.OK, record.sla_warn_at
