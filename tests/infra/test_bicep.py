"""Static checks of the azd infrastructure (infra/, azure.yaml) without the Bicep CLI or Azure.

The templates are parsed with the tree-sitter Bicep grammar and turned into a resource graph
(see bicep_graph.py); the tests then assert the security and wiring properties the deployment
relies on. The negative tests at the end prove each check can fail.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from shared.storage.names import QueueName, TableName
from tests.infra import bicep_graph as bg

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
WORKBOOK = INFRA / "app" / "workbooks" / "sync-operations.json"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
EXPECTED_MODULES = {"api", "storage", "identity", "rbac", "keyvault", "monitoring"}

BLOB_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
QUEUE_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
TABLE_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
KV_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
KV_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
KV_CERTIFICATES_OFFICER = "a4417e6f-fecd-4de8-b567-7b0420556985"

STORAGE = "Microsoft.Storage/storageAccounts"
APP_INSIGHTS = "Microsoft.Insights/components"
KEY_VAULT = "Microsoft.KeyVault/vaults"

QUEUES = [
    "graph-notifications",
    "graph-lifecycle",
    "ibss-hooks",
    "sync-bookings",
    "sync-rooms",
    "sync-series",
    "sync-ibss-series",
]
TABLES = ["subscriptions", "links", "syncevents", "rooms", "buildings", "conflicts", "dedup", "notifications"]
OTEL_METRICS = [
    "notifications_accepted",
    "notifications_rejected",
    "sync_propagation_lag_ms",
    "sync_conflicts",
    "echoes_suppressed",
    "graph_requests",
    "graph_throttled",
    "ibss_requests",
    "ibss_throttled",
    "poison_messages",
    "subscriptions_near_expiry",
    "subscription_renewal_failed",
]
APP_SETTINGS = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
    "AzureWebJobsStorage__tableServiceUri",
    "AZURE_CLIENT_ID",
    "SYNC_ORGANIZER_MODE",
    "SYNC_POLICY_MODE",
    "SYNC_TIMER_SCHEDULE",
    "SYNC_IBSS_CHANGE_DETECTION",
    "SYNC_IBSS_FEED_SCHEDULE",
    "GRAPH_TENANT_ID",
    "GRAPH_CLIENT_ID",
    "GRAPH_NOTIFICATION_URL",
    "GRAPH_LIFECYCLE_URL",
    "IBSS_BASE_URL",
    "IBSS_API_KEY",
    "IBSS_HOOK_SECRET",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}


@pytest.fixture(scope="module")
def deployment() -> bg.Deployment:
    return bg.load_deployment(MAIN)


def module_file(deployment: bg.Deployment, name: str) -> bg.BicepFile:
    return deployment.files[(INFRA / "app" / f"{name}.bicep").resolve()]


# --- parsing and layout ------------------------------------------------------------------------------


def test_expected_bicep_files_exist() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in BICEP_FILES}
    assert names == {"main.bicep"} | {f"app/{m}.bicep" for m in EXPECTED_MODULES}


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_file_parses_without_errors(path: Path) -> None:
    parsed = bg.parse_file(path)
    assert parsed.syntax_errors == []


def test_main_is_subscription_scoped_and_reaches_every_module(deployment: bg.Deployment) -> None:
    assert deployment.main.target_scope == "subscription"
    assert deployment.main.resources_of_type("Microsoft.Resources/resourceGroups")
    assert set(deployment.files) == {p.resolve() for p in BICEP_FILES}
    for module in deployment.main.modules.values():
        assert module.path is not None, f"{module.symbol}: registry modules cannot be resolved offline"
        assert module.path.is_file()
        assert module.body.get("scope") == bg.Expr("rg"), (
            f"{module.symbol} must deploy into the azd resource group"
        )


def test_loaded_files_exist(deployment: bg.Deployment) -> None:
    loaded = [p for f in deployment.files.values() for p in f.loaded_files]
    assert (INFRA / "abbreviations.json").resolve() in loaded
    assert WORKBOOK.resolve() in loaded
    assert all(p.is_file() for p in loaded)


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_file_passes_all_static_checks(path: Path) -> None:
    assert bg.check_file(bg.parse_file(path)) == []


# --- identity and role assignments -------------------------------------------------------------------


def test_identity_has_exactly_the_needed_roles(deployment: bg.Deployment) -> None:
    rbac = module_file(deployment, "rbac")
    identity_roles = [ra for ra in bg.role_assignments(rbac) if ra.principal == bg.Ref("identityPrincipalId")]
    granted = sorted((ra.role_id or "", ra.scope_type or "") for ra in identity_roles)
    assert granted == sorted(
        [
            (BLOB_OWNER, STORAGE),
            (QUEUE_CONTRIBUTOR, STORAGE),
            (TABLE_CONTRIBUTOR, STORAGE),
            (METRICS_PUBLISHER, APP_INSIGHTS),
            (KV_SECRETS_USER, KEY_VAULT),
        ]
    )
    for ra in identity_roles:
        assert ra.principal_type == "ServicePrincipal"
        assert not ra.conditional
        # guid(scope.id, principalId, roleId): deterministic, so redeploys do not duplicate assignments.
        assert isinstance(ra.name, bg.Call)
        scope_arg, principal_arg, role_arg = ra.name.args
        assert scope_arg == bg.Expr(f"{ra.scope_symbol}.id")
        assert principal_arg == bg.Ref("identityPrincipalId")
        assert role_arg == ra.role_id


def test_developer_roles_are_optional_and_data_plane_only(deployment: bg.Deployment) -> None:
    rbac = module_file(deployment, "rbac")
    assert rbac.params["userPrincipalId"].default == ""
    user_roles = [ra for ra in bg.role_assignments(rbac) if ra.principal == bg.Ref("userPrincipalId")]
    assert user_roles, "the deploying developer should get data roles, as azd templates do"
    assert all(ra.conditional for ra in user_roles)
    assert all(ra.principal_type == bg.Ref("userPrincipalType") for ra in user_roles)
    assert {ra.role_id for ra in user_roles} <= {
        BLOB_OWNER,
        QUEUE_CONTRIBUTOR,
        TABLE_CONTRIBUTOR,
        METRICS_PUBLISHER,
        KV_SECRETS_OFFICER,
        KV_CERTIFICATES_OFFICER,
    }
    every = bg.role_assignments(rbac)
    assert len(every) == len(user_roles) + 5, "no assignment for any other principal"


def test_role_assignments_only_in_rbac_module(deployment: bg.Deployment) -> None:
    for path, parsed in deployment.files.items():
        if path.name != "rbac.bicep":
            assert parsed.resources_of_type("Microsoft.Authorization/roleAssignments") == [], path.name


def test_the_site_runs_as_the_identity_that_holds_the_roles(deployment: bg.Deployment) -> None:
    main = deployment.main
    assert main.modules["rbac"].params["identityPrincipalId"] == bg.Expr("identity.outputs.principalId")
    assert main.modules["api"].params["identityId"] == bg.Expr("identity.outputs.resourceId")
    assert main.modules["api"].params["identityClientId"] == bg.Expr("identity.outputs.clientId")
    assert main.modules["api"].body.get("dependsOn") == [bg.Expr("rbac")]

    identity_file = module_file(deployment, "identity")
    (uami,) = identity_file.resources_of_type("Microsoft.ManagedIdentity/userAssignedIdentities")
    outputs = {name: o.text for name, o in identity_file.outputs.items()}
    assert outputs["principalId"] == f"{uami.symbol}.properties.principalId"
    assert outputs["resourceId"] == f"{uami.symbol}.id"
    assert outputs["clientId"] == f"{uami.symbol}.properties.clientId"

    (site,) = module_file(deployment, "api").resources_of_type("Microsoft.Web/sites")
    identity = site.body["identity"]
    assert isinstance(identity, dict)
    assert identity["type"] == "UserAssigned"
    assert identity["userAssignedIdentities"] == {"${identityId}": {}}
    assert site.properties["keyVaultReferenceIdentity"] == bg.Ref("identityId")


# --- Function App ------------------------------------------------------------------------------------


def test_flex_consumption_plan_and_python_311_runtime(deployment: bg.Deployment) -> None:
    api = module_file(deployment, "api")
    (plan,) = api.resources_of_type("Microsoft.Web/serverfarms")
    assert plan.body["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan.properties["reserved"] is True

    (site,) = api.resources_of_type("Microsoft.Web/sites")
    assert site.body["kind"] == "functionapp,linux"
    assert site.properties["httpsOnly"] is True
    config = site.properties["functionAppConfig"]
    assert isinstance(config, dict)
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    deployment_storage = config["deployment"]
    assert isinstance(deployment_storage, dict)
    storage = deployment_storage["storage"]
    assert isinstance(storage, dict)
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": bg.Ref("identityId"),
    }
    scale = config["scaleAndConcurrency"]
    assert isinstance(scale, dict)
    assert "alwaysReady" not in scale, "always-ready instances are billed while idle"
    assert "azd-service-name" in bg.source_text(site.body["tags"])
    assert api.params["serviceName"].default == "api"


def test_app_settings_are_complete_and_secrets_come_from_key_vault(deployment: bg.Deployment) -> None:
    api = module_file(deployment, "api")
    variants = bg.app_settings_variants(api)
    assert len(variants) == 2, "one variant per Graph credential type"
    credential_keys = set()
    for settings in variants:
        extra = set(settings) - APP_SETTINGS
        assert len(extra) == 1
        credential_keys |= extra
        assert not any(k.startswith(("FUNCTIONS_WORKER_RUNTIME", "WEBSITE_CONTENT")) for k in settings)
        assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
        assert settings["AzureWebJobsStorage__clientId"] == bg.Ref("identityClientId")
        assert settings["AZURE_CLIENT_ID"] == bg.Ref("identityClientId")
        for key in ("IBSS_API_KEY", "IBSS_HOOK_SECRET", *extra):
            assert bg.is_key_vault_reference(settings[key]), key
        auth = settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
        assert isinstance(auth, bg.Template)
        assert auth.parts == ("ClientId=", bg.Ref("identityClientId"), ";Authorization=AAD")
        for key, path in (
            ("GRAPH_NOTIFICATION_URL", "/api/graph/notifications"),
            ("GRAPH_LIFECYCLE_URL", "/api/graph/lifecycle"),
        ):
            url = settings[key]
            assert isinstance(url, bg.Template)
            assert url.literal_prefix == "https://"
            assert url.parts[-1] == path
    assert credential_keys == {"GRAPH_CLIENT_CERTIFICATE", "GRAPH_CLIENT_SECRET"}


# --- storage, Key Vault, monitoring --------------------------------------------------------------------


def test_queues_and_tables_are_created(deployment: bg.Deployment) -> None:
    storage = module_file(deployment, "storage")
    (queues,) = storage.resources_of_type("Microsoft.Storage/storageAccounts/queueServices/queues")
    (tables,) = storage.resources_of_type("Microsoft.Storage/storageAccounts/tableServices/tables")
    assert isinstance(queues.loop_items, list)
    assert isinstance(tables.loop_items, list)
    queue_names = [q for q in queues.loop_items if isinstance(q, str)]
    table_names = [t for t in tables.loop_items if isinstance(t, str)]
    assert len(queue_names) == len(queues.loop_items)
    assert len(table_names) == len(tables.loop_items)
    assert set(QUEUES) <= set(queue_names)
    assert set(TABLES) <= set(table_names)
    # The app's own name registry is the source of truth: every name it uses must exist in Azure.
    assert sorted(queue_names) == sorted(q.value for q in QueueName)
    assert sorted(table_names) == sorted(t.value for t in TableName)
    (container,) = storage.resources_of_type("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container.name == bg.Ref("deploymentContainerName")


def test_key_vault_holds_no_secret_values(deployment: bg.Deployment) -> None:
    for parsed in deployment.files.values():
        assert parsed.resources_of_type("Microsoft.KeyVault/vaults/secrets") == []
    (vault,) = module_file(deployment, "keyvault").resources_of_type(KEY_VAULT)
    assert vault.properties["enableRbacAuthorization"] is True
    assert vault.properties["enablePurgeProtection"] is True


def test_no_secret_in_an_output_or_a_parameter_default(deployment: bg.Deployment) -> None:
    for parsed in deployment.files.values():
        assert bg.check_params(parsed) == [], parsed.path.name
        assert bg.check_outputs(parsed) == [], parsed.path.name
        assert not any(p.secure for p in parsed.params.values()), "secrets go to Key Vault, not parameters"
    # The azd parameter file: defaults after '=' are settings, never credentials.
    document = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    for name, spec in document["parameters"].items():
        _, _, default = str(spec["value"]).strip("${}").partition("=")
        assert not bg.looks_like_secret_value(default), name
    # Every output value is an id, a name, a URL or the (local-auth-disabled) App Insights connection string.
    outputs = deployment.main.outputs
    assert all(not re.search(r"(?i)secret|password|key(?!_vault)", name) for name in outputs)


def test_alerts_cover_the_operational_signals(deployment: bg.Deployment) -> None:
    monitoring = module_file(deployment, "monitoring")
    (rules,) = monitoring.resources_of_type("Microsoft.Insights/scheduledQueryRules")
    assert isinstance(rules.loop_items, list)
    queries = {}
    for alert in rules.loop_items:
        assert isinstance(alert, dict)
        query = alert["query"]
        assert isinstance(query, str)
        assert query.strip()
        assert "customMetrics" in query
        assert query.count("(") == query.count(")")
        queries[alert["suffix"]] = query
    assert set(queries) == {
        "subscription-renewal-failed",
        "ibss-feed-stale",
        "poison-messages",
        "sync-lag",
        "sync-conflicts",
    }
    assert '"ibss_feeds_stale"' in queries["ibss-feed-stale"]
    assert '"subscription_renewal_failed"' in queries["subscription-renewal-failed"]
    assert '"poison_messages"' in queries["poison-messages"]
    assert '"sync_propagation_lag_ms"' in queries["sync-lag"]
    assert "percentile(" in queries["sync-lag"]
    assert '"sync_conflicts"' in queries["sync-conflicts"]
    scopes = rules.properties["scopes"]
    assert scopes == [bg.Expr("appInsights.id")]
    assert monitoring.resources_of_type("Microsoft.Insights/actionGroups")


def test_workbook_resource_loads_the_workbook_json(deployment: bg.Deployment) -> None:
    monitoring = module_file(deployment, "monitoring")
    (workbook,) = monitoring.resources_of_type("Microsoft.Insights/workbooks")
    assert workbook.body["kind"] == "shared"
    assert workbook.properties["sourceId"] == bg.Expr("appInsights.id")
    assert "loadTextContent('workbooks/sync-operations.json')" in bg.source_text(
        workbook.properties["serializedData"]
    )


def test_workbook_json_is_a_valid_workbook() -> None:
    workbook = json.loads(WORKBOOK.read_text(encoding="utf-8"))
    assert workbook["version"] == "Notebook/1.0"
    assert workbook["fallbackResourceIds"] == ["__APPINSIGHTS_RESOURCE_ID__"]
    items = workbook["items"]
    assert isinstance(items, list)
    assert items
    names = [item["name"] for item in items]
    assert len(names) == len(set(names)), "item names must be unique"
    queries = []
    for item in items:
        assert item["type"] in {1, 3, 9, 12}
        assert isinstance(item["content"], dict)
        if item["type"] == 3:
            content = item["content"]
            assert content["version"] == "KqlItem/1.0"
            assert isinstance(content["query"], str)
            assert content["query"].strip(), item["name"]
            assert content["query"].count("(") == content["query"].count(")"), item["name"]
            assert content["resourceType"] == "microsoft.insights/components"
            queries.append(content["query"])
    assert len(queries) >= 8
    all_queries = "\n".join(queries)
    for metric in OTEL_METRICS:
        assert f'"{metric}"' in all_queries, metric
    for table in ("customMetrics", "traces", "requests", "exceptions"):
        assert re.search(rf"^\s*\(?{table}\b", all_queries, re.MULTILINE), table


# --- azd wiring --------------------------------------------------------------------------------------


def test_main_parameters_map_the_azd_environment(deployment: bg.Deployment) -> None:
    document = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    parameters = {name: spec["value"] for name, spec in document["parameters"].items()}
    assert parameters["environmentName"] == "${AZURE_ENV_NAME}"
    assert parameters["location"] == "${AZURE_LOCATION}"
    assert parameters["principalId"] == "${AZURE_PRINCIPAL_ID}"
    assert set(parameters) <= set(deployment.main.params), "every mapped parameter exists in main.bicep"
    for name, value in parameters.items():
        assert re.fullmatch(r"\$\{[A-Z0-9_]+(=[^}]*)?\}", value), f"{name} must come from the azd environment"
    location = deployment.main.params["location"]
    assert location.decorators["metadata"] == ({"azd": {"type": "location"}},)


def test_azure_yaml_declares_the_function_service() -> None:
    document = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert document["services"] == {
        "api": {"project": ".", "language": "python", "host": "function"},
    }


def test_outputs_are_upper_snake_and_include_the_azd_names(deployment: bg.Deployment) -> None:
    outputs = deployment.main.outputs
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", name) for name in outputs)
    for name in (
        "AZURE_FUNCTION_NAME",
        "SERVICE_API_NAME",
        "AZURE_KEY_VAULT_NAME",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "GRAPH_NOTIFICATION_URL",
        "GRAPH_LIFECYCLE_URL",
    ):
        assert name in outputs


def test_deploy_guide_names_every_key_vault_secret(deployment: bg.Deployment) -> None:
    secret_names = deployment.files[(INFRA / "app" / "api.bicep").resolve()].variables["secretNames"]
    assert isinstance(secret_names, dict)
    guide = DEPLOY_DOC.read_text(encoding="utf-8")
    for name in secret_names.values():
        assert isinstance(name, str)
        assert name in guide, name


def test_readme_deploy_section_has_azd_up_and_the_setup_guide() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    for needed in (
        "azd up",
        "app registration",
        "certificate",
        "Calendars.ReadWrite",
        "Place.Read.All",
        "RBAC for Applications",
        "New-ManagementRoleAssignment",
        "ApplicationAccessPolicy",
        "people group",
        "AddOrganizerToSubject",
        "DeleteSubject",
        "RemovePrivateProperty",
        "AutomateProcessing",
        "What `azd up` creates",
        "What it costs",
        "Flex Consumption",
        "docs/deploy.md",
    ):
        assert needed in section, needed
    assert "$" in section.split("What it costs", 1)[1], "the cost estimate gives figures"


# --- the checks can fail ------------------------------------------------------------------------------

GOOD_STORAGE = """
resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st'
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
  }
}
"""

BAD_SNIPPETS = {
    "shared key enabled": (
        GOOD_STORAGE.replace("allowSharedKeyAccess: false", "allowSharedKeyAccess: true"),
        "allowSharedKeyAccess",
    ),
    "old TLS on storage": (GOOD_STORAGE.replace("'TLS1_2'", "'TLS1_0'"), "minimumTlsVersion"),
    "secure param with default": (
        "@description('x')\n@secure()\nparam ibssApiKey string = 'hunter2'\n",
        "has a default",
    ),
    "secret-looking default": (
        "@description('x')\nparam ibssBaseUrl string = 'https://x.example/hooks?sv=2022&sig=abcdef'\n",
        "default value looks like a secret",
    ),
    "token-like default": (
        "@description('x')\nparam graphClientId string = 'Zm9vYmFyYmF6cXV4cXV1eHh4eHh4eHh4eHh4eHh4eHg='\n",
        "default value looks like a secret",
    ),
    "secret param not secure": ("@description('x')\nparam hookSecret string\n", "not @secure()"),
    "output with listKeys": (
        GOOD_STORAGE + "output STORAGE_KEY string = st.listKeys().keys[0].value\n",
        "output",
    ),
    "connection string with key": (
        GOOD_STORAGE + "var cs = 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=${k}'\n",
        "key-based connection string",
    ),
    "http allowed on site": (
        """
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'f'
  properties: {
    httpsOnly: false
    siteConfig: { minTlsVersion: '1.2', ftpsState: 'Disabled' }
  }
}
""",
        "httpsOnly",
    ),
    "old TLS on site": (
        """
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'f'
  properties: {
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.0'
      ftpsState: 'Disabled'
    }
  }
}
""",
        "minTlsVersion",
    ),
    "api key in plain app setting": (
        """
@description('key vault')
param kv string
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 'f'
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union({
      IBSS_API_KEY: '@Microsoft.KeyVault(VaultName=${kv};SecretName=ibss-api-key)'
    }, true ? { GRAPH_CLIENT_SECRET: 'plain-text' } : {})
  }
}
""",
        "GRAPH_CLIENT_SECRET is not a Key Vault reference",
    ),
    "app insights local auth": (
        "resource ai 'Microsoft.Insights/components@2020-02-02' = {\n  name: 'a'\n  properties: {\n"
        "    DisableLocalAuth: false\n  }\n}\n",
        "DisableLocalAuth",
    ),
    "log analytics local auth": (
        "resource law 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {\n"
        "  name: 'l'\n  properties: {}\n}\n",
        "disableLocalAuth",
    ),
    "key vault access policies": (
        "resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {\n  name: 'k'\n  properties: {\n"
        "    enableRbacAuthorization: false\n    enablePurgeProtection: true\n  }\n}\n",
        "enableRbacAuthorization",
    ),
    "owner role": (
        GOOD_STORAGE
        + """
@description('p')
param principalId string
var owner = '8e3af657-a8ff-443c-a75c-2fe8c4bcb635'
resource ra 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(st.id, principalId, owner)
  scope: st
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', owner)
    principalId: principalId
  }
}
""",
        "broad role Owner",
    ),
    "resource-group scoped role": (
        """
@description('p')
param principalId string
var blobOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
resource ra 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(resourceGroup().id, principalId, blobOwner)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobOwner)
    principalId: principalId
  }
}
""",
        "not scoped to a single resource",
    ),
    "syntax error": (
        "resource x 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: \n",
        "syntax error",
    ),
}


@pytest.mark.parametrize(("snippet", "expected"), BAD_SNIPPETS.values(), ids=BAD_SNIPPETS.keys())
def test_checker_flags_bad_snippet(snippet: str, expected: str) -> None:
    findings = bg.check_file(bg.parse_source(snippet))
    assert any(expected in finding for finding in findings), findings


def test_checker_accepts_good_snippet() -> None:
    assert bg.check_file(bg.parse_source(GOOD_STORAGE)) == []
