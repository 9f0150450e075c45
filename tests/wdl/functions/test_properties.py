"""Round-trip and algebraic properties that must hold for any input, not just the documented ones."""
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from orderbridge.wdl._errors import FunctionArgumentError
from orderbridge.wdl._functions import lookup

SETTINGS = settings(max_examples=100, deadline=None)
INT64 = st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1)
TIMESTAMPS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))


def call(name, *args):
    return lookup(name).impl(*args)


def iso(moment: datetime) -> str:
    """ISO 8601 with a four-digit year (strftime writes year 999 as '999')."""
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S.%f}"


@SETTINGS
@given(st.text())
def test_uri_component_round_trips(text):
    assert call("uriComponentToString", call("uriComponent", text)) == text


@SETTINGS
@given(st.text())
def test_base64_round_trips(text):
    assert call("base64ToString", call("base64", text)) == text
    assert call("string", call("binary", text)) == text


@SETTINGS
@given(INT64, INT64.filter(lambda n: n != 0))
def test_integer_div_and_mod_rebuild_the_dividend(dividend, divisor):
    quotient, remainder = call("div", dividend, divisor), call("mod", dividend, divisor)
    assert quotient * divisor + remainder == dividend
    assert abs(remainder) < abs(divisor)
    assert remainder == 0 or (remainder > 0) == (dividend > 0)


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_reads_back_as_the_same_float(number):
    assert call("float", call("string", number)) == number


@SETTINGS
@given(INT64)
def test_int_text_reads_back(number):
    assert call("int", call("string", number)) == number
    assert call("isInt", call("string", number))


@SETTINGS
@given(TIMESTAMPS, st.integers(min_value=0, max_value=9))
def test_round_trip_format_keeps_every_tick(moment, seventh_digit):
    text = f"{iso(moment)}{seventh_digit}Z"
    assert call("formatDateTime", text) == text
    assert call("parseDateTime", text) == text


@SETTINGS
@given(TIMESTAMPS, st.integers(min_value=-10 ** 6, max_value=10 ** 6))
def test_added_seconds_move_ticks_by_ten_million_each(moment, seconds):
    stamp = iso(moment) + "Z"
    try:
        moved = call("addSeconds", stamp, seconds)
    except FunctionArgumentError as error:  # only the years 1..9999 limit may stop it
        assert "years 1 to 9999" in str(error)
        assert not datetime(1, 1, 1) <= moment + timedelta(seconds=seconds) <= datetime.max
        return
    assert call("ticks", moved) - call("ticks", stamp) == seconds * 10_000_000
    assert call("subtractFromTime", moved, seconds, "Second") == call("formatDateTime", stamp)


@SETTINGS
@given(st.lists(st.integers() | st.floats(allow_nan=False)))
def test_sort_returns_an_ordered_permutation(items):
    result = call("sort", items)
    assert sorted(result) == sorted(items)
    assert all(a <= b for a, b in zip(result, result[1:]))


@SETTINGS
@given(st.text(max_size=30), st.integers(-40, 40), st.integers(-40, 40))
def test_slice_matches_substring_where_substring_is_defined(text, start, end):
    if 0 <= start <= end <= len(text):
        assert call("slice", text, start, end) == call("substring", text, start, end - start)


@SETTINGS
@given(st.lists(st.integers(-5, 5)), st.lists(st.integers(-5, 5)))
def test_union_and_intersection_are_set_operations_without_duplicates(left, right):
    union, common = call("union", left, right), call("intersection", left, right)
    assert set(union) == set(left) | set(right) and len(union) == len(set(union))
    assert set(common) == set(left) & set(right) and len(common) == len(set(common))
