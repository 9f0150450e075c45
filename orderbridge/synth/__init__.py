"""`orderbridge synth`: run the Pulumi program offline under mocks and show the desired state.

The program runs exactly as `pulumi up` would run it, except that resource registrations go to
Pulumi's unit-test mock monitor (`pulumi.runtime.set_mocks`) instead of an engine: nothing reaches
Azure and no credentials are needed. `secure:` values in `Pulumi.<stack>.yaml` cannot be decrypted
offline, so they are replaced by placeholders that the program still receives as Pulumi secrets.

One module per job: `_stack_files` (reading the stack file), `_mocks` (the mock answers),
`_runner` (running the program) with `_cache`, `_state` (what was registered), `_render` (the
table) and `_drift` (queue replacements against a snapshot). Pulumi internals are used only
through `infra.pulumi_internals`.
"""
from orderbridge.errors import SynthError
from orderbridge.synth._cache import CACHE_DIR, content_key
from orderbridge.synth._drift import SNAPSHOT_DIR, load_snapshot, queue_replacements
from orderbridge.synth._mocks import MOCK_CREATED_AT, MOCK_SUBSCRIPTION, MOCK_TENANT, OfflineMocks
from orderbridge.synth._render import render_table
from orderbridge.synth._runner import run_offline, synthesize
from orderbridge.synth._stack_files import read_stack_file
from orderbridge.synth._state import REDACTED, Synthesis, SynthResource

__all__ = [
    "CACHE_DIR",
    "MOCK_CREATED_AT",
    "MOCK_SUBSCRIPTION",
    "MOCK_TENANT",
    "REDACTED",
    "SNAPSHOT_DIR",
    "OfflineMocks",
    "SynthError",
    "SynthResource",
    "Synthesis",
    "load_snapshot",
    "content_key",
    "queue_replacements",
    "read_stack_file",
    "render_table",
    "run_offline",
    "synthesize",
]
