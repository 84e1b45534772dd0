"""The azd deployment (azure.yaml, infra/) checked here, without Azure and without a Bicep compiler.

No Bicep compiler installs from PyPI, npm or Debian (README, "Deploying to Azure"), so these tests read the Bicep
text: the app settings it sets against the settings the app reads, its role ids against their documented names,
and the shape of azure.yaml.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
API = INFRA / "app" / "api.bicep"
RBAC = INFRA / "app" / "rbac.bicep"

# Azure built-in role definition ids as the "Azure built-in roles" reference documents them (the ids are the same
# in every tenant). Only names listed here may appear in the Bicep.
BUILT_IN_ROLES = {
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Key Vault Secrets Officer": "b86a8fe5-ee7d-4d5b-a8c0-6f18e3a6ed8f",
    "Cognitive Services User": "a97b65f3-24c7-4388-baec-2e87135dc908",
}

# Settings the deployment sets that the app's own code does not read: the Functions host, Application Insights
# and azure-identity read them.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__blobServiceUri": "Functions host: blob leases, timers",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "Functions host: telemetry",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Functions host, Azure Monitor exporter: telemetry with the identity",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "Python worker: configures Azure Monitor and streams its own logs",
    "AZURE_CLIENT_ID": "azure-identity: which managed identity DefaultAzureCredential uses (the ACS client)",
}

# The least roles that work, each on one resource: (principal parameter, role, scope symbol).
EXPECTED_ASSIGNMENTS = {
    ("appPrincipalId", "Storage Blob Data Owner", "storageAccount"),
    ("appPrincipalId", "Storage Queue Data Contributor", "storageAccount"),
    ("appPrincipalId", "Storage Table Data Contributor", "storageAccount"),
    ("appPrincipalId", "Monitoring Metrics Publisher", "applicationInsights"),
    ("appPrincipalId", "Key Vault Secrets User", "keyVault"),
    ("appPrincipalId", "Contributor", "acs"),
    ("acsPrincipalId", "Cognitive Services User", "aiServices"),
    ("userPrincipalId", "Key Vault Secrets User", "keyVault"),
}

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def _code(line: str) -> str:
    """A Bicep line without its string literals and its comment."""
    return re.sub(r"//.*", "", re.sub(r"'(?:[^'\\]|\\.)*'", "''", line))


# --- what the app reads ---------------------------------------------------------------------------------------


def _settings_py_reads() -> set[str]:
    """Every name shared/settings.py reads: the `value("NAME")` calls in Settings.from_environment."""
    tree = ast.parse((ROOT / "shared" / "settings.py").read_text())
    names = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "value"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert len(names) > 15, "shared/settings.py no longer reads its settings through value(...): update this test"
    return names


def _binding_expressions() -> set[str]:
    """App settings the triggers resolve themselves, e.g. schedule="%RECONCILE_SCHEDULE%"."""
    found = set()
    for path in ROOT.glob("*/function.py"):
        found |= set(re.findall(r"['\"]%([A-Za-z_][A-Za-z0-9_]*)%['\"]", path.read_text()))
    return found


def app_reads() -> set[str]:
    return _settings_py_reads() | _binding_expressions()


# --- what the deployment sets ----------------------------------------------------------------------------------


def bicep_app_settings() -> dict[str, str]:
    """The keys of `var appSettings = union(...)` in api.bicep, with their value text."""
    lines = API.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("var appSettings = union("))
    end = next(i for i in range(start + 1, len(lines)) if lines[i] == ")")
    settings = {}
    for line in lines[start + 1 : end]:
        code = _code(line)
        for key in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*:", code):
            value = line.split(f"{key}:", 1)[1].strip().rstrip("}").strip()
            settings[key] = value
    return settings


def readme_settings_table() -> dict[str, str]:
    """The README's table of app settings in Azure: setting -> what `azd up` does with it."""
    text = (ROOT / "README.md").read_text()
    section = text.split("### App settings in Azure", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            for name in re.findall(r"`([^`]+)`", cells[0]):
                rows[name] = cells[1]
    assert rows, "README has no table under '### App settings in Azure'"
    return rows


def test_every_setting_the_app_reads_is_set_by_the_deployment_or_listed_as_set_by_hand():
    deployed = set(bicep_app_settings())
    listed = readme_settings_table()

    missing = sorted(name for name in app_reads() if name not in deployed and name not in listed)

    assert not missing, f"neither in infra/app/api.bicep nor in the README table: {missing}"


def test_the_readme_table_says_truly_which_settings_the_deployment_sets():
    deployed = set(bicep_app_settings())
    for name, how in readme_settings_table().items():
        says_deployed = how.lower().startswith("azd up sets it")
        assert says_deployed == (name in deployed), f"README says {how!r} for {name}"
        assert name in app_reads() or name in PLATFORM_SETTINGS, f"README lists {name}, which nothing reads"


def test_every_setting_the_deployment_sets_is_read_by_the_app_or_the_platform():
    unread = sorted(set(bicep_app_settings()) - app_reads() - set(PLATFORM_SETTINGS))

    assert not unread, f"infra/app/api.bicep sets settings nothing reads: {unread}"


def test_storage_is_identity_based_with_the_user_assigned_identity():
    settings = bicep_app_settings()

    assert settings["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    for service in ("blob", "queue", "table"):
        assert settings[f"AzureWebJobsStorage__{service}ServiceUri"] == f"stg.properties.primaryEndpoints.{service}"
    assert "AzureWebJobsStorage" not in settings  # a connection string would win over the identity
    assert "ACS_CONNECTION_STRING" not in settings  # ACS with Entra ID, no access key


def test_the_webhook_secret_is_a_key_vault_reference_resolved_with_the_identity():
    settings = bicep_app_settings()
    api = API.read_text()

    assert settings["WEBHOOK_SECRET"].startswith("'@Microsoft.KeyVault(SecretUri=${")
    assert "keyVaultAccessIdentityResourceId: identityId" in api
    main = MAIN.read_text()
    assert "webhookSecretUri: '${keyVault.outputs.uri}secrets/${webhookSecretName}'" in main
    assert re.search(r"@secure\(\)\s*\n(@description\(.*\)\s*\n)?param webhookSecretSeed string", main)


# --- roles -----------------------------------------------------------------------------------------------------


def rbac_roles() -> dict[str, tuple[str, str]]:
    """`var roles = {...}` in rbac.bicep: key -> (role id, the role name in its comment)."""
    text = RBAC.read_text()
    block = text.split("var roles = {", 1)[1].split("\n}", 1)[0]
    roles = {}
    for line in block.strip().splitlines():
        match = re.fullmatch(r"\s*(\w+): '([0-9a-f-]{36})' // (.+)", line)
        assert match, f"unexpected line in var roles: {line!r}"
        roles[match[1]] = (match[2], match[3].strip())
    return roles


def _camel(name: str) -> str:
    words = name.split()
    return words[0].lower() + "".join(w[:1].upper() + w[1:] for w in words[1:])


def test_every_role_id_is_the_documented_id_of_the_role_it_is_named_for():
    for key, (role_id, name) in rbac_roles().items():
        assert name in BUILT_IN_ROLES, f"{name} is not in this test's table of documented built-in roles"
        assert role_id == BUILT_IN_ROLES[name], f"{key}: {role_id} is not {name} ({BUILT_IN_ROLES[name]})"
        assert key == _camel(name), f"the key {key} does not name {name}"


def test_no_role_id_appears_outside_the_named_table():
    in_table = {role_id for role_id, _ in rbac_roles().values()}
    for path in INFRA.rglob("*.bicep"):
        for role_id in GUID.findall(path.read_text()):
            assert role_id in in_table, f"{path.relative_to(ROOT)} uses an unnamed id {role_id}"
    assert "roleAssignments" not in MAIN.read_text(), "assign roles in infra/app/rbac.bicep only"


def role_assignments() -> set[tuple[str, str, str]]:
    roles = rbac_roles()
    text = RBAC.read_text()
    blocks = re.split(r"\nresource \w+ 'Microsoft\.Authorization/roleAssignments@[\w-]+' =", text)[1:]
    assert blocks, "no role assignments found in infra/app/rbac.bicep"
    found = set()
    for block in blocks:
        body = block.split("\n}\n", 1)[0]
        scope = re.search(r"^  scope: (\w+)$", body, re.MULTILINE)[1]
        principal = re.search(r"principalId: (\w+)", body)[1]
        used = set(re.findall(r"roles\.(\w+)", body))
        assert len(used) == 1, f"one role per assignment: {used}"
        key = used.pop()
        assert f"guid({scope}.id, {principal}, roles.{key})" in body, "names must be guid(scope, principal, role)"
        found.add((principal, roles[key][1], scope))
    return found


def test_role_assignments_are_the_least_that_works_each_on_one_resource():
    assert role_assignments() == EXPECTED_ASSIGNMENTS


def test_no_role_is_assigned_at_resource_group_or_subscription_scope():
    for line in RBAC.read_text().splitlines():
        assert not re.match(r"\s*scope:\s*(resourceGroup|subscription)\(", line), line


# --- the resources ---------------------------------------------------------------------------------------------


def _params(path: Path) -> dict[str, str | None]:
    """param name -> its default (text), None when it has none."""
    found = {}
    for match in re.finditer(r"^param (\w+) [\w.]+(?: = (.+))?$", path.read_text(), re.MULTILINE):
        found[match[1]] = match[2]
    return found


def test_flex_consumption_python_311_with_memory_and_scale_out_as_parameters():
    main, api = MAIN.read_text(), API.read_text()

    assert "name: 'FC1'" in main and "tier: 'FlexConsumption'" in main
    assert re.search(r"runtime: \{\s*name: 'python'\s*version: '3.11'", api)
    assert {"instanceMemoryMB", "maximumInstanceCount"} <= set(_params(MAIN))
    assert "instanceMemoryMB: instanceMemoryMB" in main and "maximumInstanceCount: maximumInstanceCount" in main
    assert "instanceMemoryMB: instanceMemoryMB" in api and "maximumInstanceCount: maximumInstanceCount" in api


def test_no_keys_storage_app_insights_and_ai_services_are_entra_only_and_key_vault_is_rbac():
    main = MAIN.read_text()

    assert "allowSharedKeyAccess: false" in main
    assert main.count("disableLocalAuth: true") == 2  # Application Insights, Azure AI services
    assert "enableRbacAuthorization: true" in main
    assert "enablePurgeProtection: false" in main  # so that `azd down --purge` can purge it
    assert "kind: 'AIServices'" in main and "customSubDomainName:" in main
    assert "managedIdentities: { systemAssigned: true }" in main  # ACS's identity reaches AI services


def test_every_module_from_the_registry_is_a_pinned_azure_verified_module():
    for path in INFRA.rglob("*.bicep"):
        for ref in re.findall(r"module \w+ '([^']+)'", path.read_text()):
            if ref.startswith("./"):
                assert (path.parent / ref).exists(), ref
                continue
            assert re.fullmatch(r"br/public:avm/res/[\w/-]+:\d+\.\d+\.\d+", ref), ref


def test_the_parameters_file_fills_every_parameter_without_a_default_and_names_only_real_ones():
    params = _params(MAIN)
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]

    assert set(given) <= set(params), set(given) - set(params)
    assert {name for name, default in params.items() if default is None} <= set(given)
    assert given["webhookSecretSeed"]["value"].startswith("$(secretOrRandomPassword ${AZURE_KEY_VAULT_NAME} ")


def test_outputs_azd_and_the_readme_rely_on():
    outputs = set(re.findall(r"^output (\w+) ", MAIN.read_text(), re.MULTILINE))

    assert {"AZURE_FUNCTION_NAME", "SERVICE_API_URI", "AZURE_KEY_VAULT_NAME", "AZURE_RESOURCE_GROUP"} <= outputs
    assert "AZURE_COMMUNICATION_SERVICES_NAME" in outputs


# --- azure.yaml and the package ----------------------------------------------------------------------------------


def _azure_yaml() -> dict[str, dict[str, str]]:
    """services -> {key: value} from azure.yaml (a flat two-level mapping: no YAML library needed)."""
    services: dict[str, dict[str, str]] = {}
    current = None
    in_services = False
    for raw in (ROOT / "azure.yaml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            in_services = line == "services:"
        elif in_services and indent == 2 and line.endswith(":"):
            current = services.setdefault(line.strip()[:-1], {})
        elif in_services and indent == 4 and current is not None:
            key, _, value = line.strip().partition(":")
            current[key] = value.strip()
    return services


def test_azure_yaml_deploys_this_folder_as_a_python_function_app():
    services = _azure_yaml()

    assert services == {"api": {"project": ".", "language": "python", "host": "function"}}
    api = API.read_text()
    assert "'azd-service-name': serviceName" in api and "param serviceName string = 'api'" in api


def test_the_deployment_definitions_stay_out_of_the_package():
    lines = (ROOT / ".funcignore").read_text().splitlines()
    ignored = {line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")}

    assert {"infra", "azure.yaml", ".azure"} <= ignored
