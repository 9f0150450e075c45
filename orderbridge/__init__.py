"""orderbridge tooling: the CLI, the offline workflow engine (`orderbridge.wdl`) and helpers shared
by the Pulumi program, the tests and the local stack."""
