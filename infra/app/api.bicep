// The Flex Consumption Function App and every app setting it gets from the deployment.
// tests/unit/test_infra.py checks these settings against what the app reads (shared/settings.py).
param name string
param location string = resourceGroup().location
param tags object = {}
param serviceName string = 'api'
param appServicePlanId string
param applicationInsightsName string
param storageAccountName string
param deploymentStorageContainerName string
param identityId string
param identityClientId string
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100
param acsName string
param cognitiveServicesEndpoint string = ''
param webhookSecretUri string
param defaultCallerId string = ''
param reconcileSchedule string
param dispatchSchedule string

resource stg 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource acs 'Microsoft.Communication/communicationServices@2023-04-01' existing = {
  name: acsName
}

var acsEndpoint = 'https://${acs.properties.hostName}'

var appSettings = union(
  {
    // Host, triggers and the app itself (shared/storage/clients.py): identity-based, no keys.
    AzureWebJobsStorage__blobServiceUri: stg.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: stg.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: stg.properties.primaryEndpoints.table
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    // Application Insights with local auth off: the identity publishes.
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // host.json telemetryMode OpenTelemetry: the Python worker configures Azure Monitor (shared/telemetry.py sees it
    // did) and sends the app's logs itself, so the host does not send them a second time.
    PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
    // azure-identity's DefaultAzureCredential (the ACS client) picks the user-assigned identity from this.
    AZURE_CLIENT_ID: identityClientId
    // ACS with Entra ID (no access key); callback tokens are checked against the immutable resource id.
    ACS_ENDPOINT: acsEndpoint
    ACS_RESOURCE_ID: acs.properties.immutableResourceId
    // A Key Vault reference, resolved by the platform with the identity (keyVaultReferenceIdentity below).
    WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${webhookSecretUri})'
    RECONCILE_SCHEDULE: reconcileSchedule
    DISPATCH_SCHEDULE: dispatchSchedule
  },
  empty(cognitiveServicesEndpoint) ? {} : { ACS_COGNITIVE_SERVICES_ENDPOINT: cognitiveServicesEndpoint },
  empty(defaultCallerId) ? {} : { DEFAULT_CALLER_ID: defaultCallerId }
)

module api 'br/public:avm/res/web/site:0.15.1' = {
  name: '${serviceName}-flex-consumption'
  params: {
    kind: 'functionapp,linux'
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': serviceName })
    serverFarmResourceId: appServicePlanId
    managedIdentities: {
      systemAssigned: false
      userAssignedResourceIds: [identityId]
    }
    keyVaultAccessIdentityResourceId: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${stg.properties.primaryEndpoints.blob}${deploymentStorageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      alwaysOn: false
    }
    httpsOnly: true
    appSettingsKeyValuePairs: appSettings
  }
}

output name string = api.outputs.name
output uri string = 'https://${api.outputs.defaultHostname}'
output acsEndpoint string = acsEndpoint
