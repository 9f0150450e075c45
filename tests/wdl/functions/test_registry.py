"""The library's contract with the engine: lookup(), names(), FunctionSpec."""
import dataclasses
import inspect

import pytest

from orderbridge.wdl._functions import FunctionSpec, lookup, names

# Every non-workflow function in Microsoft's reference, by its documented spelling.
DOCUMENTED_PURE_FUNCTIONS = {
    "add", "addDays", "addHours", "addMinutes", "addProperty", "addSeconds", "addToTime", "and",
    "array", "base64", "base64ToBinary", "base64ToString", "binary", "bool", "chunk", "coalesce",
    "concat", "contains", "convertFromUtc", "convertTimeZone", "convertToUtc", "createArray",
    "dataUri", "dataUriToBinary", "dataUriToString", "dateDifference", "dayOfMonth", "dayOfWeek",
    "dayOfYear", "decimal", "decodeBase64", "decodeDataUri", "decodeUriComponent", "div",
    "empty", "encodeUriComponent", "endsWith", "equals", "first", "float", "formatDateTime",
    "formatNumber", "getFutureTime", "getPastTime", "greater", "greaterOrEquals", "guid", "if",
    "indexOf", "int", "intersection", "isFloat", "isInt", "join", "json", "last", "lastIndexOf",
    "length", "less", "lessOrEquals", "max", "min", "mod", "mul", "not", "nthIndexOf", "or",
    "parseDateTime", "rand", "range", "removeProperty", "replace", "reverse", "setProperty",
    "skip", "slice", "sort", "split", "startOfDay", "startOfHour", "startOfMonth", "startsWith",
    "string", "sub", "substring", "subtractFromTime", "take", "ticks", "toLower", "toUpper",
    "trim", "union", "uriComponent", "uriComponentToBinary", "uriComponentToString", "uriHost",
    "uriPath", "uriPathAndQuery", "uriPort", "uriQuery", "uriScheme", "utcNow",
}
# Left out on purpose (see the report): XML needs an XML/XPath engine the workflows do not use.
NOT_IMPLEMENTED = {"xml", "xpath"}
WORKFLOW_FUNCTIONS = {"action", "actions", "body", "formDataMultiValues", "formDataValue", "item",
                      "items", "iterationIndexes", "listCallbackUrl", "multipartBody", "outputs",
                      "parameters", "result", "trigger", "triggerBody", "triggerFormDataMultiValues",
                      "triggerFormDataValue", "triggerMultipartBody", "triggerOutputs", "variables",
                      "workflow", "actionBody", "actionOutputs"}


def test_every_documented_pure_function_is_in_the_library():
    assert DOCUMENTED_PURE_FUNCTIONS - names() == set()
    assert names() - DOCUMENTED_PURE_FUNCTIONS == set()


def test_workflow_and_xml_functions_are_left_to_the_engine():
    for name in WORKFLOW_FUNCTIONS | NOT_IMPLEMENTED:
        assert lookup(name) is None, name


@pytest.mark.parametrize("spelling", ["toLower", "TOLOWER", "tolower", "ToLower"])
def test_lookup_ignores_letter_case(spelling):
    assert lookup(spelling).name == "toLower"


def test_lookup_of_an_unknown_name_is_none():
    assert lookup("noSuchFunction") is None


def test_spec_is_frozen_and_holds_the_documented_fields():
    spec = lookup("concat")
    fields = [field.name for field in dataclasses.fields(FunctionSpec)]
    assert fields == ["name", "impl", "min_args", "max_args", "needs_env"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"


@pytest.mark.parametrize("name", sorted(DOCUMENTED_PURE_FUNCTIONS))
def test_declared_arity_matches_what_the_implementation_accepts(name):
    """The engine checks min/max before calling; the impl must accept exactly that range."""
    spec = lookup(name)
    parameters = list(inspect.signature(spec.impl).parameters.values())
    if spec.needs_env:
        parameters = parameters[1:]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    required = sum(p.default is p.empty and p.kind is not p.VAR_POSITIONAL for p in parameters)
    assert required == spec.min_args or (variadic and required <= spec.min_args)
    assert (spec.max_args is None) == variadic
    if not variadic:
        assert len(parameters) == spec.max_args


def test_only_clock_and_guid_functions_need_the_environment():
    needing = {name for name in names() if lookup(name).needs_env}
    assert needing == {"utcNow", "getFutureTime", "getPastTime", "guid"}
