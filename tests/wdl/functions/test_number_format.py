"""formatNumber(), checked against Microsoft's examples and the .NET numeric format rules."""
import pytest

from orderbridge.wdl._errors import FunctionArgumentError
from tests.wdl.functions._expressions import assert_same, evaluate

DOCUMENTED = [
    ("formatNumber(1234567890, '#,##0.00', 'en-US')", "1,234,567,890.00"),
    ("formatNumber(1234567890, '#,##0.00', 'is-IS')", "1.234.567.890,00"),
    ("formatNumber(17.35, 'C2')", "$17.35"),
    ("formatNumber(17.35, 'C2', 'is-IS')", "17,35 kr"),
]


@pytest.mark.parametrize(("expression", "expected"), DOCUMENTED)
def test_documented_example(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "expected"), [
    # Standard specifiers, with the results .NET's documentation gives for them.
    ("formatNumber(-17.35, 'C')", "-$17.35"),
    ("formatNumber(1234.5678, 'N')", "1,234.57"),
    ("formatNumber(1234.5678, 'N0')", "1,235"),
    ("formatNumber(1234.5678, 'F')", "1234.57"),
    ("formatNumber(2.675, 'F2')", "2.68"),              # half away from zero on the shortest form
    ("formatNumber(0.1234, 'P1')", "12.3%"),
    ("formatNumber(42, 'D6')", "000042"),
    ("formatNumber(-42, 'D6')", "-000042"),
    ("formatNumber(255, 'X')", "FF"),
    ("formatNumber(255, 'x4')", "00ff"),
    ("formatNumber(-1, 'X')", "FFFFFFFFFFFFFFFF"),      # 64-bit two's complement
    ("formatNumber(1234.5678, 'E')", "1.234568E+003"),
    ("formatNumber(1234.5678, 'e2')", "1.23e+003"),
    ("formatNumber(1234.5678, 'G')", "1234.5678"),
    ("formatNumber(1234.5678, 'G3')", "1.23E+03"),
    ("formatNumber(17.35, 'R')", "17.35"),
    ("formatNumber(1234567.891, 'N2', 'de-DE')", "1.234.567,89"),
    # Custom patterns.
    ("formatNumber(0.5, '#.##')", ".5"),
    ("formatNumber(1.5, '00.000')", "01.500"),
    ("formatNumber(1234567890, '(###) ###-####')", "(123) 456-7890"),
    ("formatNumber(1234567, '#,#,,')", "1"),            # trailing commas scale by 1000
    ("formatNumber(1234567, '#,##0,K')", "1,235K"),
    ("formatNumber(0.086, '#0.##%')", "8.6%"),
    ("formatNumber(-1.5, '0.0;(0.0);zero')", "(1.5)"),
    ("formatNumber(0, '0.0;(0.0);zero')", "zero"),
    ("formatNumber(-1.5, '0.0')", "-1.5"),
    ("formatNumber(12345.6789, '0.###E+000')", "1.235E+004"),
    ("formatNumber(1503.92311, '0.0##e+00')", "1.504e+03"),
    ("formatNumber(5, '''#''0')", "#5"),                  # quoted literal
    ("formatNumber(5, '\\#0')", "#5"),                   # escaped literal
])
def test_dotnet_format_rules(expression, expected):
    assert_same(evaluate(expression), expected, expression)


@pytest.mark.parametrize(("expression", "message"), [
    ("formatNumber(1.5, 'D')", "non-integer 1.5"),
    ("formatNumber('1', 'N')", "parameter 1 to be an integer or a float"),
    ("formatNumber(1, 'N', 'zz-ZZ')", "locale 'zz-ZZ'"),
])
def test_bad_input_is_a_typed_error(expression, message):
    with pytest.raises(FunctionArgumentError, match=message):
        evaluate(expression)
