"""orderbridge's Pulumi components, one per concern; `infra.program.build` wires them for a stack."""
