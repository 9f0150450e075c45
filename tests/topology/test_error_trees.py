"""Each package has one exception root, and the root module's docstring shows the whole tree."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import infra
import orderbridge
from infra import errors as infra_errors
from order_integration import errors as integration_errors
from orderbridge import errors as tooling_errors

PACKAGES = {
    "infra": (infra, infra_errors, infra_errors.InfraError),
    "order_integration": (
        importlib.import_module("order_integration"), integration_errors, integration_errors.IntegrationError,
    ),
    "orderbridge": (orderbridge, tooling_errors, tooling_errors.OrderbridgeError),
}


def _modules(package: ModuleType) -> list[ModuleType]:
    return [importlib.import_module(m.name) for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_every_exception_a_package_defines_is_under_its_root_and_in_the_tree(name: str) -> None:
    package, errors_module, root = PACKAGES[name]
    defined = {
        cls for module in _modules(package) for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == module.__name__
    }
    outside = sorted(f"{c.__module__}.{c.__name__}" for c in defined if not issubclass(c, root))
    assert not outside, f"not under {root.__name__}: {outside}"
    for cls in defined | {root}:
        tree = _tree_of(cls, errors_module)
        if tree is not None:
            assert cls.__name__ in (tree.__doc__ or ""), f"{tree.__name__}'s docstring tree does not show {cls.__name__}"


# Sub-packages whose errors module shows a tree of its own (the engine keeps its tree in its README).
SUBTREES = {"orderbridge.local.": "orderbridge.local.errors", "orderbridge.wdl.": None}


def _tree_of(cls: type, errors_module: ModuleType) -> ModuleType | None:
    """The module whose docstring must show `cls`: its sub-package's errors module, else the package's."""
    for prefix, module in SUBTREES.items():
        if cls.__module__.startswith(prefix):
            return importlib.import_module(module) if module else None
    return errors_module


def test_the_workflow_engine_tree_hangs_under_the_tooling_root() -> None:
    from orderbridge.wdl import WdlError

    assert issubclass(WdlError, tooling_errors.OrderbridgeError)
