"""Reading `Pulumi.<stack>.yaml` the way the Pulumi CLI hands its config to a program."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from infra.package import REPO_ROOT
from orderbridge.errors import SynthError


def read_stack_file(stack: str, repo_root: Path = REPO_ROOT) -> tuple[dict[str, str], set[str]]:
    """Config strings and secret keys of `Pulumi.<stack>.yaml`, as the Pulumi CLI would hand them over."""
    path = repo_root / f"Pulumi.{stack}.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in repo_root.glob("Pulumi.*.yaml"))
        raise SynthError(f"no stack file {path}; known stacks: {', '.join(stacks) or 'none'}") from exc
    except yaml.YAMLError as exc:
        raise SynthError(f"{path} is not valid YAML: {exc}") from exc
    values: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Cannot be decrypted offline: a placeholder that is still a secret for the program.
            values[key] = f"offline-placeholder-for-{key}"
            secret_keys.add(key)
        elif isinstance(value, str):
            values[key] = value
        else:
            # The CLI passes structured values and scalars as JSON text (true, 5, [...], {...}).
            values[key] = json.dumps(value)
    return values, secret_keys
