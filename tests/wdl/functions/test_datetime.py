"""Date and time functions, checked against every example in Microsoft's reference."""
from datetime import datetime, timezone

import pytest

from orderbridge.wdl._errors import FunctionArgumentError
from tests.wdl.functions._expressions import assert_same, evaluate

DOCUMENTED = [
    ("addDays('2018-03-15T00:00:00Z', 10)", "2018-03-25T00:00:00.0000000Z"),
    ("addDays('2018-03-15T00:00:00Z', -5)", "2018-03-10T00:00:00.0000000Z"),
    ("addHours('2018-03-15T00:00:00Z', 10)", "2018-03-15T10:00:00.0000000Z"),
    ("addHours('2018-03-15T15:00:00Z', -5)", "2018-03-15T10:00:00.0000000Z"),
    ("addMinutes('2018-03-15T00:10:00Z', 10)", "2018-03-15T00:20:00.0000000Z"),
    ("addMinutes('2018-03-15T00:20:00Z', -5)", "2018-03-15T00:15:00.0000000Z"),
    ("addSeconds('2018-03-15T00:00:00Z', 10)", "2018-03-15T00:00:10.0000000Z"),
    ("addSeconds('2018-03-15T00:00:30Z', -5)", "2018-03-15T00:00:25.0000000Z"),
    ("addToTime('2018-01-01T00:00:00Z', 1, 'Day')", "2018-01-02T00:00:00.0000000Z"),
    ("addToTime('2018-01-01T00:00:00Z', 1, 'Day', 'D')", "Tuesday, January 2, 2018"),
    ("convertFromUtc('2018-01-01T08:00:00.0000000Z', 'Pacific Standard Time')",
     "2018-01-01T00:00:00.0000000"),
    ("convertFromUtc('2018-01-01T08:00:00.0000000Z', 'Pacific Standard Time', 'D')",
     "Monday, January 1, 2018"),
    ("convertTimeZone('2018-01-01T08:00:00.0000000Z', 'UTC', 'Pacific Standard Time')",
     "2018-01-01T00:00:00.0000000"),
    ("convertToUtc('01/01/2018 00:00:00', 'Pacific Standard Time')", "2018-01-01T08:00:00.0000000Z"),
    ("convertToUtc('01/01/2018 00:00:00', 'Pacific Standard Time', 'D')", "Monday, January 1, 2018"),
    ("dateDifference('2015-02-08', '2018-07-30')", "1268.00:00:00"),
    ("dayOfMonth('2018-03-15T13:27:36Z')", 15),
    ("dayOfWeek('2018-03-15T13:27:36Z')", 4),
    ("dayOfYear('2018-03-15T13:27:36Z')", 74),
    ("formatDateTime('03/15/2018')", "2018-03-15T00:00:00.0000000"),
    ("formatDateTime('03/15/2018 12:00:00', 'yyyy-MM-ddTHH:mm:ss')", "2018-03-15T12:00:00"),
    ("formatDateTime('01/31/2016', 'dddd MMMM d')", "Sunday January 31"),
    ("formatDateTime('01/31/2016', 'dddd MMMM d', 'fr-fr')", "dimanche janvier 31"),
    ("formatDateTime('01/31/2016', 'dddd MMMM d', 'fr-FR')", "dimanche janvier 31"),
    ("formatDateTime('01/31/2016', 'dddd MMMM d', 'es-es')", "domingo enero 31"),
    ("parseDateTime('20/10/2014', 'fr-fr')", "2014-10-20T00:00:00.0000000"),
    ("parseDateTime('20 octobre 2010', 'fr-FR')", "2010-10-20T00:00:00.0000000"),
    ("parseDateTime('martes 20 octubre 2020', 'es-es')", "2020-10-20T00:00:00.0000000"),
    ("parseDateTime('21052019', 'fr-fr', 'ddMMyyyy')", "2019-05-21T00:00:00.0000000"),
    ("parseDateTime('20190521', 'fr-fr', 'yyyyMMdd')", "2019-05-21T00:00:00.0000000"),
    ("parseDateTime('10/20/2014 15h', 'en-US', 'MM/dd/yyyy HH\\h')", "2014-10-20T15:00:00.0000000"),
    ("startOfDay('2018-03-15T13:30:30Z')", "2018-03-15T00:00:00.0000000Z"),
    ("startOfHour('2018-03-15T13:30:30Z')", "2018-03-15T13:00:00.0000000Z"),
    ("startOfMonth('2018-03-15T13:30:30Z')", "2018-03-01T00:00:00.0000000Z"),
    ("startOfMonth('2018-03-15T13:30:30Z', 'yyyy-MM-dd')", "2018-03-01"),
    ("subtractFromTime('2018-01-02T00:00:00Z', 1, 'Day')", "2018-01-01T00:00:00.0000000Z"),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_documented_example(expression, expected):
    assert_same(evaluate(expression), expected, expression)


def test_documented_subtract_from_time_in_d_format():
    """The docs print "Monday, January, 1, 2018"; the en-US "D" pattern (dddd, MMMM d, yyyy) has
    no comma after the month, as their addToTime and convertToUtc examples show."""
    assert evaluate("subtractFromTime('2018-01-02T00:00:00Z', 1, 'Day', 'D')") == "Monday, January 1, 2018"


def test_documented_convert_time_zone_with_format():
    """The docs' input has hour 80 ('2018-01-01T80:00:00.0000000Z'), a typo that no parser
    accepts; with hour 08 the documented result comes out."""
    with pytest.raises(FunctionArgumentError, match="cannot read"):
        evaluate("convertTimeZone('2018-01-01T80:00:00.0000000Z', 'UTC', 'Pacific Standard Time', 'D')")
    assert evaluate("convertTimeZone('2018-01-01T08:00:00.0000000Z', 'UTC', 'Pacific Standard Time', 'D')") \
        == "Monday, January 1, 2018"


class Clock:
    """A fixed environment: the clock reads `moment`."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment

    def new_guid(self) -> str:
        raise AssertionError("date functions must not make GUIDs")


MARCH_1 = Clock(datetime(2018, 3, 1, tzinfo=timezone.utc))
FEBRUARY_1 = Clock(datetime(2018, 2, 1, tzinfo=timezone.utc))
# The docs' utcNow() examples show 2025-09-25T05:18:31.3384797Z; Python clocks stop at
# microseconds, so the seventh digit of the fraction is 0 here.
DOC_NOW = Clock(datetime(2025, 9, 25, 5, 18, 31, 338479, tzinfo=timezone.utc))


@pytest.mark.parametrize(("clock", "expression", "expected"), [
    (MARCH_1, "getFutureTime(5, 'Day')", "2018-03-06T00:00:00.0000000Z"),
    (MARCH_1, "getFutureTime(5, 'Day', 'D')", "Tuesday, March 6, 2018"),
    (FEBRUARY_1, "getPastTime(5, 'Day')", "2018-01-27T00:00:00.0000000Z"),
    (FEBRUARY_1, "getPastTime(5, 'Day', 'D')", "Saturday, January 27, 2018"),
    (DOC_NOW, "utcNow()", "2025-09-25T05:18:31.3384790Z"),
    (DOC_NOW, "utcNow('u')", "2025-09-25 05:18:31Z"),
    (DOC_NOW, "utcNow('U')", "Thursday, September 25, 2025 5:18:31 AM"),
    (DOC_NOW, "utcNow('d')", "9/25/2025"),
    (DOC_NOW, "utcNow('D')", "Thursday, September 25, 2025"),
    (DOC_NOW, "utcNow('t')", "5:18 AM"),
    (DOC_NOW, "utcNow('T')", "5:18:31 AM"),
    (DOC_NOW, "utcNow('y')", "September 2025"),
    (DOC_NOW, "utcNow('yyyy')", "2025"),
    (DOC_NOW, "utcNow('ddd, d MMM yyyy')", "Thu, 25 Sep 2025"),
])
def test_documented_clock_example(clock, expression, expected):
    assert evaluate(expression, clock) == expected


@pytest.mark.parametrize(("specifier", "expected"), [
    ("o", "2025-09-25T05:18:31.3384790Z"),
    ("O", "2025-09-25T05:18:31.3384790Z"),
    ("r", "Thu, 25 Sep 2025 05:18:31 GMT"),
    ("R", "Thu, 25 Sep 2025 05:18:31 GMT"),
    ("s", "2025-09-25T05:18:31"),
    ("f", "Thursday, September 25, 2025 5:18 AM"),
    ("F", "Thursday, September 25, 2025 5:18:31 AM"),
    ("g", "9/25/2025 5:18 AM"),
    ("G", "9/25/2025 5:18:31 AM"),
    ("m", "September 25"),
    ("M", "September 25"),
    ("Y", "September 2025"),
])
def test_remaining_standard_format_specifiers(specifier, expected):
    assert evaluate(f"utcNow('{specifier}')", DOC_NOW) == expected


@pytest.mark.parametrize(("pattern", "expected"), [
    ("yyyy-MM-dd HH:mm:ss.fff", "2018-03-15 13:05:09.123"),
    ("yy M d H m s", "18 3 15 13 5 9"),
    ("hh:mm tt", "01:05 PM"),
    ("h t", "1 P"),
    ("fffffff FFFFFFF", "1234567 1234567"),
    ("ss.FFF", "09.123"),
    ("MMM MMMM ddd dddd", "Mar March Thu Thursday"),
    ("'Date:' yyyy \"at\" HH\\h", "Date: 2018 at 13h"),
    ("%d", "15"),
    ("K zzz zz z", "Z +00:00 +00 +0"),
    ("gg yyyyy", "A.D. 02018"),
])
def test_custom_format_patterns(pattern, expected):
    literal = pattern.replace("'", "''")  # a quote inside an expression string is doubled
    assert evaluate(f"formatDateTime('2018-03-15T13:05:09.1234567Z', '{literal}')") == expected


@pytest.mark.parametrize(("expression", "expected"), [
    ("ticks('2000-01-01T00:00:00Z')", 630822816000000000),            # DateTime(2000,1,1).Ticks
    # The ticks of 2022-09-09 10:00 UTC as published in
    # https://barretblake.com/posts/development/2022/function-friday-date-and-time-wrap-up-timezones-and-ticks
    ("ticks('2022-09-09T10:00:00Z')", 637983144000000000),
    ("ticks('2018-03-15T13:27:36.1234567Z')", 636567172561234567),    # keeps the 7th digit
    ("addSeconds('2018-03-15T00:00:00.1234567Z', 1)", "2018-03-15T00:00:01.1234567Z"),
    ("formatDateTime('2018-03-15T13:00:00+02:00')", "2018-03-15T11:00:00.0000000Z"),
    ("formatDateTime('2018-03-15T00:00:00Z', 'ss.FFF')", "00"),        # empty F drops the '.'
    ("addToTime('2020-01-31T10:00:00Z', 1, 'Month')", "2020-02-29T10:00:00.0000000Z"),
    ("addToTime('2020-02-29T10:00:00Z', -1, 'Year')", "2019-02-28T10:00:00.0000000Z"),
    ("addToTime('2018-01-01T00:00:00Z', 2, 'week')", "2018-01-15T00:00:00.0000000Z"),
    ("dateDifference('2018-07-30T10:00:00Z', '2018-07-29T08:30:00.5Z')", "-1.01:29:59.5000000"),
    ("dayOfWeek('2018-03-18')", 0),
    ("formatDateTime('2018-03-15', 'D', 'de-DE')", "Donnerstag, 15. März 2018"),
    ("formatDateTime('2018-03-15', 'd', 'de-DE')", "15.03.2018"),
    ("parseDateTime('15.03.2018', 'de-DE')", "2018-03-15T00:00:00.0000000"),
    ("parseDateTime('Thu, 15 Mar 2018 13:00:00 GMT')", "2018-03-15T13:00:00.0000000Z"),
    ("parseDateTime('3/15/2018 1:05 PM')", "2018-03-15T13:05:00.0000000"),
    ("convertTimeZone('2018-07-01T12:00:00', 'W. Europe Standard Time', 'UTC')",
     "2018-07-01T10:00:00.0000000Z"),                                    # summer time applies
    ("convertFromUtc('2018-01-01T08:00:00Z', 'pacific standard time', 'HH:mm')", "00:00"),
])
def test_behaviour_beyond_the_examples(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "message"), [
    ("addDays('not a date', 1)", "cannot read \"not a date\".*ISO 8601"),
    ("addDays('2018-02-30', 1)", "cannot read"),
    ("addDays('2018-03-15T00:00:00Z', 1.5)", "parameter 2 to be an integer"),
    ("addToTime('2018-03-15T00:00:00Z', 1, 'Fortnight')", "'Second', 'Minute'"),
    ("addDays('9999-12-31T00:00:00Z', 1)", "years 1 to 9999"),
    ("addToTime('9999-12-01T00:00:00Z', 1, 'Month')", "years 1 to 9999"),
    ("formatDateTime('2018-03-15', 'Q')", "not a .NET standard"),
    ("formatDateTime('2018-03-15', 'd', 'xx-XX')", "locale 'xx-XX'"),
    ("convertFromUtc('2018-03-15', 'Mars Standard Time')", "time zone 'Mars Standard Time'"),
    ("convertFromUtc('2018-03-15', 'America/Los_Angeles')", "Windows time zone id"),
    ("parseDateTime('2018-03-15', 'en-US', 'ddMMyyyy')", "the format 'ddMMyyyy'"),
    ("parseDateTime('15 15', 'en-US', 'dd dd')", "the format 'dd dd'"),
])
def test_bad_input_is_a_typed_error(expression, message):
    with pytest.raises(FunctionArgumentError, match=message):
        evaluate(expression)
