""".NET-compatible timestamps: parsing, standard and custom format strings, ticks, time zones.

A timestamp is kept as .NET keeps a DateTime: 100-nanosecond ticks since 0001-01-01 and a kind
(UTC or unspecified), so the seventh fraction digit and the 'Z' of the "o" format survive.
Format strings follow
https://learn.microsoft.com/dotnet/standard/base-types/standard-date-and-time-format-strings and
https://learn.microsoft.com/dotnet/standard/base-types/custom-date-and-time-format-strings
"""
from __future__ import annotations

import calendar
import re
from functools import lru_cache
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

from orderbridge.wdl._functions._common import describe, fail
from orderbridge.wdl._functions._locales import DEFAULT, INVARIANT, Culture

TICKS_PER_SECOND = 10_000_000
TICKS_PER_MICROSECOND = 10
_EPOCH = datetime(1, 1, 1)
_MAX_TICKS = (datetime(9999, 12, 31, 23, 59, 59, 999999) - _EPOCH) // timedelta(microseconds=1) * 10 + 9

ROUND_TRIP = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK"
_INVARIANT_PATTERNS = {
    "o": ROUND_TRIP,
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
}


@dataclass(frozen=True)
class Stamp:
    """A .NET DateTime: ticks since 0001-01-01T00:00:00 and whether it is UTC."""

    ticks: int
    utc: bool

    @classmethod
    def from_datetime(cls, moment: datetime, utc: bool, extra_ticks: int = 0) -> Stamp:
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        return cls((moment - _EPOCH) // timedelta(microseconds=1) * TICKS_PER_MICROSECOND + extra_ticks, utc)

    def to_datetime(self) -> datetime:
        """The naive datetime (microsecond precision) this stamp's wall clock shows."""
        return _EPOCH + timedelta(microseconds=self.ticks // TICKS_PER_MICROSECOND)

    @property
    def sub_microsecond(self) -> int:
        return self.ticks % TICKS_PER_MICROSECOND


def checked(function: str, stamp: Stamp) -> Stamp:
    """Keep results within .NET DateTime's range (years 1 to 9999)."""
    if not 0 <= stamp.ticks <= _MAX_TICKS:
        fail(function, "would produce a timestamp outside the years 1 to 9999",
             "Use a smaller interval.")
    return stamp


def add_ticks(function: str, stamp: Stamp, ticks: int) -> Stamp:
    return checked(function, replace(stamp, ticks=stamp.ticks + ticks))


def add_months(function: str, stamp: Stamp, months: int) -> Stamp:
    """Like DateTime.AddMonths: the day is clipped to the length of the target month."""
    moment = stamp.to_datetime()
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        fail(function, "would produce a timestamp outside the years 1 to 9999", "Use a smaller interval.")
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return Stamp.from_datetime(moment.replace(year=year, month=month + 1, day=day), stamp.utc,
                               stamp.sub_microsecond)


# ---- formatting -------------------------------------------------------------------------------

_TOKEN = re.compile(r"""('[^']*'?|"[^"]*"?|\\.?|%|([dfFghHKmMstyz])\2*|.)""", re.DOTALL)


def _tokens(pattern: str) -> Iterator[str]:
    return (match[0] for match in _TOKEN.finditer(pattern))


def format_stamp(function: str, stamp: Stamp, pattern: str | None, culture: Culture = DEFAULT) -> str:
    """Format with a standard specifier ("o", "D"…) or a custom pattern ("yyyy-MM-dd")."""
    pattern = pattern or "o"
    if len(pattern) == 1:
        pattern, culture = _standard_pattern(function, pattern, culture)
    parts: list[str] = []
    for token in _tokens(pattern):
        if token == "%":
            continue
        parts.append(_format_token(token, stamp, culture, parts))
    return "".join(parts)


def _standard_pattern(function: str, specifier: str, culture: Culture) -> tuple[str, Culture]:
    found = _standard_or_none(specifier, culture)
    if found is None:
        fail(function, f"got the format {specifier!r}, which is not a .NET standard date and time "
                       "format specifier", "Use one of d D f F g G M o r s t T u U y, or a custom "
                                           "pattern such as 'yyyy-MM-dd'.")
    return found


def _standard_or_none(specifier: str, culture: Culture) -> tuple[str, Culture] | None:
    if specifier.lower() in ("o", "r") or specifier in ("s", "u"):
        return _INVARIANT_PATTERNS[specifier.lower()], INVARIANT
    patterns = {
        "d": culture.short_date, "D": culture.long_date,
        "f": f"{culture.long_date} {culture.short_time}", "F": f"{culture.long_date} {culture.long_time}",
        "g": f"{culture.short_date} {culture.short_time}", "G": f"{culture.short_date} {culture.long_time}",
        "m": culture.month_day, "M": culture.month_day, "t": culture.short_time, "T": culture.long_time,
        "U": f"{culture.long_date} {culture.long_time}", "y": culture.year_month, "Y": culture.year_month,
    }
    return (patterns[specifier], culture) if specifier in patterns else None


def _format_token(token: str, stamp: Stamp, culture: Culture, done: list[str]) -> str:
    moment = stamp.to_datetime()
    letter, size = token[0], len(token)
    fraction = f"{stamp.ticks % TICKS_PER_SECOND:07d}"
    match letter:
        case "'" | '"':
            return token[1:-1] if len(token) > 1 and token[-1] == letter else token[1:]
        case "\\":
            return token[1:]
        case "d":
            if size <= 2:
                return f"{moment.day:0{size}d}"
            day = (moment.weekday() + 1) % 7
            return culture.abbreviated_day(day) if size == 3 else culture.days[day]
        case "f":
            return fraction[:min(size, 7)]
        case "F":
            digits = fraction[:min(size, 7)].rstrip("0")
            if not digits and done and done[-1].endswith("."):
                done[-1] = done[-1][:-1]  # .NET drops the separator before an empty 'F' fraction.
            return digits
        case "g":
            return "A.D."
        case "h":
            return f"{(moment.hour % 12 or 12):0{min(size, 2)}d}"
        case "H":
            return f"{moment.hour:0{min(size, 2)}d}"
        case "K":
            return "Z" if stamp.utc else ""
        case "m":
            return f"{moment.minute:0{min(size, 2)}d}"
        case "M":
            if size <= 2:
                return f"{moment.month:0{size}d}"
            month = moment.month - 1
            return culture.abbreviated_month(month) if size == 3 else culture.months[month]
        case "s":
            return f"{moment.second:0{min(size, 2)}d}"
        case "t":
            designator = culture.am if moment.hour < 12 else culture.pm
            return designator[:1] if size == 1 else designator
        case "y":
            return f"{moment.year % 100:0{size}d}" if size <= 2 else f"{moment.year:0{size}d}"
        case "z":
            # DateTime values here are UTC or unspecified; the Logic Apps hosts run on UTC.
            return {1: "+0", 2: "+00"}.get(size, "+00:00")
        case ":":
            return culture.time_separator
        case "/":
            return culture.date_separator
    return token


# ---- parsing ----------------------------------------------------------------------------------

_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<M>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[T ](?P<H>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?)?"
    r"\s*(?P<zone>Z|[+-]\d{2}:?\d{2})?", re.IGNORECASE)
# Patterns .NET's DateTime.Parse also accepts in every culture, tried after the culture's own.
_GENERIC_PATTERNS = (
    "dddd d MMMM yyyy", "d MMMM yyyy", "dddd, MMMM d, yyyy", "MMMM d, yyyy", "MMMM d yyyy",
    "d MMM yyyy", "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'", "yyyy'/'M'/'d", "yyyy'/'M'/'d H':'mm':'ss",
)


def parse_stamp(function: str, text: str, culture: Culture = DEFAULT, pattern: str | None = None) -> Stamp:
    """Read a timestamp: with `pattern` exactly (ParseExact), otherwise ISO 8601 or the culture's
    usual forms (DateTime.Parse)."""
    stamp = _parse_exact(text, pattern, culture) if pattern else _parse_any(text, culture)
    if stamp is None:
        expected = f"the format {pattern!r}" if pattern else "ISO 8601 such as '2018-03-15T13:00:00Z'"
        fail(function, f"cannot read {describe(text)} as a timestamp",
             f"Write it in {expected} (locale '{culture.name or 'invariant'}').")
    return stamp


def _parse_any(text: str, culture: Culture) -> Stamp | None:
    iso = _ISO.fullmatch(text.strip())
    if iso:
        return _build(iso.groupdict(), culture)
    for candidate in _culture_patterns(culture):
        stamp = _parse_exact(text, candidate, culture)
        if stamp is not None:
            return stamp
    return None


def _culture_patterns(culture: Culture) -> Iterator[str]:
    date_forms = (culture.short_date, culture.long_date)
    time_forms = (culture.long_time, culture.short_time, "H:mm:ss", "H:mm")
    for date_form in date_forms:
        yield date_form
        for time_form in time_forms:
            yield f"{date_form} {time_form}"
    yield from _GENERIC_PATTERNS


def _parse_exact(text: str, pattern: str, culture: Culture) -> Stamp | None:
    if len(pattern) == 1:
        standard = _standard_or_none(pattern, culture)
        if standard is None:
            return None
        pattern, culture = standard
    regex = _pattern_regex(pattern, culture)
    match = regex.fullmatch(text.strip()) if regex else None
    if not match:
        return None
    fields = {key: value for key, value in match.groupdict().items() if value is not None}
    if "GMT" in pattern:
        fields["zone"] = "Z"
    return _build(fields, culture)


@lru_cache(maxsize=256)
def _pattern_regex(pattern: str, culture: Culture) -> re.Pattern | None:
    """The regex reading `pattern`; None when the pattern names a field twice (.NET rejects it)."""
    try:
        return re.compile("".join(_parse_token(token, culture) for token in _tokens(pattern) if token != "%"),
                          re.IGNORECASE)
    except re.error:
        return None


def _parse_token(token: str, culture: Culture) -> str:
    letter, size = token[0], len(token)
    match letter:
        case "'" | '"':
            return re.escape(token[1:-1] if len(token) > 1 and token[-1] == letter else token[1:])
        case "\\":
            return re.escape(token[1:])
        case "d":
            if size <= 2:
                return rf"(?P<d>\d{{{size},2}})"
            days = [culture.abbreviated_day(i) for i in range(7)] if size == 3 else culture.days
            return f"(?:{_alternatives(days)})"
        case "M":
            if size <= 2:
                return rf"(?P<M>\d{{{size},2}})"
            months = [culture.abbreviated_month(i) for i in range(12)] if size == 3 else culture.months
            return f"(?P<{'Mabbr' if size == 3 else 'Mname'}>{_alternatives(months)})"
        case "y":
            return r"(?P<y>\d{4})" if size >= 3 else rf"(?P<yy>\d{{{size},2}})"
        case "H" | "h" | "m" | "s":
            group = {"H": "H", "h": "h", "m": "m", "s": "s"}[letter]
            return rf"(?P<{group}>\d{{{min(size, 2)},2}})"
        case "f" | "F":
            return rf"(?P<f>\d{{{size if letter == 'f' else 0},{size}}})"
        case "t":
            return f"(?P<t>{re.escape(culture.am)}|{re.escape(culture.pm)})" if culture.am else ""
        case "K" | "z":
            return r"(?P<zone>Z|[+-]\d{1,2}(?::?\d{2})?)?"
        case ":":
            return re.escape(culture.time_separator)
        case "/":
            return re.escape(culture.date_separator)
        case " ":
            return r"\s+"
        case ",":
            return r",?"
    return re.escape(token)


def _alternatives(names: Iterable[str]) -> str:
    """A regex matching any of the names, longest first, with an optional trailing period."""
    return "|".join(re.escape(name.rstrip(".")) + r"\.?" for name in sorted(names, key=len, reverse=True))


def _build(fields: dict, culture: Culture) -> Stamp | None:
    year = int(fields["y"]) if fields.get("y") else _two_digit_year(fields.get("yy"))
    month = _month(fields, culture)
    hour = int(fields.get("H") or 0)
    if fields.get("h"):
        hour = int(fields["h"]) % 12 + (12 if (fields.get("t") or "").lower() == culture.pm.lower() else 0)
    digits = (fields.get("f") or "")[:7].ljust(7, "0")
    try:
        moment = datetime(year, month, int(fields.get("d") or 1), hour, int(fields.get("m") or 0),
                          int(fields.get("s") or 0), int(digits[:6]))
    except ValueError:
        return None
    zone = fields.get("zone")
    if zone:
        moment -= _offset(zone)
    return Stamp.from_datetime(moment, utc=bool(zone), extra_ticks=int(digits[6]))


def _two_digit_year(text: str | None) -> int:
    """.NET's TwoDigitYearMax is 2049: '49' is 2049, '50' is 1950."""
    if text is None:
        return 1
    value = int(text)
    return 2000 + value if value <= 49 else 1900 + value


def _month(fields: dict, culture: Culture) -> int:
    if fields.get("M"):
        return int(fields["M"])
    for key, names in (("Mname", culture.months),
                       ("Mabbr", tuple(culture.abbreviated_month(i) for i in range(12)))):
        if fields.get(key):
            wanted = fields[key].rstrip(".").lower()
            return next(i + 1 for i, name in enumerate(names) if name.rstrip(".").lower() == wanted)
    return 1


def _offset(zone: str) -> timedelta:
    if zone.upper() == "Z":
        return timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:-2] or digits), int(digits[-2:]) if len(digits) > 2 else 0
    return sign * timedelta(hours=hours, minutes=minutes)


# ---- time zones and time spans ----------------------------------------------------------------

_WINDOWS_ZONES = {name.lower(): iana for name, iana in win_tz.items()}


def zone(function: str, windows_id: str) -> ZoneInfo:
    """The IANA zone for a Windows time zone id such as 'Pacific Standard Time'."""
    iana = _WINDOWS_ZONES.get(windows_id.strip().lower())
    if iana is None:
        fail(function, f"does not know the time zone {windows_id!r}",
             "Use a Windows time zone id such as 'UTC', 'Pacific Standard Time' or "
             "'W. Europe Standard Time' (https://learn.microsoft.com/windows-hardware/manufacture/"
             "desktop/default-time-zones).")
    try:
        return ZoneInfo(iana)
    except ZoneInfoNotFoundError:
        fail(function, f"maps {windows_id!r} to {iana!r}, which this machine's tz database lacks",
             "Install the tzdata package.")


def convert_zone(stamp: Stamp, source: ZoneInfo, target: ZoneInfo) -> datetime:
    """Read the stamp's wall clock in `source` and show it in `target` (naive result)."""
    moment = stamp.to_datetime().replace(tzinfo=source)
    return moment.astimezone(target).replace(tzinfo=None)


def format_timespan(ticks: int) -> str:
    """.NET TimeSpan.ToString(): [-][d.]hh:mm:ss[.fffffff]."""
    sign = "-" if ticks < 0 else ""
    seconds, fraction = divmod(abs(ticks), TICKS_PER_SECOND)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    text = f"{sign}{f'{days}.' if days else ''}{hour:02d}:{minute:02d}:{second:02d}"
    return text + (f".{fraction:07d}" if fraction else "")
