"""orderbridge tooling, on top of the Pulumi program (`infra`) and the integrators: the CLI, offline
synthesis (`orderbridge.synth`), the workflow engine (`orderbridge.wdl`) and the fake ERP/ECP APIs."""
