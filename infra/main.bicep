// Everything the app needs in Azure except the phone number: `azd up` deploys this, then the code.
// Modelled on Azure-Samples/functions-quickstart-python-http-azd (Flex Consumption, user-assigned identity,
// no shared keys anywhere). README, "Deploying to Azure", says what each piece is for and what it costs.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment: names the resource group and seeds every resource name.')
param environmentName string

@minLength(1)
@description('Region of the Function App (one with Flex Consumption) and every regional resource.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Memory of each Flex Consumption instance, in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Most Flex Consumption instances the app scales out to (Flex Consumption allows 40 to 1000).')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Where ACS keeps its data at rest (ACS itself is a global resource).')
param acsDataLocation string = 'United States'

@description('Create an Azure AI services (multi-service) account and connect it to ACS for text prompts.')
param enableAiServices bool = true

@description('Caller number (E.164) the ACS resource owns; empty until you have bought or ported one.')
param defaultCallerId string = ''

@secure()
@description('Seed of the Standard Webhooks secret (azd keeps it in Key Vault across runs); whsec_... is used as is.')
param webhookSecretSeed string

@description('When the reconcile_calls timer runs (NCRONTAB, six fields).')
param reconcileSchedule string = '0 */1 * * * *'

@description('When the dispatch_waiting timer runs (NCRONTAB, six fields).')
param dispatchSchedule string = '*/5 * * * * *'

@description('Object id of the person running azd (set by azd): may read the webhook secret (azd reads it back), nothing else.')
param principalId string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}calls-${resourceToken}'
var deploymentStorageContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'
var webhookSecretName = 'webhook-secret'
// A seed azd generated is turned into a Standard Webhooks secret; the secret read back from Key Vault is kept.
var webhookSecret = startsWith(webhookSecretSeed, 'whsec_') ? webhookSecretSeed : 'whsec_${base64(webhookSecretSeed)}'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

// The app's one identity: storage, Application Insights, Key Vault references and ACS all go through it.
module appIdentity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'appIdentity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}calls-${resourceToken}'
    location: location
    tags: tags
  }
}

module appServicePlan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'appServicePlan'
  scope: rg
  params: {
    name: '${abbrs.webServerFarms}${resourceToken}'
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
    location: location
    tags: tags
  }
}

// Host (blob leases, timers, the deployment package), queues (triggers, event deliveries) and the call-leg
// tables. Shared keys are off: only Entra ID (the app's identity) gets in.
module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    dnsEndpointType: 'Standard'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [{ name: deploymentStorageContainerName }]
    }
    minimumTlsVersion: 'TLS1_2'
    location: location
    tags: tags
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.7.0' = {
  name: 'logAnalytics'
  scope: rg
  params: {
    name: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
  }
}

module monitoring 'br/public:avm/res/insights/component:0.4.1' = {
  name: 'applicationInsights'
  scope: rg
  params: {
    name: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true // telemetry only with the identity (Monitoring Metrics Publisher)
  }
}

// ACS: global resource. Its own system-assigned identity is what reaches Azure AI services for text prompts.
module acs 'br/public:avm/res/communication/communication-service:0.4.0' = {
  name: 'communicationServices'
  scope: rg
  params: {
    name: '${abbrs.communicationServices}${resourceToken}'
    location: 'global'
    dataLocation: acsDataLocation
    managedIdentities: { systemAssigned: true }
    tags: tags
  }
}

// Azure AI services (multi-service) for text-to-speech. A custom subdomain is what Entra ID (ACS's identity)
// needs; keys are disabled because nothing uses them.
module aiServices 'br/public:avm/res/cognitive-services/account:0.10.2' = if (enableAiServices) {
  name: 'aiServices'
  scope: rg
  params: {
    name: '${abbrs.cognitiveServicesAccounts}${resourceToken}'
    location: location
    kind: 'AIServices'
    sku: 'S0'
    customSubDomainName: '${abbrs.cognitiveServicesAccounts}${resourceToken}'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    tags: tags
  }
}

// RBAC mode: no access policies; the app reads the secret through Key Vault Secrets User. Purge protection is
// off so that `azd down --purge` can remove it for good.
module keyVault 'br/public:avm/res/key-vault/vault:0.12.1' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    sku: 'standard'
    enableRbacAuthorization: true
    enablePurgeProtection: false
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
    secrets: [
      {
        name: webhookSecretName
        value: webhookSecret
      }
    ]
    tags: tags
  }
}

module api './app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    appServicePlanId: appServicePlan.outputs.resourceId
    applicationInsightsName: monitoring.outputs.name
    storageAccountName: storage.outputs.name
    deploymentStorageContainerName: deploymentStorageContainerName
    identityId: appIdentity.outputs.resourceId
    identityClientId: appIdentity.outputs.clientId
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    acsName: acs.outputs.name
    cognitiveServicesEndpoint: enableAiServices ? aiServices.outputs.endpoint : ''
    webhookSecretUri: '${keyVault.outputs.uri}secrets/${webhookSecretName}'
    defaultCallerId: defaultCallerId
    reconcileSchedule: reconcileSchedule
    dispatchSchedule: dispatchSchedule
  }
}

module rbac './app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    appPrincipalId: appIdentity.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.name
    keyVaultName: keyVault.outputs.name
    acsName: acs.outputs.name
    acsPrincipalId: acs.outputs.systemAssignedMIPrincipalId
    aiServicesName: enableAiServices ? aiServices.outputs.name : ''
    userPrincipalId: principalId
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_COMMUNICATION_SERVICES_NAME string = acs.outputs.name
output ACS_ENDPOINT string = api.outputs.acsEndpoint
output ACS_COGNITIVE_SERVICES_ENDPOINT string = enableAiServices ? aiServices.outputs.endpoint : ''
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
