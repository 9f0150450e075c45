"""Security rules of the topology, one rule per test; failures name the resource URN."""
from __future__ import annotations

import json
import re

import pytest

from infra import roles
from infra.config import parse_config
from infra.pipeline import dead_letter_container
from topology import PIPELINES
from orderbridge.synth import REDACTED, Synthesis, SynthResource, read_stack_file

ROLE_BY_ID = {role.id: role for role in roles.DATA_PLANE_ROLES}
# The narrowest scopes Azure offers for each role: one queue, one topic, one container, the vault.
NARROW_SCOPE = {
    roles.SERVICE_BUS_DATA_SENDER: r"/namespaces/[^/]+/queues/[^/]+$",
    roles.SERVICE_BUS_DATA_RECEIVER: r"/namespaces/[^/]+/queues/[^/]+$",
    roles.STORAGE_BLOB_DATA_CONTRIBUTOR: r"/blobServices/default/containers/[^/]+$",
    roles.STORAGE_BLOB_DATA_READER: r"/blobServices/default/containers/[^/]+$",
    roles.KEY_VAULT_SECRETS_USER: r"/Microsoft\.KeyVault/vaults/[^/]+$",
    roles.EVENTGRID_DATA_SENDER: r"/Microsoft\.EventGrid/topics/[^/]+$",
    # The Functions host creates its own containers in AzureWebJobsStorage: account scope is the
    # documented requirement, on an account that holds nothing else.
    roles.STORAGE_BLOB_DATA_OWNER: r"/storageAccounts/storderbridge[a-z0-9]*fn[a-z0-9]*$",
}


def inputs(resource: SynthResource) -> dict:
    return resource.public_inputs()


def test_service_bus_local_auth_is_off_and_tls_12(stack: Synthesis) -> None:
    (namespace,) = stack.of_type("servicebus:Namespace")
    assert inputs(namespace)["disableLocalAuth"] is True, namespace.urn
    assert inputs(namespace)["minimumTlsVersion"] == "1.2", namespace.urn
    assert inputs(namespace)["sku"]["name"] == "Standard", f"{namespace.urn}: sessions need Standard"


def test_topics_accept_entra_only_and_tls_12(stack: Synthesis) -> None:
    for topic in stack.of_type("eventgrid:Topic"):
        assert inputs(topic)["disableLocalAuth"] is True, topic.urn
        assert inputs(topic)["minimumTlsVersionAllowed"] == "1.2", topic.urn
        assert inputs(topic)["identity"]["type"] == "SystemAssigned", topic.urn


def test_storage_has_no_public_blobs_no_keys_https_tls_12(stack: Synthesis) -> None:
    for account in stack.of_type("storage:StorageAccount"):
        settings = inputs(account)
        assert settings["allowBlobPublicAccess"] is False, account.urn
        assert settings["allowSharedKeyAccess"] is False, account.urn
        assert settings["enableHttpsTrafficOnly"] is True, account.urn
        assert settings["minimumTlsVersion"] == "TLS1_2", account.urn
    for container in stack.of_type("storage:BlobContainer"):
        assert inputs(container)["publicAccess"] == "None", container.urn


def test_function_app_is_https_only_with_tls_12(stack: Synthesis) -> None:
    (app,) = stack.of_type("web:WebApp")
    assert inputs(app)["httpsOnly"] is True, app.urn
    assert inputs(app)["siteConfig"]["minTlsVersion"] == "1.2", app.urn
    assert inputs(app)["siteConfig"]["ftpsState"] == "Disabled", app.urn


def test_vault_uses_rbac_and_prod_has_purge_protection(dev: Synthesis, prod: Synthesis) -> None:
    for synthesis, purge in ((dev, None), (prod, True)):
        (vault,) = synthesis.of_type("keyvault:Vault")
        properties = inputs(vault)["properties"]
        assert properties["enableRbacAuthorization"] is True, vault.urn
        assert properties.get("enablePurgeProtection") is purge, vault.urn


@pytest.mark.parametrize(
    ("resource_name", "secret_path"),
    [
        ("secrets-ecp-api-key", "properties.value"),
        ("secrets-erp-api-key", "properties.value"),
        ("ecp-to-erp-workflow", "parameters.sourceApiKey.value"),
        ("erp-to-ecp-workflow", "parameters.sourceApiKey.value"),
        ("ecp-to-erp-subscription", "destination.endpointUrl"),
        ("erp-to-ecp-subscription", "destination.endpointUrl"),
    ],
)
def test_secrets_reach_the_engine_marked_secret(stack: Synthesis, resource_name: str, secret_path: str) -> None:
    resource = stack.named(resource_name)
    assert secret_path in resource.secret_paths(), f"{resource.urn}: {secret_path} is not a Pulumi secret"
    value = inputs(resource)
    for part in secret_path.split("."):
        value = value[part]
    assert value == REDACTED


def test_nothing_else_is_secret(stack: Synthesis) -> None:
    """Only the keys and the callback URLs are secret, so reviewers see every other setting."""
    secret = {(r.name, p) for r in stack.resources for p in r.secret_paths()}
    assert secret == {
        ("secrets-ecp-api-key", "properties.value"), ("secrets-erp-api-key", "properties.value"),
        ("ecp-to-erp-workflow", "parameters.sourceApiKey.value"),
        ("erp-to-ecp-workflow", "parameters.sourceApiKey.value"),
        ("ecp-to-erp-subscription", "destination.endpointUrl"),
        ("erp-to-ecp-subscription", "destination.endpointUrl"),
    }


def test_no_plain_secret_anywhere_in_the_public_state(stack: Synthesis) -> None:
    public = json.dumps(stack.as_json()) + json.dumps(stack.outputs)
    assert "offline-placeholder-for-" not in public, "an API key placeholder leaked unredacted"
    assert "sig=" not in public, "a Logic App callback URL (with its SAS signature) leaked unredacted"


def test_api_keys_reach_the_function_only_as_key_vault_references(stack: Synthesis) -> None:
    (app,) = stack.of_type("web:WebApp")
    settings = {s["name"]: s["value"] for s in inputs(app)["siteConfig"]["appSettings"]}
    for key, secret in (("ERP_API_KEY", "erp-api-key"), ("ECP_API_KEY", "ecp-api-key")):
        assert re.fullmatch(rf"@Microsoft\.KeyVault\(VaultName=kv-orderbridge-\w+;SecretName={secret}\)",
                            settings[key]), f"{app.urn}: {key}={settings[key]}"
    assert not [k for k in settings if "ConnectionString" in k or k == "AzureWebJobsStorage"], (
        f"{app.urn}: connections must be identity-based"
    )


def test_every_role_assignment_is_a_narrowly_scoped_data_plane_role(stack: Synthesis) -> None:
    assignments = stack.of_type("authorization:RoleAssignment")
    assert assignments
    for assignment in assignments:
        settings = inputs(assignment)
        role_id = settings["roleDefinitionId"].rsplit("/", 1)[-1]
        role = ROLE_BY_ID.get(role_id)
        assert role is not None, f"{assignment.urn}: {role_id} is not one of the allowed data-plane roles"
        assert re.search(NARROW_SCOPE[role], settings["scope"]), (
            f"{assignment.urn}: {role.name} on {settings['scope']} is broader than the platform requires"
        )


def test_no_role_on_namespace_resource_group_or_subscription(stack: Synthesis) -> None:
    for assignment in stack.of_type("authorization:RoleAssignment"):
        scope = inputs(assignment)["scope"]
        assert not re.search(r"(/namespaces/[^/]+|/resourceGroups/[^/]+|/subscriptions/[^/]+)$", scope), (
            f"{assignment.urn}: scope {scope}"
        )


def grants_by_principal(stack: Synthesis) -> dict[str, set[tuple[str, str]]]:
    """Every principal's (role, scope) pairs; scopes from the provider onwards, e.g.
    `Microsoft.ServiceBus/namespaces/sb-orderbridge-dev/queues/online-orders`."""
    grants: dict[str, set[tuple[str, str]]] = {}
    for assignment in stack.of_type("authorization:RoleAssignment"):
        settings = assignment.revealed_inputs()
        grants.setdefault(settings["principalId"], set()).add(
            (settings["description"], settings["scope"].split("/providers/", 1)[1])
        )
    return grants


def expected_grants(stack: Synthesis) -> dict[str, set[tuple[str, str]]]:
    """Who may do what, written out from the design: each identity found by its own principal id."""
    config = parse_config(stack.stack, *read_stack_file(stack.stack))
    namespace = f"Microsoft.ServiceBus/namespaces/sb-orderbridge-{stack.stack}/queues"
    dead_letters = f"Microsoft.Storage/storageAccounts/storderbridge{stack.stack}dl/blobServices/default/containers"
    sender, receiver = roles.SERVICE_BUS_DATA_SENDER.name, roles.SERVICE_BUS_DATA_RECEIVER.name
    principal = {r.name: r.outputs for r in stack.resources}
    expected: dict[str, set[tuple[str, str]]] = {}

    def add(principal_id: str, *pairs: tuple[str, str]) -> None:
        expected.setdefault(principal_id, set()).update(pairs)

    function = principal["integrator-identity"]["principalId"]
    add(function,
        (roles.KEY_VAULT_SECRETS_USER.name, f"Microsoft.KeyVault/vaults/kv-orderbridge-{stack.stack}"),
        (roles.STORAGE_BLOB_DATA_OWNER.name, f"Microsoft.Storage/storageAccounts/storderbridge{stack.stack}fn"))
    publishers = {"ecp": config.ecp_publisher_principal_ids, "erp": config.erp_publisher_principal_ids}
    for spec in PIPELINES:
        queue, parking = f"{namespace}/{spec.queue_name}", f"{namespace}/{spec.parking_queue_name}"
        container = f"{dead_letters}/{dead_letter_container(spec)}"
        add(principal[f"{spec.key}-workflow"]["identity"]["principalId"], (sender, queue), (sender, parking))
        add(principal[f"{spec.key}-topic"]["identity"]["principalId"],
            (roles.STORAGE_BLOB_DATA_CONTRIBUTOR.name, container))
        add(function, (receiver, queue), (sender, queue), (sender, parking))
        for operator in config.operator_principal_ids:
            add(operator, (receiver, queue), (sender, queue), (receiver, parking), (sender, parking),
                (roles.STORAGE_BLOB_DATA_READER.name, container))
        for publisher in publishers[spec.source]:
            add(publisher, (roles.EVENTGRID_DATA_SENDER.name, f"Microsoft.EventGrid/topics/{spec.topic_name}"))
    return expected


def test_each_identity_gets_exactly_what_it_needs(stack: Synthesis) -> None:
    """Keyed by principal id, so a grant given to the wrong identity fails however it is named."""
    actual, expected = grants_by_principal(stack), expected_grants(stack)
    for principal_id in actual.keys() | expected.keys():
        urns = [a.urn for a in stack.of_type("authorization:RoleAssignment")
                if a.revealed_inputs()["principalId"] == principal_id]
        assert actual.get(principal_id, set()) == expected.get(principal_id, set()), (
            f"principal {principal_id}: granted {sorted(actual.get(principal_id, set()))},"
            f" expected {sorted(expected.get(principal_id, set()))}; assignments: {urns}"
        )


def test_identities_are_distinct(stack: Synthesis) -> None:
    """Each workflow, topic and the Function App has its own principal: exact grants mean nothing otherwise."""
    expected = expected_grants(stack)
    config = parse_config(stack.stack, *read_stack_file(stack.stack))
    people = set(config.operator_principal_ids + config.ecp_publisher_principal_ids + config.erp_publisher_principal_ids)
    assert len(set(expected) - people) == 2 * len(PIPELINES) + 1


def test_prod_protects_queues_vault_storage_and_their_resource_group(prod: Synthesis) -> None:
    """Deleting the resource group would delete everything in it: it is protected and retained too."""
    data = (prod.of_type("resources:ResourceGroup") + prod.of_type("servicebus:Queue") + prod.of_type("keyvault:Vault")
            + prod.of_type("storage:StorageAccount") + prod.of_type("storage:BlobContainer")
            + prod.of_type("servicebus:Namespace"))
    for resource in data:
        assert resource.protect and resource.retain_on_delete, f"{resource.urn} is not protected in prod"


def test_dev_can_be_torn_down(dev: Synthesis) -> None:
    assert not [r.urn for r in dev.resources if r.protect]


def test_stack_outputs_hold_nothing_secret(stack: Synthesis) -> None:
    rendered = json.dumps(stack.outputs)
    assert REDACTED not in rendered and "sig=" not in rendered, rendered
