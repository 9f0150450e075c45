"""The desired state a synthesis records: each resource's inputs as registered, secrets marked."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infra.pulumi_internals import ASSET_SIG, SECRET_SIG, SIG_KEY

REDACTED = "[secret]"


@dataclass(frozen=True)
class SynthResource:
    """One registered resource: what `pulumi up` would be asked to create."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    protect: bool = False
    retain_on_delete: bool = False
    replace_on_changes: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()  # URNs this resource waits for (inputs and `depends_on`)
    outputs: dict[str, Any] = field(default_factory=dict)  # the mock's answer (ids, principal ids)

    def public_inputs(self) -> dict[str, Any]:
        """Inputs with every secret value replaced by `REDACTED`."""
        return _redact(self.inputs)

    def revealed_inputs(self) -> dict[str, Any]:
        """Inputs with secrets unwrapped, for offline wiring checks; never print these."""
        return _redact(plain(self.inputs))

    def secret_paths(self) -> list[str]:
        """Dotted paths of the inputs Pulumi treats as secret."""
        return _secret_paths(self.inputs, "")


@dataclass
class Synthesis:
    """The desired state of one stack."""

    stack: str
    resources: list[SynthResource]
    outputs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def of_type(self, type_: str) -> list[SynthResource]:
        """Resources whose type token ends with `type_` (e.g. `servicebus:Queue`)."""
        return [r for r in self.resources if r.type.endswith(type_)]

    def named(self, name: str) -> SynthResource:
        """The single resource with logical name `name`."""
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources are named '{name}' in stack {self.stack}")
        return found[0]

    def as_json(self) -> list[dict[str, Any]]:
        """The `--json` form: type, name, parent and redacted inputs of every resource."""
        return [
            {"type": r.type, "name": r.name, "parent": r.parent, "inputs": r.public_inputs()}
            for r in self.resources
        ]


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return REDACTED
        if value.get(SIG_KEY) == ASSET_SIG:
            return {"asset": value.get("path") or value.get("uri") or "<text>"}
        return {k: _redact(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a float
    return value


def _secret_paths(value: Any, path: str) -> list[str]:
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return [path or "."]
        return [p for k, v in value.items() for p in _secret_paths(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _secret_paths(v, f"{path}[{i}]")]
    return []


def plain(value: Any) -> Any:
    """`value` with secret wrappers removed (for computing mock state such as ids)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return plain(value["value"])
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
