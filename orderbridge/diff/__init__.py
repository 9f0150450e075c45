"""`orderbridge diff`: what a change does to each stack, computed offline, without credentials.

Both sides are desired states from `orderbridge.synth` (`_states`): the working tree, and the base
commit exported into a temp dir (`_git`) or a snapshot file. `_resources` compares resources, the
replacements that lose data, access and app settings; `_workflows` compares Logic Apps action by
action and measures their cost in the engine; `_render` writes markdown, text or JSON.
"""
from orderbridge.diff._errors import DiffError
from orderbridge.diff._render import GITHUB_COMMENT_LIMIT, MARKDOWN_BUDGET, render_json, render_markdown, render_text
from orderbridge.diff._report import DiffReport, StackDiff, compare_states, diff_against_baseline, diff_against_commit

__all__ = [
    "GITHUB_COMMENT_LIMIT",
    "MARKDOWN_BUDGET",
    "DiffError",
    "DiffReport",
    "StackDiff",
    "compare_states",
    "diff_against_baseline",
    "diff_against_commit",
    "render_json",
    "render_markdown",
    "render_text",
]
