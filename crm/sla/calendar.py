"""The installation's working-time calendar: configured hours plus the admin's holiday overrides."""

from __future__ import annotations

from datetime import time

from flask import current_app, g, has_app_context
from sqlalchemy import select

from crm.extensions import db
from crm.sla.clock import WorkCalendar, WorkingHours
from crm.sla.models import HolidayOverride, HolidayYear


def _time(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def working_hours_from_config(config) -> WorkingHours:
    lunch = config.get("SLA_LUNCH_BREAK") or ""
    return WorkingHours(
        start=_time(config["SLA_WORKDAY_START"]),
        end=_time(config["SLA_WORKDAY_END"]),
        weekdays=frozenset(int(d) for d in str(config["SLA_WORKING_WEEKDAYS"]).split(",") if d.strip()),
        lunch=tuple(_time(t) for t in lunch.split("-")) if lunch else None,
    )


def load_calendar() -> WorkCalendar:
    """A fresh calendar from the configuration and the holiday_overrides table."""
    overrides = dict(db.session.execute(select(HolidayOverride.day, HolidayOverride.is_working_day)).all())
    # A year counts as entered when an admin marked its plan complete, not when it has one day in it.
    entered = db.session.scalars(select(HolidayYear.year)).all()
    return WorkCalendar(hours=working_hours_from_config(current_app.config), overrides=overrides, entered_years=entered)


def current_calendar() -> WorkCalendar:
    """The calendar, loaded once per request (or per app context: one sweep, one CLI command)."""
    if not has_app_context():
        return WorkCalendar()
    if "work_calendar" not in g:
        g.work_calendar = load_calendar()
    return g.work_calendar


def forget_calendar() -> None:
    """Call after editing holidays, so that the same request sees the change."""
    g.pop("work_calendar", None)
