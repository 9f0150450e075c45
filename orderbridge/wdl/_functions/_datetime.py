"""Date and time functions. Results are strings in the "o" format unless a format is passed;
input timestamps are read like .NET DateTime.Parse in en-US (ISO 8601 is the safe choice)."""
from __future__ import annotations

from typing import Any, Callable

from orderbridge.wdl._functions import _locales
from orderbridge.wdl._functions._common import expect_integer, expect_string, fail
from orderbridge.wdl._functions._spec import FunctionEnvironment, FunctionSpec
from orderbridge.wdl._functions._timestamps import (
    TICKS_PER_SECOND,
    Stamp,
    add_months,
    add_ticks,
    convert_zone,
    format_stamp,
    format_timespan,
    parse_stamp,
    zone,
)

_UNIT_TICKS = {"second": TICKS_PER_SECOND, "minute": 60 * TICKS_PER_SECOND,
               "hour": 3600 * TICKS_PER_SECOND, "day": 86400 * TICKS_PER_SECOND,
               "week": 7 * 86400 * TICKS_PER_SECOND}
_UNIT_MONTHS = {"month": 1, "year": 12}


def _read(function: str, value: Any) -> Stamp:
    return parse_stamp(function, expect_string(function, 1, value))


def _write(function: str, stamp: Stamp, format_: Any, position: int) -> str:
    pattern = None if format_ is None else expect_string(function, position, format_)
    return format_stamp(function, stamp, pattern)


def _shift(function: str, stamp: Stamp, interval: int, unit: Any, position: int) -> Stamp:
    """Move a stamp by `interval` units: Second, Minute, Hour, Day, Week, Month or Year."""
    name = expect_string(function, position, unit).strip().lower()
    if name in _UNIT_TICKS:
        return add_ticks(function, stamp, interval * _UNIT_TICKS[name])
    if name in _UNIT_MONTHS:
        return add_months(function, stamp, interval * _UNIT_MONTHS[name])
    fail(function, f"got the time unit {unit!r}",
         "Use 'Second', 'Minute', 'Hour', 'Day', 'Week', 'Month' or 'Year'.")


def _add_unit(name: str, unit: str) -> FunctionSpec:
    """addDays/addHours/addMinutes/addSeconds(timestamp, amount, format?)."""
    def impl(timestamp: Any, amount: Any, format_: Any = None) -> str:
        stamp = _shift(name, _read(name, timestamp), expect_integer(name, 2, amount), unit, 2)
        return _write(name, stamp, format_, 3)

    impl.__name__ = name
    return FunctionSpec(name, impl, 2, 3)


def _move_timestamp(name: str, sign: int) -> FunctionSpec:
    """addToTime/subtractFromTime(timestamp, interval, timeUnit, format?)."""
    def impl(timestamp: Any, interval: Any, unit: Any, format_: Any = None) -> str:
        stamp = _shift(name, _read(name, timestamp), sign * expect_integer(name, 2, interval), unit, 3)
        return _write(name, stamp, format_, 4)

    impl.__name__ = name
    return FunctionSpec(name, impl, 3, 4)


def _now(env: FunctionEnvironment) -> Stamp:
    return Stamp.from_datetime(env.now(), utc=True)


def utc_now(env: FunctionEnvironment, format_: Any = None) -> str:
    return _write("utcNow", _now(env), format_, 1)


def _move_now(name: str, sign: int) -> FunctionSpec:
    """getFutureTime/getPastTime(interval, timeUnit, format?) from the run's clock."""
    def impl(env: FunctionEnvironment, interval: Any, unit: Any, format_: Any = None) -> str:
        stamp = _shift(name, _now(env), sign * expect_integer(name, 1, interval), unit, 2)
        return _write(name, stamp, format_, 3)

    impl.__name__ = name
    return FunctionSpec(name, impl, 2, 3, needs_env=True)


def format_date_time(timestamp: Any, format_: Any = None, locale: Any = None) -> str:
    """The input is read in en-US; the output uses `locale` for names and standard patterns."""
    stamp = _read("formatDateTime", timestamp)
    culture = _locales.culture("formatDateTime",
                               None if locale is None else expect_string("formatDateTime", 3, locale))
    pattern = None if format_ is None else expect_string("formatDateTime", 2, format_)
    return format_stamp("formatDateTime", stamp, pattern, culture)


def parse_date_time(timestamp: Any, locale: Any = None, format_: Any = None) -> str:
    """Read a timestamp written in `locale`, exactly in `format_` when one is given."""
    text = expect_string("parseDateTime", 1, timestamp)
    culture = _locales.culture("parseDateTime",
                               None if locale is None else expect_string("parseDateTime", 2, locale))
    pattern = None if format_ is None else expect_string("parseDateTime", 3, format_)
    return format_stamp("parseDateTime", parse_stamp("parseDateTime", text, culture, pattern), None)


def _start_of(name: str, unit_ticks: int | None) -> FunctionSpec:
    """startOfDay/startOfHour (unit_ticks) and startOfMonth (None)."""
    def impl(timestamp: Any, format_: Any = None) -> str:
        stamp = _read(name, timestamp)
        if unit_ticks is None:
            day_ticks = _UNIT_TICKS["day"]
            day_of_month = stamp.to_datetime().day
            start = Stamp(stamp.ticks - stamp.ticks % day_ticks - (day_of_month - 1) * day_ticks, stamp.utc)
        else:
            start = Stamp(stamp.ticks - stamp.ticks % unit_ticks, stamp.utc)
        return _write(name, start, format_, 2)

    impl.__name__ = name
    return FunctionSpec(name, impl, 1, 2)


def _component(name: str, read: Callable[[Stamp], int]) -> FunctionSpec:
    """dayOfMonth/dayOfWeek/dayOfYear/ticks(timestamp) -> integer."""
    def impl(timestamp: Any) -> int:
        return read(_read(name, timestamp))

    impl.__name__ = name
    return FunctionSpec(name, impl, 1, 1)


def date_difference(start_date: Any, end_date: Any) -> str:
    """endDate minus startDate as a .NET TimeSpan string such as '1268.00:00:00'."""
    start = _read("dateDifference", start_date)
    end = parse_stamp("dateDifference", expect_string("dateDifference", 2, end_date))
    return format_timespan(end.ticks - start.ticks)


def _convert(function: str, timestamp: Any, source: Any, target: Any, format_: Any,
             position: int) -> str:
    """Read the wall clock in `source`, show it in `target`; only a UTC result keeps its 'Z'."""
    stamp = _read(function, timestamp)
    target_zone = zone(function, target)
    moment = convert_zone(stamp, zone(function, source), target_zone)
    utc = target_zone.key == "Etc/UTC"
    return _write(function, Stamp.from_datetime(moment, utc, stamp.sub_microsecond), format_, position)


def convert_time_zone(timestamp: Any, source: Any, target: Any, format_: Any = None) -> str:
    """The result has no offset: it is the wall clock in the target zone, as documented."""
    return _convert("convertTimeZone", timestamp, expect_string("convertTimeZone", 2, source),
                    expect_string("convertTimeZone", 3, target), format_, 4)


def convert_from_utc(timestamp: Any, target: Any, format_: Any = None) -> str:
    return _convert("convertFromUtc", timestamp, "UTC", expect_string("convertFromUtc", 2, target),
                    format_, 3)


def convert_to_utc(timestamp: Any, source: Any, format_: Any = None) -> str:
    return _convert("convertToUtc", timestamp, expect_string("convertToUtc", 2, source), "UTC",
                    format_, 3)


FUNCTIONS = (
    _add_unit("addDays", "day"),
    _add_unit("addHours", "hour"),
    _add_unit("addMinutes", "minute"),
    _add_unit("addSeconds", "second"),
    _move_timestamp("addToTime", 1),
    _move_timestamp("subtractFromTime", -1),
    FunctionSpec("utcNow", utc_now, 0, 1, needs_env=True),
    _move_now("getFutureTime", 1),
    _move_now("getPastTime", -1),
    FunctionSpec("formatDateTime", format_date_time, 1, 3),
    FunctionSpec("parseDateTime", parse_date_time, 1, 3),
    _start_of("startOfDay", _UNIT_TICKS["day"]),
    _start_of("startOfHour", _UNIT_TICKS["hour"]),
    _start_of("startOfMonth", None),
    _component("dayOfMonth", lambda stamp: stamp.to_datetime().day),
    _component("dayOfWeek", lambda stamp: (stamp.to_datetime().weekday() + 1) % 7),  # Sunday is 0
    _component("dayOfYear", lambda stamp: stamp.to_datetime().timetuple().tm_yday),
    _component("ticks", lambda stamp: stamp.ticks),
    FunctionSpec("dateDifference", date_difference, 2, 2),
    FunctionSpec("convertTimeZone", convert_time_zone, 3, 4),
    FunctionSpec("convertFromUtc", convert_from_utc, 2, 3),
    FunctionSpec("convertToUtc", convert_to_utc, 2, 3),
)
