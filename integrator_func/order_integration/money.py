"""Money as Decimal with the precision each currency requires (ISO 4217 minor units).

Table: the active ISO 4217 codes (list one, SIX Group, https://www.six-group.com/en/products-services/financial-information/data-standards.html).
Most currencies have 2 minor units; the exceptions are listed explicitly. Rounding is half up
("Nearest"), Business Central's default amount rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .errors import MappingError

_ZERO_DECIMALS = frozenset("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split())
_THREE_DECIMALS = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
_FOUR_DECIMALS = frozenset("CLF UYW".split())
_TWO_DECIMALS = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
    GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL
    MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK
    PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG""".split()
)
MINOR_UNITS: dict[str, int] = {
    **{code: 0 for code in _ZERO_DECIMALS},
    **{code: 2 for code in _TWO_DECIMALS},
    **{code: 3 for code in _THREE_DECIMALS},
    **{code: 4 for code in _FOUR_DECIMALS},
}


@dataclass(frozen=True)
class Currency:
    """A currency and its ISO 4217 minor units: the precision every amount in it must have."""

    code: str
    decimals: int

    @classmethod
    def of(cls, code: str, *, field: str) -> Currency:
        """The currency `code`; an unknown one is a MappingError on `field`."""
        try:
            return cls(code, MINOR_UNITS[code])
        except KeyError:
            raise MappingError(
                field=field,
                message=f"currency {code!r} is not an active ISO 4217 currency the integration supports",
            ) from None

    @property
    def _quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)

    def amount(self, value: object, *, field: str) -> Decimal:
        """`value` with exactly this currency's decimals; significant digits beyond them are a MappingError."""
        number = decimal_value(value, field=field)
        exact = number.quantize(self._quantum)
        if exact != number:
            raise MappingError(
                field=field,
                message=f"has more decimals than {self.code} allows ({self.decimals}); the sender must round it",
            )
        return exact

    def unit_price(self, value: object, *, field: str) -> Decimal:
        """A unit price with at least this currency's decimals, keeping finer ones (the schema allows up to 5)."""
        number = decimal_value(value, field=field)
        decimals = max(self.decimals, -min(number.normalize().as_tuple().exponent, 0))
        return number.quantize(Decimal(1).scaleb(-decimals))

    def round(self, value: Decimal) -> Decimal:
        """Round half up to this currency's decimals, as the ERP rounds line amounts."""
        return value.quantize(self._quantum, rounding=ROUND_HALF_UP)


def decimal_value(value: object, *, field: str) -> Decimal:
    """A Decimal from a decimal string or an exact JSON number (int/Decimal); floats are refused."""
    if isinstance(value, bool) or isinstance(value, float):
        raise MappingError(
            field=field,
            message=f"got a {type(value).__name__}; parse JSON with contracts.load_json so numbers stay exact",
        )
    if not isinstance(value, (int, Decimal, str)):
        raise MappingError(field=field, message=f"must be a decimal number, got {type(value).__name__}")
    try:
        number = Decimal(value)
    except ArithmeticError:
        raise MappingError(field=field, message="is not a decimal number") from None
    if not number.is_finite():
        raise MappingError(field=field, message="must be a finite number")
    return number


def as_text(value: Decimal) -> str:
    """Fixed-point text of an exact amount (`12.90`, `1500`), as the ECP writes money."""
    return format(value, "f")
