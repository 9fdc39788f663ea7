"""The working-time clock: how much working time lies between two instants, and when a span of it ends.

Working time is the company's working hours on working days in Asia/Shanghai.
A day is a working day by, in order of precedence:

1. the admin's holiday calendar (``overrides``: {date: is_working_day});
2. the ``chinese_calendar`` package, for the years it knows: a statutory holiday
   is a day off and an adjusted working day (调休, e.g. a working Saturday) is a
   working day, whatever the weekday;
3. the weekday, for every other day (plain weekends of known years, and every day
   of a year nobody has entered yet).

The State Council publishes next year's plan late in the year, so a year can be
missing from both sources for weeks. Such a year is still computed (as plain
weekdays) and ``WorkCalendar.unknown_years`` names it, so that the admin pages can
warn "2027年法定节假日尚未录入" until someone enters it.

The database stores naive UTC, so every public function takes and returns naive
UTC datetimes; local time is only used to find where working periods lie.
Working periods are half-open, [09:00, 18:00): 18:00 itself is not working time,
but a deadline may fall on it.

Pure Python, no Flask and no database: the models call it with plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")

# A calendar whose days are all off would make ``add_working_time`` search forever;
# ten years without a single working moment can only be a misconfiguration.
_MAX_DAYS_WITHOUT_WORK = 3660

_ZERO = timedelta(0)


@dataclass(frozen=True)
class WorkingHours:
    """When a working day's work happens, and which weekdays are working days by default.

    ``weekdays`` uses ``date.weekday()`` numbering (Monday is 0). The same hours
    apply to every working day, including an adjusted working Saturday (调休), which
    by law follows a normal weekday's schedule. ``lunch`` is an optional break
    (start, end) inside the day that does not count as working time.
    """

    start: time = time(9)
    end: time = time(18)
    weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))
    lunch: tuple[time, time] | None = None

    def __post_init__(self) -> None:
        # Accept any iterable of weekdays but keep the frozen value hashable.
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        if not self.start < self.end:
            raise ValueError(f"working hours must start before they end: {self.start}–{self.end}")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError(f"weekdays must be a non-empty subset of 0 (Monday) … 6 (Sunday): {sorted(self.weekdays)}")
        if self.lunch is not None:
            lunch_start, lunch_end = self.lunch
            if not self.start < lunch_start < lunch_end < self.end:
                raise ValueError(f"the lunch break {lunch_start}–{lunch_end} must lie inside {self.start}–{self.end}")

    @property
    def periods(self) -> tuple[tuple[time, time], ...]:
        """The day's working periods as (start, end) local times, in order."""
        if self.lunch is None:
            return ((self.start, self.end),)
        return ((self.start, self.lunch[0]), (self.lunch[1], self.end))


@cache
def _package_knows(year: int) -> bool:
    """Whether ``chinese_calendar`` has the statutory plan for ``year``."""
    try:
        chinese_calendar.get_holiday_detail(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


def statutory_days(year: int) -> list[tuple[date, bool, str]]:
    """The days the built-in statutory plan of ``year`` moves, in order: (day, is_working_day, holiday).

    Holidays are days off; the adjusted working days (调休) are working days. The
    holiday is the package's English name ("Spring Festival"); empty for a year it
    does not know.
    """
    if not _package_knows(year):
        return []
    days = [(day, False, name) for day, name in chinese_calendar.holidays.items() if day.year == year]
    days += [(day, True, name) for day, name in chinese_calendar.workdays.items() if day.year == year]
    return sorted(days)


class WorkCalendar:
    """Working time for one company: its working hours, the statutory calendar and the admin's overrides.

    ``overrides`` maps a date to whether it is a working day and wins over the
    package (the admin may add a company holiday, or enter next year's plan before
    the package knows it). ``entered_years`` names the years the admin's calendar
    fully describes; by default, every year that has at least one override.
    """

    def __init__(
        self,
        hours: WorkingHours | None = None,
        overrides: Mapping[date, bool] | None = None,
        tz: ZoneInfo = SHANGHAI,
        entered_years: Iterable[int] | None = None,
    ) -> None:
        self.hours = hours or WorkingHours()
        # A copy, so that a caller editing its dict later cannot change deadlines already promised.
        self.overrides: Mapping[date, bool] = MappingProxyType(dict(overrides or {}))
        self.tz = tz
        # The calendar never changes once built, so each day's periods are worked out once: a list
        # page's badges and a sweep over thousands of records ask about the same few hundred days.
        self._periods_by_day: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self.entered_years = frozenset(
            entered_years if entered_years is not None else {day.year for day in self.overrides}
        )

    def __repr__(self) -> str:
        return f"WorkCalendar(hours={self.hours!r}, overrides={len(self.overrides)} days, tz={self.tz.key!r})"

    # -- days ---------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` (a local date) is a working day."""
        if day in self.overrides:
            return self.overrides[day]
        if _package_knows(day.year):
            on_holiday, holiday_name = chinese_calendar.get_holiday_detail(day)
            # A name marks a day the statutory plan moves (holiday or 调休); an
            # unnamed day is an ordinary one, decided by the company's weekdays.
            if holiday_name is not None:
                return not on_holiday
        return day.weekday() in self.hours.weekdays

    def is_year_known(self, year: int) -> bool:
        """Whether the statutory holidays of ``year`` are known (from the package or the admin)."""
        return year in self.entered_years or _package_knows(year)

    def unknown_years(self, years: Iterable[int]) -> list[int]:
        """The years among ``years`` whose holidays nobody has entered, ascending.

        Days of these years are computed as plain weekdays; a page can warn with
        ``f"{year}年法定节假日尚未录入"`` for each.
        """
        return sorted({year for year in years if not self.is_year_known(year)})

    def unknown_years_between(self, a_utc: datetime, b_utc: datetime) -> list[int]:
        """The unknown years that the span from ``a_utc`` to ``b_utc`` touches (local years).

        Call it with a start and the deadline computed from it to learn whether
        that deadline rests on a fallback guess.
        """
        first, last = sorted((self._local_date(a_utc), self._local_date(b_utc)))
        return self.unknown_years(range(first.year, last.year + 1))

    # -- instants -----------------------------------------------------------

    def is_working_time(self, instant_utc: datetime) -> bool:
        """Whether ``instant_utc`` (naive UTC) lies inside a working period (start included, end excluded)."""
        _require_naive(instant_utc)
        return any(start <= instant_utc < end for start, end in self._periods_utc(self._local_date(instant_utc)))

    def add_working_time(self, start_utc: datetime, duration: timedelta) -> datetime:
        """The instant (naive UTC) at which ``duration`` of working time, counted from ``start_utc``, has elapsed.

        A start outside working hours counts from the next working moment. The
        result is the earliest such instant, so a span that uses up a day exactly
        ends at that day's closing time (18:00), not at the next morning's
        opening. A zero duration returns ``start_utc`` unchanged.
        """
        _require_naive(start_utc)
        if duration < _ZERO:
            raise ValueError(f"a working-time duration cannot be negative: {duration}")
        if duration == _ZERO:
            return start_utc
        remaining = duration
        days_without_work = 0
        # Whole days at a time: a 30-working-day deadline walks ~45 days, not 20 000 minutes.
        for day in self._days_from(self._local_date(start_utc)):
            periods = self._periods_utc(day)
            days_without_work = 0 if periods else days_without_work + 1
            if days_without_work > _MAX_DAYS_WITHOUT_WORK:
                raise ValueError(f"no working day in the {_MAX_DAYS_WITHOUT_WORK} days after {day}")
            for period_start, period_end in periods:
                if period_end <= start_utc:
                    continue
                begin = max(period_start, start_utc)
                available = period_end - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        raise AssertionError("unreachable: the day iterator is endless")  # pragma: no cover

    def working_time_between(self, a_utc: datetime, b_utc: datetime) -> timedelta:
        """The working time from ``a_utc`` to ``b_utc`` (naive UTC); zero if ``b_utc`` is not after ``a_utc``."""
        _require_naive(a_utc)
        _require_naive(b_utc)
        if b_utc <= a_utc:
            return _ZERO
        total = _ZERO
        day, last_day = self._local_date(a_utc), self._local_date(b_utc)
        while day <= last_day:
            for period_start, period_end in self._periods_utc(day):
                overlap = min(period_end, b_utc) - max(period_start, a_utc)
                if overlap > _ZERO:
                    total += overlap
            day += timedelta(days=1)
        return total

    # -- internals ----------------------------------------------------------

    def _local_date(self, instant_utc: datetime) -> date:
        return instant_utc.replace(tzinfo=UTC).astimezone(self.tz).date()

    def _periods_utc(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working periods of local ``day`` as naive UTC (start, end) pairs; empty on a day off."""
        periods = self._periods_by_day.get(day)
        if periods is None:
            if not self.is_working_day(day):
                periods = ()
            else:
                # Converting each boundary on its own stays right even in a zone with DST.
                periods = tuple((self._to_utc(day, start), self._to_utc(day, end)) for start, end in self.hours.periods)
            self._periods_by_day[day] = periods
        return periods

    def _to_utc(self, day: date, local_time: time) -> datetime:
        return datetime.combine(day, local_time, tzinfo=self.tz).astimezone(UTC).replace(tzinfo=None)

    @staticmethod
    def _days_from(day: date) -> Iterator[date]:
        while True:
            yield day
            day += timedelta(days=1)


def _require_naive(instant: datetime) -> None:
    # An aware value here means a caller skipped the naive-UTC convention; comparing
    # it with our naive period bounds would fail later and less clearly.
    if instant.tzinfo is not None:
        raise TypeError(f"expected a naive UTC datetime, got an aware one: {instant.isoformat()}")


DEFAULT_CALENDAR = WorkCalendar()
"""09:00–18:00 Monday–Friday in Asia/Shanghai with the package's statutory holidays, no overrides."""


def add_working_time(start_utc: datetime, duration: timedelta) -> datetime:
    """``DEFAULT_CALENDAR.add_working_time``: the deadline ``duration`` of working time after ``start_utc``."""
    return DEFAULT_CALENDAR.add_working_time(start_utc, duration)


def working_time_between(a_utc: datetime, b_utc: datetime) -> timedelta:
    """``DEFAULT_CALENDAR.working_time_between``: the working time from ``a_utc`` to ``b_utc``."""
    return DEFAULT_CALENDAR.working_time_between(a_utc, b_utc)


def is_working_time(instant_utc: datetime) -> bool:
    """``DEFAULT_CALENDAR.is_working_time``: whether ``instant_utc`` lies inside working hours."""
    return DEFAULT_CALENDAR.is_working_time(instant_utc)
