"""The working-time clock, by worked examples and by the laws any deadline must obey.

Expected values are reasoned out by hand from the 2026 statutory plan as
chinese_calendar 1.11.0 records it (checked when writing these tests):

- 春节: Feb 15–23 off (the weekdays Feb 16–20 and Mon Feb 23 are holidays);
  Sat Feb 14 and Sat Feb 28 are working days (调休).
- 清明: Mon Apr 6 off.
- 中秋 + 国庆: Fri Sep 25 and Oct 1–7 off; Sun Sep 20 and Sat Oct 10 are working days.

Times in the examples are Shanghai wall time; ``sh`` turns them into the naive
UTC the clock speaks (Shanghai is UTC+8 all year, no DST), without asking the clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.sla.clock import (
    DEFAULT_CALENDAR,
    WorkCalendar,
    WorkingHours,
    add_working_time,
    is_working_time,
    working_time_between,
)

HOUR = timedelta(hours=1)
WORKING_DAY = 9 * HOUR  # 09:00–18:00 without a lunch break
LUNCH = (time(12), time(13))


def sh(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """Shanghai wall time → the naive UTC value the database stores."""
    return datetime(year, month, day, hour, minute) - timedelta(hours=8)


# -- the calendar agrees with the statutory plan --------------------------------------------------


def test_package_plan_as_these_examples_assume_it():
    """Guards the hand-reasoned expectations below against a package update that moves a holiday."""
    off = [date(2026, 2, 16), date(2026, 2, 23), date(2026, 4, 6), date(2026, 9, 25), date(2026, 10, 1)]
    adjusted_working = [date(2026, 2, 14), date(2026, 2, 28), date(2026, 9, 20), date(2026, 10, 10)]
    assert not any(chinese_calendar.is_workday(day) for day in off)
    assert all(chinese_calendar.is_workday(day) for day in adjusted_working)
    assert [chinese_calendar.is_workday(date(2026, 10, day)) for day in range(1, 13)] == [
        False, False, False, False, False, False, False,  # Oct 1–7 国庆
        True, True, True,  # Thu 8, Fri 9, Sat 10 (调休)
        False, True,  # Sun 11, Mon 12
    ]  # fmt: skip


def test_default_calendar_agrees_with_the_package_on_every_day_it_knows():
    day = date(2004, 1, 1)
    while day <= date(2026, 12, 31):
        assert DEFAULT_CALENDAR.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


# -- worked examples ------------------------------------------------------------------------------


def test_new_lead_on_friday_at_five_is_due_monday_at_four_with_nine_hour_days():
    # 8 working hours: 1 on Friday (17–18), 7 on Monday (9–16).
    assert add_working_time(sh(2026, 3, 13, 17), 8 * HOUR) == sh(2026, 3, 16, 16)


def test_new_lead_on_friday_at_five_is_due_next_working_day_at_five_with_a_lunch_break():
    # 1 on Friday, then Monday 9–12 (3) and 13–17 (4).
    calendar = WorkCalendar(WorkingHours(lunch=LUNCH))
    assert calendar.add_working_time(sh(2026, 3, 13, 17), 8 * HOUR) == sh(2026, 3, 16, 17)


def test_order_shipped_within_two_working_days_skips_national_day():
    # Wed Sep 30 15–18 (3), then Oct 1–7 off, Thu Oct 8 (9), Fri Oct 9 9–15 (6).
    assert add_working_time(sh(2026, 9, 30, 15), 2 * WORKING_DAY) == sh(2026, 10, 9, 15)


def test_intent_within_ten_working_days_spans_national_day_and_its_working_saturday():
    # Working days after Wed Sep 30: Oct 8, 9, 10 (Sat, 调休), 12, 13, 14, 15, 16, 19, 20.
    assert add_working_time(sh(2026, 9, 30, 10), 10 * WORKING_DAY) == sh(2026, 10, 20, 10)


def test_deadline_lands_on_the_adjusted_working_saturday():
    # Fri Oct 9 14–18 (4), Sat Oct 10 9–14 (5).
    due = add_working_time(sh(2026, 10, 9, 14), WORKING_DAY)
    assert due == sh(2026, 10, 10, 14)
    assert is_working_time(sh(2026, 10, 10, 10))
    assert not is_working_time(sh(2026, 10, 17, 10))  # the Saturday after is an ordinary one


def test_ticket_resolved_within_three_working_days_over_spring_festival():
    # Fri Feb 13 16–18 (2), Sat Feb 14 调休 (9), Feb 15–23 off, Tue Feb 24 (9), Wed Feb 25 9–16 (7).
    assert add_working_time(sh(2026, 2, 13, 16), 3 * WORKING_DAY) == sh(2026, 2, 25, 16)


def test_working_time_across_spring_festival_is_only_the_adjusted_saturday():
    assert working_time_between(sh(2026, 2, 13, 18), sh(2026, 2, 24, 9)) == WORKING_DAY


def test_thirty_working_days_end_at_closing_time_of_the_thirtieth():
    # From Mon Mar 2 09:00: Mar 2–31 give 22 days, Apr 1–3 three more, Mon Apr 6 is 清明,
    # Apr 7–10 four more (29), Mon Apr 13 the thirtieth.
    assert add_working_time(sh(2026, 3, 2, 9), 30 * WORKING_DAY) == sh(2026, 4, 13, 18)


def test_a_span_that_uses_up_the_day_is_due_at_closing_time_not_next_morning():
    assert add_working_time(sh(2026, 3, 16, 9), WORKING_DAY) == sh(2026, 3, 16, 18)
    assert add_working_time(sh(2026, 3, 16, 14), 4 * HOUR) == sh(2026, 3, 16, 18)
    assert add_working_time(sh(2026, 3, 13, 9), WORKING_DAY) == sh(2026, 3, 13, 18)  # a Friday


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (sh(2026, 3, 16, 7), sh(2026, 3, 16, 10)),  # before opening: counts from 09:00
        (sh(2026, 3, 16, 18), sh(2026, 3, 17, 10)),  # at closing time
        (sh(2026, 3, 16, 20), sh(2026, 3, 17, 10)),  # in the evening
        (sh(2026, 3, 14, 10), sh(2026, 3, 16, 10)),  # on a Saturday
        (sh(2026, 3, 15, 23, 59), sh(2026, 3, 16, 10)),  # late Sunday, which is Sunday 15:59 UTC
    ],
)
def test_a_start_outside_working_hours_counts_from_the_next_working_moment(start, due):
    assert add_working_time(start, HOUR) == due


def test_working_time_between_counts_only_working_hours():
    assert working_time_between(sh(2026, 3, 13, 17), sh(2026, 3, 16, 10)) == 2 * HOUR  # over a weekend
    assert working_time_between(sh(2026, 3, 16, 20), sh(2026, 3, 17, 8)) == timedelta(0)  # overnight
    assert working_time_between(sh(2026, 3, 16, 10), sh(2026, 3, 16, 10)) == timedelta(0)
    assert working_time_between(sh(2026, 3, 17, 10), sh(2026, 3, 16, 10)) == timedelta(0)  # backwards


def test_opening_time_is_working_time_and_closing_time_is_not():
    assert is_working_time(sh(2026, 3, 16, 9))
    assert is_working_time(sh(2026, 3, 16, 17, 59))
    assert not is_working_time(sh(2026, 3, 16, 18))
    assert not is_working_time(sh(2026, 3, 16, 8, 59))


# -- lunch break ----------------------------------------------------------------------------------


def test_lunch_break_is_not_working_time():
    calendar = WorkCalendar(WorkingHours(lunch=LUNCH))
    assert calendar.add_working_time(sh(2026, 3, 16, 11, 30), HOUR) == sh(2026, 3, 16, 13, 30)
    assert calendar.add_working_time(sh(2026, 3, 16, 12, 15), timedelta(minutes=30)) == sh(2026, 3, 16, 13, 30)
    # The morning's last minute ends at 12:00, not at 13:00.
    assert calendar.add_working_time(sh(2026, 3, 16, 11), HOUR) == sh(2026, 3, 16, 12)
    assert calendar.working_time_between(sh(2026, 3, 16, 11), sh(2026, 3, 16, 14)) == 2 * HOUR
    assert calendar.working_time_between(sh(2026, 3, 16, 9), sh(2026, 3, 17, 9)) == 8 * HOUR
    assert not calendar.is_working_time(sh(2026, 3, 16, 12, 30))
    assert calendar.is_working_time(sh(2026, 3, 16, 13))


def test_lunch_break_must_lie_inside_the_working_day():
    with pytest.raises(ValueError, match="lunch"):
        WorkingHours(lunch=(time(8), time(9)))
    with pytest.raises(ValueError, match="start before"):
        WorkingHours(start=time(18), end=time(9))
    with pytest.raises(ValueError, match="weekdays"):
        WorkingHours(weekdays=frozenset())


def test_working_hours_and_weekdays_are_configurable():
    # A six-day week, 08:30–17:30: Saturday is a working day unless the plan says otherwise.
    hours = WorkingHours(start=time(8, 30), end=time(17, 30), weekdays={0, 1, 2, 3, 4, 5})
    calendar = WorkCalendar(hours)
    assert calendar.add_working_time(sh(2026, 3, 13, 17, 30), HOUR) == sh(2026, 3, 14, 9, 30)
    # ...but a statutory holiday on a Saturday stays a day off: Sat Oct 3 is 国庆.
    assert not calendar.is_working_day(date(2026, 10, 3))


# -- the admin's holiday calendar -----------------------------------------------------------------


def test_an_override_can_make_a_weekday_a_holiday():
    calendar = WorkCalendar(overrides={date(2026, 3, 18): False})  # a Wednesday
    assert calendar.add_working_time(sh(2026, 3, 17, 17), 2 * HOUR) == sh(2026, 3, 19, 10)
    assert add_working_time(sh(2026, 3, 17, 17), 2 * HOUR) == sh(2026, 3, 18, 10)  # the default is untouched


def test_an_override_can_make_a_saturday_a_working_day():
    calendar = WorkCalendar(overrides={date(2026, 3, 21): True})
    assert calendar.add_working_time(sh(2026, 3, 20, 17), 2 * HOUR) == sh(2026, 3, 21, 10)


def test_an_override_wins_over_the_package():
    calendar = WorkCalendar(overrides={date(2026, 10, 10): False, date(2026, 10, 7): True})
    # Wed Oct 7 now works; Sat Oct 10 no longer does.
    assert calendar.add_working_time(sh(2026, 9, 30, 17), 2 * HOUR) == sh(2026, 10, 7, 10)
    assert calendar.add_working_time(sh(2026, 10, 9, 17), 2 * HOUR) == sh(2026, 10, 12, 10)


def test_the_calendar_keeps_its_own_copy_of_the_overrides():
    overrides = {date(2026, 3, 18): False}
    calendar = WorkCalendar(overrides=overrides)
    overrides[date(2026, 3, 18)] = True
    assert not calendar.is_working_day(date(2026, 3, 18))


# -- years nobody has entered ---------------------------------------------------------------------


def test_a_year_the_package_does_not_know_falls_back_to_weekdays_and_is_reported():
    assert DEFAULT_CALENDAR.unknown_years([2025, 2026, 2027]) == [2027]
    # Fri Feb 5 2027 17:00 + 8h: Monday 16:00, whatever 春节 2027 turns out to be.
    assert add_working_time(sh(2027, 2, 5, 17), 8 * HOUR) == sh(2027, 2, 8, 16)
    assert DEFAULT_CALENDAR.is_working_day(date(2027, 2, 8))
    assert not DEFAULT_CALENDAR.is_working_day(date(2027, 2, 6))


def test_a_deadline_reaching_into_an_unknown_year_says_so():
    start = sh(2026, 12, 31, 17)  # a Thursday
    due = add_working_time(start, 2 * HOUR)
    # Without the 2027 plan, New Year's Day (a Friday) counts as a working day.
    assert due == sh(2027, 1, 1, 10)
    assert DEFAULT_CALENDAR.unknown_years_between(start, due) == [2027]
    assert DEFAULT_CALENDAR.unknown_years_between(start, start) == []
    assert [f"{year}年法定节假日尚未录入" for year in DEFAULT_CALENDAR.unknown_years([2027])] == [
        "2027年法定节假日尚未录入"
    ]


def test_entering_the_year_in_the_admin_calendar_makes_it_known():
    calendar = WorkCalendar(overrides={date(2027, 1, 1): False})
    assert calendar.unknown_years([2026, 2027, 2028]) == [2028]
    assert calendar.add_working_time(sh(2026, 12, 31, 17), 2 * HOUR) == sh(2027, 1, 4, 10)


def test_entered_years_can_be_declared_explicitly():
    # A single company outing does not mean the admin has entered the whole statutory plan.
    calendar = WorkCalendar(overrides={date(2027, 5, 20): False}, entered_years=[])
    assert calendar.unknown_years([2027]) == [2027]


def test_the_package_knows_2004_to_2026():
    known = [year for year in range(2000, 2031) if DEFAULT_CALENDAR.is_year_known(year)]
    assert known == list(range(2004, 2027))


# -- misuse ---------------------------------------------------------------------------------------


def test_aware_datetimes_are_refused():
    aware = datetime(2026, 3, 16, 1, tzinfo=UTC)
    with pytest.raises(TypeError, match="naive UTC"):
        add_working_time(aware, HOUR)
    with pytest.raises(TypeError, match="naive UTC"):
        working_time_between(aware, aware)
    with pytest.raises(TypeError, match="naive UTC"):
        is_working_time(aware)


def test_negative_durations_are_refused():
    with pytest.raises(ValueError, match="negative"):
        add_working_time(sh(2026, 3, 16, 9), -HOUR)


def test_a_zero_duration_changes_nothing():
    assert add_working_time(sh(2026, 3, 14, 10), timedelta(0)) == sh(2026, 3, 14, 10)


# -- properties -----------------------------------------------------------------------------------

CALENDARS = {
    "default": DEFAULT_CALENDAR,
    # Lunch, a six-day week and overrides together: the laws must hold for any configuration.
    "lunch-six-days-overrides": WorkCalendar(
        WorkingHours(start=time(8, 30), end=time(17, 45), lunch=(time(11, 45), time(13, 15)), weekdays=range(6)),
        overrides={date(2026, 10, 8): False, date(2026, 11, 1): True, date(2027, 2, 10): False},
    ),
}

# Period boundaries are where off-by-one mistakes live, so draw them often.
_BOUNDARY_TIMES = [time(8, 30), time(9), time(11, 45), time(12), time(13), time(13, 15), time(17, 45), time(18)]

instants = st.one_of(
    st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 3, 1)),
    st.builds(
        lambda day, wall: datetime.combine(day, wall) - timedelta(hours=8),
        st.dates(min_value=date(2025, 12, 1), max_value=date(2027, 3, 1)),
        st.sampled_from(_BOUNDARY_TIMES),
    ),
)
durations = st.one_of(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)),
    st.integers(min_value=0, max_value=40 * 36).map(lambda quarters: quarters * timedelta(minutes=15)),
)
positive_durations = durations.filter(lambda duration: duration > timedelta(0))

calendars = pytest.mark.parametrize("calendar", CALENDARS.values(), ids=CALENDARS.keys())
laws = settings(deadline=None, max_examples=150)


@calendars
@laws
@given(first=instants, second=instants, duration=durations)
def test_a_later_start_is_never_due_earlier(calendar, first, second, duration):
    early, late = sorted((first, second))
    assert calendar.add_working_time(early, duration) <= calendar.add_working_time(late, duration)


@calendars
@laws
@given(start=instants, first=durations, second=durations)
def test_a_longer_duration_is_never_due_earlier(calendar, start, first, second):
    short, long = sorted((first, second))
    assert calendar.add_working_time(start, short) <= calendar.add_working_time(start, long)


@calendars
@laws
@given(start=instants, first=durations, second=durations)
def test_adding_in_two_steps_equals_adding_at_once(calendar, start, first, second):
    in_two_steps = calendar.add_working_time(calendar.add_working_time(start, first), second)
    assert in_two_steps == calendar.add_working_time(start, first + second)


@calendars
@laws
@given(start=instants, duration=durations)
def test_the_working_time_until_the_deadline_is_the_duration(calendar, start, duration):
    # Holds from any start, not only from a working moment: time before opening counts for nothing.
    assert calendar.working_time_between(start, calendar.add_working_time(start, duration)) == duration


@calendars
@laws
@given(start=instants, duration=positive_durations)
def test_a_deadline_falls_in_working_time_or_at_the_end_of_a_working_period(calendar, start, duration):
    due = calendar.add_working_time(start, duration)
    # The last microsecond before the deadline was worked: so the deadline is inside
    # a working period or exactly at its end (18:00, the start of lunch).
    assert calendar.is_working_time(due - timedelta(microseconds=1))
    assert due > start


@calendars
@laws
@given(a=instants, b=instants, c=instants)
def test_working_time_adds_up_over_consecutive_spans(calendar, a, b, c):
    a, b, c = sorted((a, b, c))
    between = calendar.working_time_between
    assert between(a, b) + between(b, c) == between(a, c)
    assert timedelta(0) <= between(a, c) <= c - a
