"""orderbridge's Pulumi program: read the stack's config, build the topology, export its outputs."""
import pulumi

from infra.config import load_config
from infra.program import build
from infra.package import package_reference

for key, value in build(load_config(), package_reference(require_built=True)).items():
    pulumi.export(key, value)
