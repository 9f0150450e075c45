"""The CLI ends every error the tooling or the Pulumi program raises on purpose with one message and
exit status 1, never a traceback."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from infra.errors import PackageNotBuilt, StackConfigError, WorkflowDefinitionError
from orderbridge import synth
from orderbridge.cli import main
from orderbridge.errors import SynthError
from orderbridge.wdl import DefinitionError


@pytest.mark.parametrize(
    "error",
    [
        WorkflowDefinitionError("workflows/order-events-processor.json is not valid JSON: line 3"),
        StackConfigError("dev", ["orderbridge:eventBatchSize must be between 1 and 10, got 99"]),
        PackageNotBuilt("dist/integrator.zip is missing: run `orderbridge package` before `pulumi up`"),
        SynthError("no stack file Pulumi.x.yaml; known stacks: dev, prod"),
        DefinitionError("action 'Send' runs after 'Nope', which does not exist"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_error_is_one_message_without_a_traceback(error: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(stack: str) -> synth.Synthesis:
        raise error

    monkeypatch.setattr(synth, "synthesize", fail)
    result = CliRunner().invoke(main, ["synth", "--stack", "dev"])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {error}")
    assert "Traceback" not in result.output and not isinstance(result.exception, type(error))
