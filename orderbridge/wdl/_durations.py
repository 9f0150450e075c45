"""ISO 8601 durations (`PT30S`, `P1DT2H`) as WDL uses them for retry intervals and timeouts."""
from __future__ import annotations

import re

from ._errors import DefinitionError

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def parse_duration(text: str, *, path: str | None = None, what: str = "duration") -> float:
    """Seconds in an ISO 8601 duration; a DefinitionError naming `what` if it is not one."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise DefinitionError(
            f"{what} {text!r} is not an ISO 8601 duration; write it like 'PT30S' or 'PT1H'", path=path
        )
    return sum(float(value) * _SECONDS[unit] for unit, value in match.groupdict().items() if value)
