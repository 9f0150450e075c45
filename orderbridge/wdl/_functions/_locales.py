"""The culture data the number and date functions need, for the locales the docs use.

Logic Apps runs on .NET and accepts any RFC 4646 locale; this table holds a handful (en-US is the
default). An unknown locale is a clear error rather than a silent fallback to en-US.
"""
from __future__ import annotations

from dataclasses import dataclass

from orderbridge.wdl._functions._common import fail


@dataclass(frozen=True)
class Culture:
    """Number and calendar conventions of one locale (a subset of .NET CultureInfo)."""

    name: str
    decimal_separator: str
    group_separators: str          # the first one is used for output
    currency_symbol: str
    currency_positive: str         # "$n" or "n $" style, with n for the number
    currency_negative: str
    percent_pattern: str           # "n%" or "n %"
    months: tuple[str, ...]
    days: tuple[str, ...]          # Sunday first, like .NET DayOfWeek
    am: str
    pm: str
    short_date: str
    long_date: str
    short_time: str
    long_time: str
    month_day: str
    year_month: str
    month_abbreviations: tuple[str, ...] = ()
    day_abbreviations: tuple[str, ...] = ()
    date_separator: str = "/"
    time_separator: str = ":"

    def abbreviated_month(self, index: int) -> str:
        return (self.month_abbreviations or tuple(m[:3] for m in self.months))[index]

    def abbreviated_day(self, index: int) -> str:
        return (self.day_abbreviations or tuple(d[:3] for d in self.days))[index]


_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
_EN_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

_EN_US = Culture(
    "en-US", ".", ",", "$", "$n", "-$n", "n%", _EN_MONTHS, _EN_DAYS, "AM", "PM",
    "M/d/yyyy", "dddd, MMMM d, yyyy", "h:mm tt", "h:mm:ss tt", "MMMM d", "MMMM yyyy")
# The invariant culture differs from en-US in its short date and 24-hour clock.
_INVARIANT = Culture(
    "", ".", ",", "\u00a4", "\u00a4n", "-\u00a4n", "n %", _EN_MONTHS, _EN_DAYS, "AM", "PM",
    "MM/dd/yyyy", "dddd, dd MMMM yyyy", "HH:mm", "HH:mm:ss", "MMMM dd", "yyyy MMMM")
_EN_GB = Culture(
    "en-GB", ".", ",", "\u00a3", "\u00a3n", "-\u00a3n", "n%", _EN_MONTHS, _EN_DAYS, "am", "pm",
    "dd/MM/yyyy", "dddd, d MMMM yyyy", "HH:mm", "HH:mm:ss", "d MMMM", "MMMM yyyy")
_FR_FR = Culture(
    "fr-FR", ",", "\u202f\u00a0 ", "\u20ac", "n \u20ac", "-n \u20ac", "n %",
    ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
     "octobre", "novembre", "décembre"),
    ("dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"), "", "",
    "dd/MM/yyyy", "dddd d MMMM yyyy", "HH:mm", "HH:mm:ss", "d MMMM", "MMMM yyyy",
    ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
     "déc."),
    ("dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam."))
_ES_ES = Culture(
    "es-ES", ",", ".", "\u20ac", "n \u20ac", "-n \u20ac", "n %",
    ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
     "octubre", "noviembre", "diciembre"),
    ("domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"), "a. m.", "p. m.",
    "dd/MM/yyyy", "dddd, d 'de' MMMM 'de' yyyy", "H:mm", "H:mm:ss", "d 'de' MMMM",
    "MMMM 'de' yyyy",
    ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"),
    ("dom", "lun", "mar", "mié", "jue", "vie", "sáb"))
_DE_DE = Culture(
    "de-DE", ",", ".", "\u20ac", "n \u20ac", "-n \u20ac", "n %",
    ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
     "Oktober", "November", "Dezember"),
    ("Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"), "", "",
    "dd.MM.yyyy", "dddd, d. MMMM yyyy", "HH:mm", "HH:mm:ss", "d. MMMM", "MMMM yyyy",
    ("Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.",
     "Dez."),
    ("So.", "Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa."), date_separator=".")
_IS_IS = Culture(
    "is-IS", ",", ".", "kr", "n $", "-n $", "n%",
    ("janúar", "febrúar", "mars", "apríl", "maí", "júní", "júlí", "ágúst", "september",
     "október", "nóvember", "desember"),
    ("sunnudagur", "mánudagur", "þriðjudagur", "miðvikudagur", "fimmtudagur", "föstudagur",
     "laugardagur"), "f.h.", "e.h.",
    "d.M.yyyy", "dddd, d. MMMM yyyy", "HH:mm", "HH:mm:ss", "d. MMMM", "MMMM yyyy",
    date_separator=".")

_CULTURES = {culture.name.lower(): culture for culture in
             (_EN_US, _INVARIANT, _EN_GB, _FR_FR, _ES_ES, _DE_DE, _IS_IS)}
_CULTURES["en"] = _EN_US
_CULTURES["fr"] = _FR_FR
_CULTURES["es"] = _ES_ES
_CULTURES["de"] = _DE_DE

DEFAULT = _EN_US
INVARIANT = _INVARIANT


def culture(function: str, locale: str | None) -> Culture:
    """The culture for an RFC 4646 locale code such as 'de-DE' (None means en-US)."""
    if locale is None:
        return DEFAULT
    found = _CULTURES.get(locale.strip().lower())
    if found is None:
        known = ", ".join(sorted(c.name for c in set(_CULTURES.values()) if c.name))
        fail(function, f"got the locale {locale!r}, which this engine does not know",
             f"Use one of {known}.")
    return found
