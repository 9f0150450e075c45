"""The pure expression functions of the Workflow Definition Language (Logic Apps).

Reference: https://learn.microsoft.com/azure/logic-apps/workflow-definition-language-functions-reference
Workflow functions (triggerBody(), body(), items(), variables()…) are not here: the engine resolves
them because they read the run. Function names are case-insensitive, as in Logic Apps.
"""
from __future__ import annotations

from types import MappingProxyType

from orderbridge.wdl._functions import (
    _collection,
    _conversion,
    _datetime,
    _encoding,
    _logical,
    _manipulation,
    _math,
    _number_format,
    _string,
    _uri,
)
from orderbridge.wdl._functions._spec import FunctionEnvironment, FunctionSpec

__all__ = ["FunctionEnvironment", "FunctionSpec", "lookup", "names"]


def _build_registry() -> MappingProxyType:
    registry: dict[str, FunctionSpec] = {}
    for family in (_collection, _conversion, _datetime, _encoding, _logical, _manipulation, _math,
                   _number_format, _string, _uri):
        for spec in family.FUNCTIONS:
            key = spec.name.lower()
            if key in registry:
                raise RuntimeError(f"expression function {spec.name!r} is defined twice "
                                   f"({family.__name__}); keep one definition")
            registry[key] = spec
    return MappingProxyType(registry)


_REGISTRY = _build_registry()
_NAMES = frozenset(spec.name for spec in _REGISTRY.values())


def lookup(name: str) -> FunctionSpec | None:
    """The function called `name` (any letter case), or None when the library has no such function."""
    return _REGISTRY.get(name.lower())


def names() -> frozenset[str]:
    """Every function name in the library, spelled as the documentation spells it."""
    return _NAMES
