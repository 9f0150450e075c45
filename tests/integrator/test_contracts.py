"""The contracts module: validation errors, Decimal-exact JSON, schema discovery, and schema drift."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from order_integration import contracts
from order_integration.contracts import compiled_validator, dump_json, load_json, load_schema, validate
from order_integration.errors import ContractViolation, MalformedJson, PermanentError
from tests._properties import examples

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILES = sorted((REPO / "schemas").glob("*.schema.json"))
CONTRACTS = [path.name.removesuffix(".schema.json") for path in SCHEMA_FILES]


def _example(contract: str) -> Any:
    return load_schema(contract)["examples"][0]


def _violation(contract: str, instance: object) -> ContractViolation:
    with pytest.raises(ContractViolation) as caught:
        validate(contract, instance)
    return caught.value


def test_a_valid_order_passes() -> None:
    validate("ecp-order", _example("ecp-order"))


def test_violation_names_contract_json_path_and_rule() -> None:
    order = _example("ecp-order")
    order["lines"][1]["unitPrice"] = "14,50"

    error = _violation("ecp-order", order)

    assert (error.contract, error.json_path, error.rule) == ("ecp-order", "$.lines[1].unitPrice", "pattern")
    assert error.reason == "SchemaViolation" and isinstance(error, PermanentError)
    assert "$.lines[1].unitPrice" in str(error) and "pattern" in str(error)


def test_first_error_is_chosen_by_json_path_with_numeric_indexes() -> None:
    order = _example("ecp-order")
    order["lines"] = [dict(order["lines"][0], id=f"li-{n}") for n in range(12)]
    order["lines"][10]["quantity"] = 0  # "lines[10]" sorts before "lines[2]" as text, not as a path
    order["lines"][2]["quantity"] = 0
    order["totals"]["subtotal"] = -1

    error = _violation("ecp-order", order)

    assert error.json_path == "$.lines[2].quantity"
    assert error.rule == "minimum"
    assert "must be >= 1" in str(error) and "3 error(s)" in str(error)


def test_unknown_currency_is_a_schema_violation() -> None:
    order = _example("ecp-order")
    order["currency"] = "ZZZ"
    error = _violation("ecp-order", order)
    assert (error.json_path, error.rule) == ("$.currency", "enum")


def test_missing_property_names_it() -> None:
    order = _example("ecp-order")
    del order["currency"]

    error = _violation("ecp-order", order)

    assert (error.json_path, error.rule) == ("$", "required")
    assert "currency" in str(error)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("customer", "email"), "jana.novak at home, Schönhauser Allee 12"),
        (("billingAddress", "countryCode"), "Deutschland"),
    ],
)
def test_violation_messages_never_quote_the_rejected_value(path: tuple[str, str], value: str) -> None:
    """Messages reach logs and the parking queue: personal data must not travel with them."""
    order = _example("ecp-order")
    order[path[0]][path[1]] = value

    error = _violation("ecp-order", order)

    assert error.json_path == f"$.{path[0]}.{path[1]}"
    assert value not in str(error) and "Schönhauser" not in str(error)


def test_unknown_contract_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="ecp-order-update"):
        validate("ecp-orders", {})


def test_validators_are_compiled_once_and_only_on_first_use() -> None:
    compiled_validator.cache_clear()
    assert compiled_validator.cache_info().currsize == 0

    validate("ecp-order", _example("ecp-order"))
    validate("ecp-order", _example("ecp-order"))

    info = compiled_validator.cache_info()
    assert (info.currsize, info.misses, info.hits) == (1, 1, 1)


def test_importing_contracts_loads_no_validator_library() -> None:
    """Cold start: the validator library is imported by the first validation, not by the import."""
    code = (
        "import sys; from order_integration import contracts, mapping; "
        "print(sorted(m for m in ('jsonschema', 'jsonschema_rs') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO / "integrator_func", capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_schemas_are_found_beside_function_app_when_deployed(tmp_path: Path) -> None:
    """The deployment package has `schemas/` beside function_app.py, with no repository around it."""
    app = tmp_path / "wwwroot"
    shutil.copytree(REPO / "integrator_func" / "order_integration", app / "order_integration")
    shutil.copytree(REPO / "schemas", app / "schemas")
    code = (
        "from order_integration import contracts; print(contracts.schema_dir()); "
        "contracts.validate('erp-sales-order-state', contracts.load_schema('erp-sales-order-state')['examples'][0])"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=app, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == app / "schemas"


def test_load_json_reads_numbers_exactly() -> None:
    value = load_json(b'{"price": 0.1, "total": 1e2, "quantity": 3, "big": 12345678901234567890.123}')

    assert value == {
        "price": Decimal("0.1"),
        "total": Decimal("1E+2"),
        "quantity": 3,
        "big": Decimal("12345678901234567890.123"),
    }
    assert type(value["quantity"]) is int


@pytest.mark.parametrize("text", ["{not json", '{"a": NaN}', "[Infinity]", "", b"\xff\xfe{"])
def test_load_json_rejects_what_is_not_json(text: str | bytes) -> None:
    with pytest.raises(MalformedJson) as caught:
        load_json(text)
    assert caught.value.reason == "MalformedMessage"
    assert caught.value.json_path == "$"


def test_dump_json_writes_decimals_exactly_and_text_unescaped() -> None:
    body = {
        "unitPrice": Decimal("12.90"),
        "yen": Decimal("1500"),
        "kwd": Decimal("0.000"),
        "hundred": Decimal("1E+2"),
        "name": 'Jürgen "Jü" Weiß\n☕',
        "lines": [1, True, None, []],
    }

    text = dump_json(body)

    assert text == (
        '{"unitPrice":12.90,"yen":1500,"kwd":0.000,"hundred":100,'
        '"name":"Jürgen \\"Jü\\" Weiß\\n☕","lines":[1,true,null,[]]}'
    )
    assert json.loads(text)["name"] == body["name"]
    assert load_json(text) == body


def test_dump_json_output_is_always_sendable_even_with_a_lone_surrogate() -> None:
    body = load_json('{"name": "Emoji half \\ud83d", "city": "Köln"}')

    text = dump_json(body)

    assert text.encode("utf-8") and text.isascii()
    assert load_json(text) == body


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"price": 12.9}, TypeError),
        ({"price": Decimal("NaN")}, ValueError),
        ({1: "a"}, TypeError),
        ({"s": {1, 2}}, TypeError),
    ],
)
def test_dump_json_refuses_floats_and_non_json_values(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        dump_json(value)


# Drift: schemas/ is the single source of every message contract.


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=CONTRACTS)
def test_schema_is_valid_2020_12_with_id_description_and_valid_examples(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)  # the reference implementation, independent of jsonschema-rs
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/" + path.name), f"{path.name}: $id must end with the file name"
    assert schema.get("description"), f"{path.name}: needs a description"
    assert schema.get("examples"), f"{path.name}: needs realistic examples (fake servers and tests use them)"
    reference = Draft202012Validator(schema, format_checker=FormatChecker())
    contract = path.name.removesuffix(".schema.json")
    for example in schema["examples"]:
        assert not list(reference.iter_errors(example)), f"{contract}: example invalid under jsonschema"
    for example in load_schema(contract)["examples"]:
        validate(contract, example)  # and under the production validator, numbers as Decimal


# The Logic Apps check event data by expression, not against these files; until a workflow or its
# tests read them, the drift is reported here (strict: the marker must go once they are used).
def _code_outside_schemas() -> str:
    roots = [
        REPO / "integrator_func",
        REPO / "orderbridge",
        REPO / "infra",
        REPO / "workflows",
        REPO / "tests",
    ]
    files = [
        f
        for root in roots
        if root.is_dir()
        for f in root.rglob("*")
        if f.suffix in {".py", ".json"}
        and f.resolve() != Path(__file__).resolve()
        and "golden" not in f.parts
    ]
    return "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files)


@pytest.mark.parametrize("contract", CONTRACTS)
def test_every_schema_is_used_by_code(contract: str) -> None:
    code = _code_outside_schemas()
    assert re.search(rf"[\"'/]{re.escape(contract)}(\.schema\.json)?[\"']", code), (
        f"schemas/{contract}.schema.json is referenced by no code, workflow or infra file: use it or delete it"
    )


def test_contract_names_match_the_files() -> None:
    assert contracts.contract_names() == sorted(CONTRACTS)


# One rule for a change version: read_change_version, the state and event schemas, the update schema.

CHANGE_VERSION_CONTRACTS = ["erp-sales-order-state", "erp-sales-order-updated-event"]
BOUNDARY_VERSIONS = [0, 1, 9, 10, 10**18 - 1, 10**18, contracts.CHANGE_VERSION_MAX - 1, contracts.CHANGE_VERSION_MAX,
                     contracts.CHANGE_VERSION_MAX + 1, 9223372036854775799, 9223372036854775800,
                     9223372036854775810, 10**19, 10**19 + 5]


def _readable(value: object) -> int | None:
    try:
        return contracts.read_change_version(value)
    except ValueError:
        return None


def _schema_allows_version(contract: str, value: object) -> bool:
    return compiled_validator(contract).is_valid({**_example(contract), "changeVersion": value})


@pytest.mark.parametrize("contract", CHANGE_VERSION_CONTRACTS)
def test_the_schemas_define_one_change_version(contract: str) -> None:
    schema = load_schema(contract)
    assert schema["properties"]["changeVersion"]["$ref"] == "#/$defs/changeVersion"
    assert schema["$defs"]["changeVersion"] == load_schema(CHANGE_VERSION_CONTRACTS[0])["$defs"]["changeVersion"]
    update = load_schema("ecp-order-update")["properties"]["erpChangeVersion"]
    assert (update["type"], update["minimum"], update["maximum"]) == ("integer", 1, contracts.CHANGE_VERSION_MAX)


@pytest.mark.parametrize("number", BOUNDARY_VERSIONS)
def test_the_schema_accepts_a_change_version_exactly_when_read_change_version_reads_it(number: int) -> None:
    """The string branch's pattern spells out <= 2^63-1 digit by digit; it must not be off by one anywhere."""
    for form in (number, str(number), Decimal(number)):
        read = _readable(form)
        assert read in (None, number), repr(form)
        expected = read is not None and read >= 1  # the ERP's versions start at 1
        assert _schema_allows_version("erp-sales-order-state", form) == expected, repr(form)


@settings(max_examples=examples(500), deadline=None)
@given(st.one_of(
    st.integers(-10, 2**64),
    st.integers(-10, 2**64).map(str),
    st.builds(lambda n, point: Decimal(n).scaleb(-point), st.integers(-(10**21), 10**21), st.integers(-2, 3)),
))
def test_the_schema_never_accepts_a_change_version_read_change_version_refuses(value: object) -> None:
    """Written with a fraction or an exponent near 2^63, jsonschema-rs compares the number as a double and
    may refuse a valid version (parked); it must never accept one the integrator cannot read."""
    read = _readable(value)
    if _schema_allows_version("erp-sales-order-state", value):
        assert read is not None and read >= 1
    elif isinstance(value, (int, str)):
        assert read is None or read == 0


@pytest.mark.parametrize("value", ["07", "+7", " 7", "7 ", "7\n", "\u0667", "7.0", "1e3", "", "-1", True, None, [7]])
def test_a_change_version_in_no_allowed_form_is_refused_by_both(value: object) -> None:
    assert _readable(value) is None and not _schema_allows_version("erp-sales-order-state", value)


def test_a_huge_change_version_is_refused_without_being_rounded() -> None:
    for value in (Decimal("1E+400"), Decimal("-1E+400"), 10**4000, Decimal("1E-400")):
        assert _readable(value) is None and not _schema_allows_version("erp-sales-order-state", value)
