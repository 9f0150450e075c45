"""The `orderbridge` command. Each subcommand is a plain click command registered on `main`, so a
new one (e.g. `local`) is one more `main.add_command(...)`.

Every error the tooling or the Pulumi program raises on purpose ends as one `Error: ...` message
with what to do, and exit status 1, never a traceback (`_OrderbridgeGroup`).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from infra.errors import InfraError
from orderbridge import diff, packaging, synth, workflow_view
from orderbridge.errors import OrderbridgeError
from orderbridge.local.cli import local_group
from orderbridge.operations import refetch_command


class _OrderbridgeGroup(click.Group):
    """Turns the two error roots into click's one-line error message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (OrderbridgeError, InfraError) as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_OrderbridgeGroup)
def main() -> None:
    """orderbridge: ECP <-> ERP order integration on Azure, as code."""


@main.command("synth")
@click.option("--stack", default="dev", show_default=True, help="Stack whose Pulumi.<stack>.yaml is used.")
@click.option("--json", "as_json", is_flag=True, help="Print the resources as JSON (secrets redacted).")
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Desired-state JSON to compare queues with [default: tests/snapshots/<stack>.json].",
)
def synth_command(stack: str, as_json: bool, baseline: Path | None) -> None:
    """Run the Pulumi program offline under mocks and print the stack's desired state."""
    result = synth.synthesize(stack)
    state = result.as_json()
    if as_json:
        click.echo(json.dumps(state, indent=2, sort_keys=True))
    else:
        click.echo(synth.render_table(result))
    previous = (
        json.loads(baseline.read_text(encoding="utf-8")) if baseline else synth.load_snapshot(stack)
    )
    for warning in synth.queue_replacements(state, previous or []):
        click.secho(f"WARNING: {warning}", fg="yellow", err=True)


@main.command("package")
@click.option(
    "--dist",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory [default: dist/ in the repository].",
)
def package_command(dist: Path | None) -> None:
    """Build the Function App deployment zip (sources, schemas, Linux/Python 3.11 wheels) into dist/."""
    ref = packaging.build_package(dist=dist)
    size = ref.path.stat().st_size
    click.echo(f"built {ref.path} ({size / 1_048_576:.1f} MiB) from sources {ref.source_hash[:16]}")


main.add_command(refetch_command)
main.add_command(local_group)

_RENDERERS = {"markdown": diff.render_markdown, "text": diff.render_text, "json": diff.render_json}
# The exit status of `--fail-on-data-loss` when a replacement loses data (1 is an error, 2 a usage error).
DATA_LOSS_EXIT = 3


@main.command("diff")
@click.option("--base", "base_ref", metavar="GIT-REF", default=None,
              help="Commit to compare with [default: the merge base of HEAD and main, else origin/main].")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A snapshot (`orderbridge synth --json`) to compare with instead of a commit; needs --stack.")
@click.option("--stack", "stacks", multiple=True, help="Stack to compare (repeatable) [default: every stack].")
@click.option("--format", "output_format", type=click.Choice(sorted(_RENDERERS)), default="text",
              show_default=True, help="markdown fits one pull-request comment.")
@click.option("--fail-on-data-loss", is_flag=True,
              help=f"Exit {DATA_LOSS_EXIT} when a replacement or removal would lose data.")
def diff_command(base_ref: str | None, baseline: Path | None, stacks: tuple[str, ...], output_format: str,
                 fail_on_data_loss: bool) -> None:
    """Compare the working tree's desired state with a base, offline: resources, data-losing
    replacements, access, workflow actions and their cost, app settings. Exits 0 whenever a diff was
    computed, changes or not."""
    if baseline is not None:
        if base_ref is not None or len(stacks) != 1:
            raise click.UsageError("--baseline compares one stack: give exactly one --stack, and no --base")
        report = diff.diff_against_baseline(Path.cwd(), baseline, stacks[0])
    else:
        report = diff.diff_against_commit(Path.cwd(), base_ref, stacks)
    click.echo(_RENDERERS[output_format](report), nl=False)
    if fail_on_data_loss and report.loses_data:
        sys.exit(DATA_LOSS_EXIT)


@main.group("workflow")
def workflow_group() -> None:
    """Read the Logic App workflows in workflows/."""


@workflow_group.command("show")
@click.argument("name")
@click.option("--format", "output_format", type=click.Choice(["mermaid", "text"]), default="text",
              show_default=True, help="A Mermaid flowchart (renders in GitHub markdown) or an indented tree.")
def workflow_show_command(name: str, output_format: str) -> None:
    """Show workflow NAME (its file name without .json) as a flowchart: actions, runAfter edges,
    branches, loops with their concurrency, and which actions are billed."""
    click.echo(workflow_view.show(workflow_view.load_workflow_file(name), name, output_format))


if __name__ == "__main__":
    sys.exit(main())
