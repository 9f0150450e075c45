"""The three forms of a diff: markdown for a pull-request comment, text for a terminal, JSON for tools.

The markdown stays under GitHub's comment limit (65,536 characters; the API answers "Body is too
long (maximum is 65536 characters)", telia-oss/github-pr-resource#259, danger/danger#424). Like
pulumi/actions (src/libs/pr.ts) it aims at 64,000, leaving room for the poster's marker, and drops
detail in steps (flowcharts, then property values and expressions) before it cuts, with a note.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from orderbridge.diff._changes import ABSENT, Change
from orderbridge.diff._report import DiffReport, StackDiff
from orderbridge.diff._resources import AccessChange, DataLoss, ResourceChange, SettingChange
from orderbridge.diff._workflows import TOP_LEVEL, TRIGGER, ActionChange, EdgeChange, Measured, WorkflowChange

GITHUB_COMMENT_LIMIT = 65_536
MARKDOWN_BUDGET = 64_000
_VALUE_CHARS = 160
_CUT_RESERVE = 600  # room for the closing tags and the note after a hard cut
# Where a resource's change is described when it is not property by property.
_SECTION_NAMES = {"definition": "the workflow", "siteConfig.appSettings": "app settings"}


@dataclass(frozen=True)
class _Detail:
    flowcharts: bool
    values: bool  # property values, expressions before/after


_LEVELS = (
    (_Detail(flowcharts=True, values=True), ""),
    (_Detail(flowcharts=False, values=True), "the flowcharts"),
    (_Detail(flowcharts=False, values=False), "the flowcharts, the property values and the expressions"),
)


def _value(value: Any) -> str:
    text = "(absent)" if value is ABSENT else value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS - 1] + "…"


def _statuses(statuses: tuple[str, ...] | None) -> str:
    return "(no edge)" if statuses is None else ", ".join(statuses)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _costs(measured: Measured | None) -> dict[int, int] | str | None:
    return measured if measured is None or isinstance(measured, str) else {c.events: c.total for c in measured}


def cost_summary(change: WorkflowChange, arrow: str) -> str:
    """`billable executions 5 → 6 for 1 event, 23 → 33 for 10 events` (or why a side was not measured)."""
    before, after = _costs(change.cost_before), _costs(change.cost_after)
    for side, measured in (("before", before), ("after", after)):
        if isinstance(measured, str):
            return f"billable executions {side}: not measured ({measured})"
    sizes = sorted(set(before or {}) | set(after or {}))
    parts = [f"{(before or {}).get(n, '–')} {arrow} {(after or {}).get(n, '–')} for {_plural(n, 'event')}"
             for n in sizes]
    return "billable executions " + ", ".join(parts)


def _workflow_counts(change: WorkflowChange) -> str:
    tally = {kind: sum(1 for a in change.actions if a.kind == kind) for kind in ("added", "removed", "changed")}
    counts = [f"{_plural(n, 'action')} {kind}" for kind, n in tally.items() if n]
    if change.edges:
        counts.append(_plural(len(change.edges), "runAfter edge") + " changed")
    return ", ".join(counts) or "definition changed"


# Markdown ------------------------------------------------------------------------------------------

def _code(value: Any) -> str:
    return f"<code>{html.escape(_value(value)).replace('|', '&#124;')}</code>"


def _fence(text: str, language: str) -> list[str]:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", text, fence]


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def _md_data_loss(losses: tuple[DataLoss, ...]) -> list[str]:
    if not losses:
        return []
    count = "1 change that LOSES DATA" if len(losses) == 1 else f"{len(losses)} changes that LOSE DATA"
    lines = ["> [!CAUTION]", f"> **{count}.** `pulumi up` would:"]
    lines += [f"> - {html.escape(loss.reason, quote=False)}" for loss in losses]
    return [*lines, ""]


def _md_access(access: tuple[AccessChange, ...]) -> list[str]:
    if not access:
        return []
    gained = sum(1 for a in access if a.gained)
    rows = ["| | principal id | type | role | on | assignment |", "|---|---|---|---|---|---|"]
    rows += [f"| {'gains' if a.gained else '**loses**'} | `{a.principal_id}` | {a.principal_type} | {a.role} |"
             f" {a.resource} | `{a.assignment}` |" for a in access]
    return _details(f"<b>Access</b>: {gained} gained, {len(access) - gained} lost", rows)


def _md_change(change: Change, detail: _Detail) -> str:
    if not detail.values:
        return f"`{change.path}`"
    return f"`{change.path}` {_code(change.before)} → {_code(change.after)}"


def _where(action: ActionChange) -> str:
    return "" if action.container == TOP_LEVEL else ", the trigger" if action.container == TRIGGER else \
        f", in {action.container}"


def _md_action(action: ActionChange, detail: _Detail) -> str:
    line = f"- {action.kind} `{action.name}` ({action.type}{_where(action)})"
    shown = [c for c in action.changes if not (c.is_expression and detail.values)]
    return line + (": " + "; ".join(_md_change(c, detail) for c in shown) if shown else "")


def _md_edge(edge: EdgeChange) -> str:
    return f"- `{edge.predecessor}` → `{edge.action}`: {_statuses(edge.before)} → {_statuses(edge.after)}"


def _md_workflow(change: WorkflowChange, detail: _Detail) -> list[str]:
    body = [f"Resource `{change.resource}`.", ""]
    if change.actions:
        body += ["**Actions**", *(_md_action(a, detail) for a in change.actions), ""]
    if change.edges:
        body += ["**runAfter edges**", *(_md_edge(e) for e in change.edges), ""]
    if change.definition:
        body += ["**Definition**", *(f"- {_md_change(c, detail)}" for c in change.definition), ""]
    if detail.values and change.expressions:
        body.append("**Expressions**")
        for action, expression in change.expressions:
            body += [f"`{action}` `{expression.path}`, before:", *_fence(_value_full(expression.before), "text"),
                     "after:", *_fence(_value_full(expression.after), "text")]
        body.append("")
    if detail.flowcharts:
        for side, chart in (("before", change.flowchart_before), ("after", change.flowchart_after)):
            if chart is not None:
                body += _details(f"Flowchart {side}", _fence(chart, "mermaid"))
    summary = (f"<b>Workflow <code>{change.workflow}</code></b>: {_workflow_counts(change)} ·"
               f" {html.escape(cost_summary(change, '→'))}")
    return _details(summary, body)


def _value_full(value: Any) -> str:
    return "(absent)" if value is ABSENT else value if isinstance(value, str) else json.dumps(value, indent=2)


def _md_settings(settings: tuple[SettingChange, ...], detail: _Detail) -> list[str]:
    if not settings:
        return []
    rows = ["| app | setting | before | after |", "|---|---|---|---|"]
    for s in settings:
        before, after = (_code(s.before if s.before is not None else ABSENT),
                         _code(s.after if s.after is not None else ABSENT)) if detail.values else ("", "")
        rows.append(f"| `{s.app}` | `{s.name}` | {before} | {after} |")
    return _details(f"<b>App settings</b>: {len(settings)} changed", rows)


def _md_resource(resource: ResourceChange, detail: _Detail) -> str:
    marker = {"added": "create", "removed": "**delete**", "changed": "update"}[resource.kind]
    line = f"- {marker} `{resource.short_type}` `{resource.name}`"
    notes = [_md_change(c, detail) for c in resource.changes]
    notes += [f"see {_SECTION_NAMES[s]} above" for s in resource.sections]
    return line + (": " + "; ".join(notes) if notes else "")


def _md_stack(stack: StackDiff, detail: _Detail) -> list[str]:
    counts = f"{stack.count('added')} to create · {stack.count('changed')} to update · {stack.count('removed')} to delete"
    lines = [f"### Stack `{stack.stack}`: {counts}", ""]
    if stack.note:
        lines += [f"_{stack.note}_", ""]
    if not stack.resources:
        return [*lines, "No changes.", ""]
    lines += _md_data_loss(stack.data_loss)
    lines += _md_access(stack.access)
    for workflow in stack.workflows:
        lines += _md_workflow(workflow, detail)
    lines += _md_settings(stack.settings, detail)
    lines += _details(f"<b>Resources</b>: {counts}", [_md_resource(r, detail) for r in stack.resources])
    return lines


def _markdown(report: DiffReport, detail: _Detail, left_out: str) -> str:
    lines = ["## orderbridge diff", "",
             f"{html.escape(report.base)} → {report.head}, synthesized offline (Pulumi mocks, no cloud credentials).",
             ""]
    for stack in report.stacks:
        lines += _md_stack(stack, detail)
    if left_out:
        lines += _shortened_note(left_out)
    return "\n".join(lines).rstrip() + "\n"


def _shortened_note(left_out: str) -> list[str]:
    return ["> [!NOTE]", f"> Shortened to fit GitHub's {GITHUB_COMMENT_LIMIT:,}-character comment limit: {left_out}"
            " are left out. `orderbridge diff --format text` prints all of it.", ""]


def _cut(text: str, budget: int) -> str:
    """`text` cut at a line to fit `budget`, with open code fences and <details> closed, and a note."""
    kept: list[str] = []
    size, fence, open_details = 0, "", 0
    for line in text.splitlines():
        if size + len(line) + 1 > budget - _CUT_RESERVE:
            break
        kept.append(line)
        size += len(line) + 1
        opening = re.match(r"`{3,}", line)
        if opening:
            fence = "" if fence == opening.group(0) else fence or opening.group(0)
        elif not fence:
            open_details += line.count("<details>") - line.count("</details>")
    closing = ([fence] if fence else []) + ["</details>"] * open_details
    return "\n".join([*kept, *closing, "", *_shortened_note("the rest of the diff")]).rstrip() + "\n"


def render_markdown(report: DiffReport, budget: int = MARKDOWN_BUDGET) -> str:
    """Markdown for one pull-request comment, at most `budget` characters."""
    text = ""
    for detail, left_out in _LEVELS:
        text = _markdown(report, detail, left_out)
        if len(text) <= budget:
            return text
    return _cut(text, budget)


# Text ----------------------------------------------------------------------------------------------

def _text_stack(stack: StackDiff) -> list[str]:
    lines = [f"== stack {stack.stack}: {stack.count('added')} to create, {stack.count('changed')} to update,"
             f" {stack.count('removed')} to delete" + (f" ({stack.note})" if stack.note else "")]
    if not stack.resources:
        return [*lines, "  no changes"]
    if stack.data_loss:
        lines += ["  DATA LOSS:", *(f"  !! {loss.reason}" for loss in stack.data_loss)]
    lines += [f"  access: {a.principal_id} ({a.principal_type}) {'gains' if a.gained else 'LOSES'} {a.role}"
              f" on {a.resource} [{a.assignment}]" for a in stack.access]
    for change in stack.workflows:
        lines.append(f"  workflow {change.workflow} ({change.resource}): {_workflow_counts(change)};"
                     f" {cost_summary(change, '->')}")
        for action in change.actions:
            lines.append(f"    {action.kind} action {action.name} ({action.type}{_where(action)})")
            lines += [f"      {c.path}: {_value(c.before)} -> {_value(c.after)}" for c in action.changes]
        lines += [f"    runAfter {e.predecessor} -> {e.action}: {_statuses(e.before)} -> {_statuses(e.after)}"
                  for e in change.edges]
        lines += [f"    definition {c.path}: {_value(c.before)} -> {_value(c.after)}" for c in change.definition]
    lines += [f"  app setting {s.app} {s.name}: {s.before if s.before is not None else '(absent)'} ->"
              f" {s.after if s.after is not None else '(absent)'}" for s in stack.settings]
    for resource in stack.resources:
        see = "".join(f" (see {_SECTION_NAMES[s]})" for s in resource.sections)
        lines.append(f"  {resource.kind} {resource.short_type} {resource.name}{see}")
        lines += [f"      {c.path}: {_value(c.before)} -> {_value(c.after)}" for c in resource.changes]
    return lines


def render_text(report: DiffReport) -> str:
    """Everything, for a terminal or a CI log."""
    lines = [f"orderbridge diff: {report.base} -> {report.head} (offline synthesis)"]
    for stack in report.stacks:
        lines += _text_stack(stack)
    return "\n".join(lines) + "\n"


# JSON ----------------------------------------------------------------------------------------------

def _change_json(change: Change) -> dict[str, Any]:
    found: dict[str, Any] = {"path": change.path}
    for side in ("before", "after"):
        if getattr(change, side) is not ABSENT:
            found[side] = getattr(change, side)
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, Change):
        return _change_json(value)
    if hasattr(value, "__dataclass_fields__"):
        return {name: _jsonable(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def render_json(report: DiffReport) -> str:
    """The report as JSON (absent sides of a change are left out; secrets are already replaced)."""
    return json.dumps({**_jsonable(report), "losesData": report.loses_data}, indent=2, sort_keys=True) + "\n"
