"""Static checks of a definition, each problem with the path of the action it is in.

Checks: ARM template expressions anywhere (deploy-time text, not WDL); one supported trigger; supported action types;
runAfter naming siblings, with valid statuses and no cycles; expression syntax and arity; unknown
functions; `parameters('x')` declared; `variables('x')` initialized somewhere; `body('X')`,
`outputs('X')`, `actions('X')`… naming an action that exists and can have run before (in the
runAfter chain of the action or of an enclosing container); `items('X')` naming an enclosing loop;
the same expression checks in the trigger and the workflow `outputs`; placement rules Azure enforces
on save (Response and Terminate not inside a loop, InitializeVariable only at the top level);
no expressions in `runtimeConfiguration` (it takes literals). Where Azure's behaviour is not documented
(extra `encodeUriComponent` arguments, names differing only in case) the report says so (README).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._control_actions import foreach_degree, until_count
from ._definition import ACTION_REFERENCES, SUPPORTED_ACTION_TYPES, SUPPORTED_TRIGGER_TYPES, parse_run_after
from ._durations import parse_duration
from ._errors import WdlError
from ._expressions import (
    WORKFLOW_FUNCTIONS,
    FunctionCall,
    library_lookup,
    names_differing_in_case,
    undocumented_arity_problem,
    unknown_function_problem,
)
from ._retry import parse_retry_policy
from ._shapes import as_array, as_object
from ._templates import compile_value, is_template_expression

LOOP_REFERENCES = frozenset({"items", "iterationindexes"})
# Keys of an action that hold child actions or structure rather than expressions.
STRUCTURAL_KEYS = frozenset({"actions", "else", "cases", "default", "runAfter", "type", "kind", "description",
                             "operationOptions", "runtimeConfiguration", "metadata"})


@dataclass(frozen=True)
class LintProblem:
    """One static problem: where it is and what to do about it."""

    path: str
    message: str


@dataclass
class _Action:
    name: str
    path: str
    body: dict[str, Any]
    parent: _Action | None
    siblings: dict[str, dict[str, Any]]


def lint(definition: Any) -> list[LintProblem]:
    """Every static problem found in `definition` (empty when it is clean)."""
    if not isinstance(definition, dict):
        return [LintProblem("", "a definition must be a JSON object")]
    # `$schema` and `contentVersion` are optional, so their absence is not reported (schema reference:
    # https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-definition-language#workflow-definition-structure).
    problems = _lint_template_expressions(definition)
    problems += _lint_triggers(definition.get("triggers"))
    for name, trigger in as_object(definition.get("triggers")).items():
        problems += _lint_runtime_configuration(as_object(trigger), f"triggers.{name}")
    actions = list(_walk(definition.get("actions") or {}, "actions", None))
    problems += _lint_split_on(definition.get("triggers"), actions)
    by_name = {action.name: action for action in actions}
    declared = set((definition.get("parameters") or {}).keys())
    initialized = {
        variable.get("name")
        for action in actions
        if str(action.body.get("type", "")).lower() == "initializevariable"
        for variable in as_array(as_object(action.body.get("inputs")).get("variables"))
        if isinstance(variable, dict)
    }
    for action in actions:
        problems += _lint_structure(action)
        problems += _lint_placement(action)
        problems += _lint_settings(action)
        problems += _lint_runtime_configuration(action.body, action.path)
        for where, text, calls in _expressions(action.body, action.path, problems):
            problems += _lint_calls(action, where, text, calls, by_name, declared, initialized)
    for outside in _outside_actions(definition):
        for where, text, calls in _expressions(outside.body, outside.path, problems):
            problems += _lint_calls(outside, where, text, calls, by_name, declared, initialized)
    return problems


def _outside_actions(definition: dict[str, Any]) -> Iterator[_Action]:
    """The trigger and the workflow outputs, as pseudo-actions so their expressions get the same checks:
    the trigger runs before every action; the outputs are read after every top-level action."""
    for name, trigger in as_object(definition.get("triggers")).items():
        if isinstance(trigger, dict):
            yield _Action(name, f"triggers.{name}", trigger, None, {name: {}})
    top_level = as_object(definition.get("actions"))
    after_all = {**top_level, "outputs": {"runAfter": {name: [] for name in top_level}}}
    yield _Action("outputs", "outputs", as_object(definition.get("outputs")), None, after_all)


# Where Azure refuses an action on save. Documented for Response
# (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#response-action:
# "anywhere except inside Foreach loops, Until loops, including sequential loops, and parallel branches";
# the parallel-branch part is not checked). Terminate inside a loop and InitializeVariable below the top
# level are refused by the designer's save validation as the review reports; not re-verified in the docs.
_NOT_IN_LOOPS = frozenset({"response", "terminate"})
_LOOPS = frozenset({"foreach", "until"})


def _lint_placement(action: _Action) -> list[LintProblem]:
    kind = str(action.body.get("type", "")).lower()
    if kind in _NOT_IN_LOOPS:
        loop = next((c for c in _containers(action) if str(c.body.get("type", "")).lower() in _LOOPS), None)
        if loop is not None:
            return [LintProblem(action.path, f"a {action.body.get('type')} action cannot be inside the "
                                             f"{loop.body.get('type')} loop '{loop.name}'; move it after the loop")]
    if kind == "initializevariable" and action.parent is not None:
        return [LintProblem(action.path, f"InitializeVariable must be a top-level action, not inside "
                                         f"'{action.parent.name}'; move it to the workflow's top level")]
    return []


def _containers(action: _Action) -> Iterator[_Action]:
    current = action.parent
    while current is not None:
        yield current
        current = current.parent


def _lint_runtime_configuration(owner: dict[str, Any], path: str) -> list[LintProblem]:
    """runtimeConfiguration (concurrency, secureData…) takes literals; Azure does not evaluate expressions there."""
    return [LintProblem(where, f"runtimeConfiguration takes literals, not expressions ({text!r}); "
                               "write the value, or set it when the file is loaded")
            for where, text in _strings(owner.get("runtimeConfiguration"), f"{path}.runtimeConfiguration")
            if _is_expression(text)]


def _is_expression(value: Any) -> bool:
    """A string Azure evaluates: a whole-string `@…` expression or one with `@{…}` interpolation."""
    return isinstance(value, str) and ((value.startswith("@") and not value.startswith("@@")) or "@{" in value)


def _lint_template_expressions(definition: dict[str, Any]) -> list[LintProblem]:
    """ARM template expressions anywhere in the definition: deploy-time text that Azure never runs."""
    return [LintProblem(where, f"{text!r} is an ARM template expression, evaluated by Resource Manager when the "
                               "template is deployed, not Workflow Definition Language; lint and run the "
                               "definition as deployed, or use @parameters('…') for a workflow parameter")
            for where, text in _strings(definition, "") if is_template_expression(text)]


def _lint_triggers(triggers: Any) -> list[LintProblem]:
    if not isinstance(triggers, dict) or len(triggers) != 1:
        return [LintProblem("triggers", "the engine runs definitions with exactly one trigger")]
    (name, trigger), = triggers.items()
    kind = as_object(trigger).get("type")
    if str(kind).lower() not in SUPPORTED_TRIGGER_TYPES:
        message = f"trigger type {kind!r} is not supported (Request only)"
        return [LintProblem(f"triggers.{name}", message)]
    return []


def _lint_split_on(triggers: Any, actions: list[_Action]) -> list[LintProblem]:
    """splitOn can't be combined with a Response action
    (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#split-on-debatch)."""
    if not isinstance(triggers, dict):
        return []
    responding = [a.path for a in actions if str(a.body.get("type", "")).lower() == "response"]
    return [LintProblem(f"triggers.{name}", f"splitOn cannot be combined with a Response action ({responding[0]})")
            for name, trigger in triggers.items()
            if isinstance(trigger, dict) and "splitOn" in trigger and responding]


def _walk(actions: Any, path: str, parent: _Action | None) -> Iterator[_Action]:
    if not isinstance(actions, dict):
        return
    for name, body in actions.items():
        if not isinstance(body, dict):
            continue
        action = _Action(name, f"{path}.{name}", body, parent, actions)
        yield action
        yield from _walk(body.get("actions"), f"{action.path}.actions", action)
        yield from _walk(as_object(body.get("else")).get("actions"), f"{action.path}.else.actions", action)
        for case_name, case in as_object(body.get("cases")).items():
            yield from _walk(as_object(case).get("actions"), f"{action.path}.cases.{case_name}.actions", action)
        yield from _walk(as_object(body.get("default")).get("actions"), f"{action.path}.default.actions", action)


def _lint_structure(action: _Action) -> list[LintProblem]:
    problems = []
    kind = str(action.body.get("type", ""))
    if kind.lower() not in SUPPORTED_ACTION_TYPES:
        problems.append(LintProblem(action.path, f"action type {kind!r} is not supported by the engine"))
    try:
        run_after = parse_run_after(action.body.get("runAfter"), action.path)
    except WdlError as exc:
        return problems + [LintProblem(action.path, exc.reason)]
    for predecessor in run_after:
        if predecessor not in action.siblings:
            problems.append(LintProblem(action.path, f"runAfter names '{predecessor}', which is not an action "
                                                     "at the same level"))
    if action.name in _predecessors(action.name, action.siblings):
        problems.append(LintProblem(action.path, "runAfter forms a cycle through this action"))
    return problems


# Built-in actions that don't support secureData
# (https://learn.microsoft.com/azure/logic-apps/logic-apps-securing-a-logic-app#obfuscate).
_NO_SECURE_INPUTS = frozenset({"appendtoarrayvariable", "appendtostringvariable", "decrementvariable", "foreach",
                               "if", "incrementvariable", "initializevariable", "scope", "setvariable", "switch",
                               "terminate", "until"})
_NO_SECURE_OUTPUTS = _NO_SECURE_INPUTS | {"compose", "parsejson", "response", "wait"}


def _lint_settings(action: _Action) -> list[LintProblem]:
    """secureData where Azure supports it, no trackedProperties on secured data, valid retry/limit/loop values."""
    body, kind = action.body, str(action.body.get("type", "")).lower()
    secured = as_array(as_object(as_object(body.get("runtimeConfiguration")).get("secureData")).get("properties"))
    problems = []
    for side, unsupported in (("inputs", _NO_SECURE_INPUTS), ("outputs", _NO_SECURE_OUTPUTS)):
        if side in secured and kind in unsupported:
            problems.append(LintProblem(action.path, f"{body.get('type')} actions don't support securing {side}"))
    if secured and body.get("trackedProperties"):
        problems.append(LintProblem(action.path, "trackedProperties cannot be used on an action with secureData"))
    try:
        retry = as_object(body.get("inputs")).get("retryPolicy")
        if isinstance(retry, dict):
            parse_retry_policy(retry, action.path)
        # Expressions in an Until's limit are evaluated when the loop starts, so only literals are checked here;
        # template expressions are reported on their own.
        limit = {key: value for key, value in as_object(body.get("limit")).items()
                 if not (is_template_expression(value) or (kind == "until" and _is_expression(value)))}
        if limit.get("timeout") is not None:
            parse_duration(limit["timeout"], path=action.path, what="limit.timeout")
        if kind == "foreach":
            foreach_degree(body)
        if kind == "until":
            until_count(limit)
    except WdlError as exc:
        problems.append(LintProblem(action.path, exc.reason))
    return problems


def _predecessors(name: str, siblings: dict[str, dict[str, Any]]) -> set[str]:
    """Every action that `name` transitively runs after (cycle-safe)."""
    seen: set[str] = set()
    stack = list(as_object(as_object(siblings.get(name)).get("runAfter")))
    while stack:
        current = stack.pop()
        if current in seen or current not in siblings:
            continue
        seen.add(current)
        stack.extend(as_object(as_object(siblings[current]).get("runAfter")))
    return seen


def _expressions(body: dict[str, Any], path: str,
                 problems: list[LintProblem]) -> Iterator[tuple[str, str, list[FunctionCall]]]:
    for key, value in body.items():
        if key in STRUCTURAL_KEYS:
            continue
        for where, text in _strings(value, f"{path}.{key}"):
            if "@" not in text:
                continue
            try:
                template = compile_value(text, where)
            except WdlError as exc:
                problems.append(LintProblem(where, f"{exc.reason} in {text!r}"))
                continue
            for expression in template.expressions:
                yield where, expression.text, expression.calls


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside `value`, with its JSON path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def _lint_calls(action: _Action, where: str, text: str, calls: list[FunctionCall], by_name: dict[str, _Action],
                declared: set[str], initialized: set[str]) -> list[LintProblem]:
    problems = []
    for call in calls:
        key = call.name.lower()
        argument = call.literal_args[0] if call.literal_args else None
        unsettled = undocumented_arity_problem(call.name, len(call.literal_args))
        if key not in WORKFLOW_FUNCTIONS and library_lookup(call.name) is None:
            problems.append(LintProblem(where, f"{unknown_function_problem(call.name)} (in {text!r})"))
        elif unsettled is not None:
            problems.append(LintProblem(where, f"{unsettled} (in {text!r})"))
        elif key == "parameters" and isinstance(argument, str) and argument not in declared:
            problems.append(LintProblem(where, f"parameters('{argument}') is not declared in the definition's "
                                               f"parameters (declared: {sorted(declared)})"))
        elif key == "variables" and isinstance(argument, str) and argument not in initialized:
            problems.append(LintProblem(where, f"variables('{argument}') is never initialized"))
        elif key in ACTION_REFERENCES and isinstance(argument, str):
            problems += _lint_reference(action, where, call.name, argument, by_name)
        elif key in LOOP_REFERENCES and isinstance(argument, str) and argument not in _enclosing(action):
            problems.append(LintProblem(where, f"{call.name}('{argument}') does not name an enclosing loop"
                                               + names_differing_in_case(argument, _enclosing(action))))
    return problems


def _lint_reference(action: _Action, where: str, function: str, target: str,
                    by_name: dict[str, _Action]) -> list[LintProblem]:
    if target not in by_name:
        return [LintProblem(where, f"{function}('{target}') names an action that does not exist"
                                   + names_differing_in_case(target, by_name))]
    outer_loops = _foreach_loops(by_name[target]) - _enclosing(action)
    if outer_loops:
        return [LintProblem(where, f"{function}('{target}') reads an action inside Foreach "
                                   f"'{sorted(outer_loops)[0]}', which has one result per iteration; "
                                   "read it inside that loop")]
    if target not in _can_have_run(action, by_name) and not _until_reads_its_body(action, where, by_name[target]):
        return [LintProblem(where, f"{function}('{target}') names an action that cannot have run before "
                                   f"'{action.name}'; add it to the runAfter chain")]
    return []


def _until_reads_its_body(action: _Action, where: str, target: _Action) -> bool:
    """An Until tests its condition after the actions inside it have run, so its own `expression` may read
    them (https://learn.microsoft.com/azure/logic-apps/logic-apps-workflow-actions-triggers#until-action)."""
    return (str(action.body.get("type", "")).lower() == "until" and where.startswith(f"{action.path}.expression")
            and action.name in _enclosing(target))


def _enclosing(action: _Action) -> set[str]:
    return {container.name for container in _containers(action)}


def _can_have_run(action: _Action, by_name: dict[str, _Action]) -> set[str]:
    """Actions finished before `action` runs: runAfter chains of it and its containers, with their insides."""
    done: set[str] = set()
    current: _Action | None = action
    while current is not None:
        done |= _predecessors(current.name, current.siblings)
        current = current.parent
    inside = {name for name, candidate in by_name.items() if _enclosing(candidate) & done}
    return done | inside


def _foreach_loops(action: _Action) -> set[str]:
    """The Foreach loops around `action`: its data exists once per iteration of each."""
    return {c.name for c in _containers(action) if str(c.body.get("type", "")).lower() == "foreach"}
