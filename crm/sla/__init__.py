"""SLA engine: the working-time clock (``crm.sla.clock``); the sweep joins it later."""

from crm.sla.clock import (  # noqa: F401
    DEFAULT_CALENDAR,
    SHANGHAI,
    WorkCalendar,
    WorkingHours,
    add_working_time,
    is_working_time,
    working_time_between,
)
