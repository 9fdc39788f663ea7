"""What an admin changes about SLAs: the rule of each state, and the holiday calendar.

Each operation checks its input, writes the change and an audit row, forgets the
request's cached rules or calendar (so that the same request computes with the
new values), and flushes; the request commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import selectinload

from crm.access.roles import STAFF_ROLES, Role
from crm.access.scoping import scoped
from crm.auth.services import record_audit
from crm.common.errors import BusinessError, check_version, stale_record
from crm.extensions import db
from crm.i18n import lazy_gettext as _l
from crm.sla.calendar import current_calendar, forget_calendar
from crm.sla.clock import SHANGHAI, _package_knows, statutory_days
from crm.sla.models import HolidayOverride, HolidayYear, SlaRule
from crm.sla.rules import forget_rules
from crm.workflow.machine import Machine, Sla, State
from crm.workflow.models import SlaStatus, WorkflowHistory
from crm.workflow.registry import model_for, workflow_models

# A deadline further away than a working year is a typo, not a service level.
MAX_DURATION_HOURS = Decimal(2000)
# A bulk add is for one holiday period (国庆节 is 8 days); a longer span is a slip of the date picker.
MAX_RANGE_DAYS = 31
ESCALATION_ROLES = tuple(role for role in Role if role in STAFF_ROLES)


# -- SLA rules ---------------------------------------------------------------


@dataclass(frozen=True)
class RuleRow:
    """One state's SLA as the admin page shows it: the machine's default and the stored override."""

    machine: Machine
    state: State
    default: Sla | None
    override: SlaRule | None

    @property
    def version(self) -> int:
        # 0 stands for "no override yet", so that two admins creating one at once conflict.
        return self.override.version if self.override else 0


def rule_rows() -> list[RuleRow]:
    """Every SLA-capable state (neither final nor paused) of every registered workflow, in table order."""
    overrides = {(r.workflow, r.state): r for r in db.session.scalars(select(SlaRule))}
    rows = []
    for name, model in sorted(workflow_models().items()):
        machine = model.__machine__
        for state in machine.states:
            if not (state.final or state.paused):
                rows.append(RuleRow(machine, state, machine.sla.get(state.code), overrides.get((name, state.code))))
    return rows


def rule_row(workflow: str, state_code: str) -> RuleRow | None:
    """The row of one (workflow, state), or None when the state cannot carry an SLA."""
    model = model_for(workflow)
    if model is None:
        return None
    machine = model.__machine__
    state = machine._states.get(state_code)
    if state is None or state.final or state.paused:
        return None
    override = db.session.scalar(select(SlaRule).where(SlaRule.workflow == workflow, SlaRule.state == state_code))
    return RuleRow(machine, state, machine.sla.get(state_code), override)


def check_rule_version(row: RuleRow, seen_version) -> None:
    """Refuse (409) a form that was loaded before someone else changed this rule."""
    try:
        seen = int(seen_version)
    except (TypeError, ValueError):
        seen = None
    if row.override is None:
        if seen != 0:
            raise stale_record()
    else:
        check_version(row.override, seen)


def parse_duration_minutes(hours_text: str) -> int:
    """Working hours as typed (``8``, ``1.5``, ``0``) → whole working minutes; 0 switches the SLA off."""
    text = (hours_text or "").strip().replace("，", ".").replace(",", ".")
    try:
        hours = Decimal(text)
    except InvalidOperation:
        raise BusinessError(_("Enter the duration as a number of working hours, e.g. 8 or 1.5.")) from None
    if not hours.is_finite() or hours < 0:
        raise BusinessError(_("The duration cannot be negative. Enter 0 to switch the SLA off."))
    if hours > MAX_DURATION_HOURS:
        raise BusinessError(_("The duration can be at most %(max)s working hours.", max=MAX_DURATION_HOURS))
    minutes = hours * 60
    if minutes != minutes.to_integral_value():
        raise BusinessError(_("The duration must be a whole number of minutes, e.g. 1.5 or 0.25 hours."))
    return int(minutes)


def save_rule(
    row: RuleRow, *, actor, seen_version, duration_hours: str, warn_percent: str | int, escalate_to: str
) -> SlaRule:
    """Store the admin's SLA for one state; records entering that state from now on get the new deadline.

    Records already in the state keep the deadline they were promised.
    """
    check_rule_version(row, seen_version)
    minutes = parse_duration_minutes(duration_hours)
    try:
        warn_percent = int(str(warn_percent).strip().rstrip("%％"))
    except ValueError:
        warn_percent = None
    if warn_percent is None or not 1 <= warn_percent <= 99:
        raise BusinessError(_("The warning must come between 1 and 99 percent of the duration."))
    try:
        role = Role(escalate_to)
    except ValueError:
        role = None
    if role not in ESCALATION_ROLES:
        raise BusinessError(_("Choose whom a breach escalates to."))
    rule = row.override or SlaRule(workflow=row.machine.name, state=row.state.code)
    before = _rule_summary(row.override) if row.override else None
    rule.duration_minutes, rule.warn_percent, rule.escalate_to = minutes, warn_percent, role
    rule.updated_by_id = actor.id
    db.session.add(rule)
    db.session.flush()
    forget_rules()
    record_audit(
        "sla_rule_changed",
        user=actor,
        workflow=row.machine.name,
        state=row.state.code,
        before=before,
        after=_rule_summary(rule),
    )
    return rule


def reset_rule(row: RuleRow, *, actor, seen_version) -> None:
    """Drop the override of one state: the machine's default applies again to records entering it."""
    check_rule_version(row, seen_version)
    if row.override is None:
        return
    before = _rule_summary(row.override)
    db.session.delete(row.override)
    db.session.flush()
    forget_rules()
    record_audit("sla_rule_reset", user=actor, workflow=row.machine.name, state=row.state.code, before=before)


def _rule_summary(rule: SlaRule) -> dict:
    return {"minutes": rule.duration_minutes, "warn_percent": rule.warn_percent, "escalate_to": rule.escalate_to.value}


def hours_text(duration: timedelta | int | None) -> str:
    """A duration (or working minutes) as the hours an admin types: ``8``, ``1.5``, ``0.25``."""
    if duration is None:
        return ""
    minutes = duration if isinstance(duration, int) else int(duration.total_seconds() // 60)
    hours = Decimal(minutes) / 60
    return format(hours.quantize(Decimal("0.01")).normalize(), "f")


# -- holiday calendar --------------------------------------------------------


def local_today() -> date:
    """Today in Shanghai: the year a warning is about is a local year."""
    return datetime.now(SHANGHAI).date()


def unknown_upcoming_years(today: date | None = None) -> list[int]:
    """This year and next, where neither the package nor the admin has entered the statutory holidays."""
    year = (today or local_today()).year
    return current_calendar().unknown_years([year, year + 1])


def holidays_of_year(year: int) -> list[HolidayOverride]:
    return list(
        db.session.scalars(
            select(HolidayOverride)
            .where(HolidayOverride.day >= date(year, 1, 1), HolidayOverride.day < date(year + 1, 1, 1))
            .order_by(HolidayOverride.day)
        )
    )


def years_with_holidays() -> list[int]:
    days = db.session.scalars(select(HolidayOverride.day)).all()
    return sorted({d.year for d in days})


# The package names its holidays in English; the page shows them in the reader's language.
STATUTORY_HOLIDAY_LABELS = {
    "New Year's Day": _l("New Year's Day (元旦)"),
    "Spring Festival": _l("Spring Festival (春节)"),
    "Tomb-sweeping Day": _l("Tomb-sweeping Day (清明节)"),
    "Labour Day": _l("Labour Day (劳动节)"),
    "Dragon Boat Festival": _l("Dragon Boat Festival (端午节)"),
    "National Day": _l("National Day (国庆节)"),
    "Mid-autumn Festival": _l("Mid-autumn Festival (中秋节)"),
    "Anti-Fascist 70th Day": _l("70th anniversary of the victory (抗战胜利纪念日)"),
}


@dataclass(frozen=True)
class StatutoryDay:
    day: date
    is_working_day: bool
    name: str


def built_in_days(year: int) -> list[StatutoryDay]:
    """The statutory holidays and adjusted working days (调休) the software knows for ``year``."""
    return [
        StatutoryDay(day, working, str(STATUTORY_HOLIDAY_LABELS.get(name, name)))
        for day, working, name in statutory_days(year)
    ]


def built_in_year(year: int) -> bool:
    """Whether the software ships the statutory plan of ``year`` (so nobody needs to enter it)."""
    return _package_knows(year)


def year_completion(year: int) -> HolidayYear | None:
    """The admin's mark that ``year``'s plan is fully entered, or None."""
    return db.session.get(HolidayYear, year)


def set_year_complete(year: int, *, complete: bool, actor) -> None:
    """Mark ``year``'s entered plan complete (the warning for it ends) or open it again."""
    if not 2000 <= year <= 2100:
        raise BusinessError(_("Pick a year between 2000 and 2100."))
    mark = db.session.get(HolidayYear, year)
    if complete and mark is None:
        if not holidays_of_year(year):
            raise BusinessError(_("Enter the holidays of %(year)d before marking its plan complete.", year=year))
        db.session.add(HolidayYear(year=year, completed_by_id=actor.id))
        record_audit("holiday_year_completed", user=actor, year=year)
    elif not complete and mark is not None:
        db.session.delete(mark)
        record_audit("holiday_year_reopened", user=actor, year=year)
    db.session.flush()
    forget_calendar()


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise BusinessError(_("Give the day a name, e.g. 国庆节 or 调休上班."))
    if len(name) > 64:
        raise BusinessError(_("The name can be at most 64 characters."))
    return name


def add_holidays(first: date, last: date, *, is_working_day: bool, name: str, actor) -> list[HolidayOverride]:
    """Declare every day from ``first`` to ``last`` a holiday (or an adjusted working day).

    Refuses the whole range when one of its days is already in the calendar, so
    that an admin never overwrites an entry without seeing it.
    """
    name = _clean_name(name)
    if last < first:
        raise BusinessError(_("The last day cannot come before the first."))
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise BusinessError(_("Add at most %(n)d days at once.", n=MAX_RANGE_DAYS))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    taken = db.session.scalars(
        select(HolidayOverride.day).where(HolidayOverride.day.in_(days)).order_by(HolidayOverride.day)
    ).all()
    if taken:
        raise BusinessError(
            _(
                "Already in the calendar: %(days)s. Delete those days first to change them.",
                days=", ".join(d.isoformat() for d in taken),
            )
        )
    entries = [HolidayOverride(day=d, is_working_day=is_working_day, name=name, created_by_id=actor.id) for d in days]
    db.session.add_all(entries)
    db.session.flush()
    forget_calendar()
    record_audit(
        "holiday_added",
        user=actor,
        first=first.isoformat(),
        last=last.isoformat(),
        working_day=is_working_day,
        name=name,
    )
    return entries


def delete_holiday(entry: HolidayOverride, *, actor) -> None:
    """Remove one day from the calendar: the statutory package (or the weekday) decides it again."""
    day, name = entry.day, entry.name
    db.session.execute(delete(HolidayOverride).where(HolidayOverride.id == entry.id))
    forget_calendar()
    record_audit("holiday_deleted", user=actor, day=day.isoformat(), name=name)


# -- reports -----------------------------------------------------------------


@dataclass(frozen=True)
class OverdueItem:
    workflow: str
    machine: Machine
    record_id: int
    state: str
    sla_status: str
    sla_due_at: datetime | None


def overdue_for(user) -> list[OverdueItem]:
    """Records of every workflow assigned to ``user`` that are due soon or overdue, the oldest deadline first.

    One query per registered workflow, each within the user's reach.
    """
    items = []
    for name, model in sorted(workflow_models().items()):
        stmt = (
            scoped(model, user)
            .with_only_columns(model.id, model._state, model.sla_status, model.sla_due_at)
            .where(model.assignee_id == user.id, model.sla_status.in_((SlaStatus.WARNING, SlaStatus.BREACHED)))
        )
        for record_id, state, status, due in db.session.execute(stmt):
            items.append(OverdueItem(name, model.__machine__, record_id, state, status, due))
    # A record without a deadline cannot be late; sort it last rather than fail on None.
    items.sort(key=lambda item: (item.sla_due_at is None, item.sla_due_at or datetime.max, item.workflow))
    return items


@dataclass
class StateOutcomes:
    met: int = 0
    breached: int = 0

    @property
    def total(self) -> int:
        return self.met + self.breached

    @property
    def breach_percent(self) -> int | None:
        return round(100 * self.breached / self.total) if self.total else None


def local_day_bounds_utc(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00, the day after last 00:00) in Shanghai, as the naive UTC instants the history stores."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=SHANGHAI)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)
    return start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None)


def outcomes_by_state(model, user, first: date, last: date) -> dict[str, StateOutcomes]:
    """Per state left between ``first`` and ``last`` (local days): how often it was left in time or late.

    Counts the records within the user's reach only; one grouped query.
    """
    start, end = local_day_bounds_utc(first, last)
    met = WorkflowHistory.sla_outcome == SlaStatus.MET
    breached = WorkflowHistory.sla_outcome == SlaStatus.BREACHED
    in_reach = scoped(model, user).with_only_columns(model.id)
    stmt = (
        select(
            WorkflowHistory.from_state,
            func.sum(case((met, 1), else_=0)),
            func.sum(case((breached, 1), else_=0)),
        )
        .where(
            WorkflowHistory.workflow == model.__machine__.name,
            WorkflowHistory.at >= start,
            WorkflowHistory.at < end,
            WorkflowHistory.from_state.is_not(None),
            WorkflowHistory.sla_outcome.is_not(None),
            WorkflowHistory.record_id.in_(in_reach),
        )
        .group_by(WorkflowHistory.from_state)
    )
    return {state: StateOutcomes(int(m or 0), int(b or 0)) for state, m, b in db.session.execute(stmt)}


def breached_records_stmt(model, user):
    """The records of ``model`` within ``user``'s reach that are past their deadline now, the oldest first."""
    return (
        scoped(model, user)
        .options(selectinload(model.assignee))
        .where(model.sla_status == SlaStatus.BREACHED)
        .order_by(model.sla_due_at.asc(), model.id.asc())
    )
