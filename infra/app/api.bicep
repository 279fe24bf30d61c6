// The sync service: a Python 3.11 Function App (v2 programming model) on the Flex Consumption plan.
// All storage access is identity based (AzureWebJobsStorage__*), all secrets are Key Vault references
// resolved with the user-assigned identity, and telemetry is sent with Entra auth.
@description('Function App name.')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags applied to the plan and the site.')
param tags object = {}

@description('azd service name; must equal the service key in azure.yaml so `azd deploy` finds the site.')
param serviceName string = 'api'

@description('Flex Consumption plan name.')
param appServicePlanName string

@description('Storage account used for AzureWebJobsStorage, the app queues/tables and the deployment package.')
param storageAccountName string

@description('Blob container (in storageAccountName) that holds the deployment package.')
param deploymentStorageContainerName string

@description('Resource id of the user-assigned managed identity the site runs as.')
param identityId string

@description('Client id of the same identity (DefaultAzureCredential, host storage, App Insights auth).')
param identityClientId string

@description('Application Insights component (local auth disabled) that receives the telemetry.')
param applicationInsightsName string

@description('Key Vault holding the secrets referenced by the app settings.')
param keyVaultName string

@description('Memory per instance in MB (512, 2048 or 4096).')
param instanceMemoryMB int = 2048

@description('Upper bound on Flex scale-out (protects the Graph and IBSS rate limits).')
param maximumInstanceCount int = 40

@description('SYNC_ORGANIZER_MODE: `owner` or `room`.')
@allowed([
  'owner'
  'room'
])
param syncOrganizerMode string = 'owner'

@description('SYNC_POLICY_MODE: `enforce`, `warn` or `ignore` (booking policies for Outlook-made meetings).')
@allowed([
  'enforce'
  'warn'
  'ignore'
])
param syncPolicyMode string = 'enforce'

@description('Graph credential kind: `certificate` sets GRAPH_CLIENT_CERTIFICATE, `secret` sets GRAPH_CLIENT_SECRET.')
@allowed([
  'certificate'
  'secret'
])
param graphCredentialType string = 'certificate'

@description('GRAPH_TENANT_ID: tenant of the room mailboxes.')
param graphTenantId string

@description('GRAPH_CLIENT_ID: application id of the Graph app registration (may be empty on the first deploy).')
param graphClientId string = ''

@description('IBSS_BASE_URL: base URL of the IBSS API.')
param ibssBaseUrl string = ''

@description('SYNC_TIMER_SCHEDULE: NCRONTAB expression of the reconciliation timer.')
param syncTimerSchedule string = '0 */5 * * * *'

@description('SYNC_IBSS_CHANGE_DETECTION: `hooks+poll` or `poll` (the IBSS change feed).')
@allowed([
  'hooks+poll'
  'poll'
])
param syncIbssChangeDetection string = 'hooks+poll'

@description('SYNC_IBSS_FEED_SCHEDULE: NCRONTAB expression of the IBSS change feed timer.')
param syncIbssFeedSchedule string = '*/15 * * * * *'

// Key Vault secret names the admin fills after deploy (docs/deploy.md lists the commands).
// A Key Vault *certificate* also exposes a secret of the same name holding the PFX/PEM, so importing the
// Graph certificate under `graph-client-certificate` is enough for the reference below.
var secretNames = {
  graphClientCertificate: 'graph-client-certificate'
  graphClientSecret: 'graph-client-secret'
  ibssApiKey: 'ibss-api-key'
  ibssHookSecret: 'ibss-hook-secret'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: appServicePlanName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux; Flex Consumption is Linux only.
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': serviceName
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true // Graph only posts to https URLs, and nothing else should reach the site in clear text.
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled' // Graph change notifications and IBSS hooks arrive from the internet.
    keyVaultReferenceIdentity: identityId // Resolve @Microsoft.KeyVault(...) settings with the UAMI, not a system identity.
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentStorageContainerName}'
          authentication: {
            type: 'UserAssignedIdentity' // No storage key or SAS for the package download.
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        // No alwaysReady entries: on-demand only, so an idle tenant costs nothing for compute.
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  // Flex Consumption takes runtime, scale and deployment from functionAppConfig, so the legacy
  // FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION / WEBSITE_CONTENT* settings are deliberately absent.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union({
      // Identity-based host storage; the queue triggers use the same connection.
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
      AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
      AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
      // DefaultAzureCredential in the app code picks the user-assigned identity from this.
      AZURE_CLIENT_ID: identityClientId
      SYNC_ORGANIZER_MODE: syncOrganizerMode
      SYNC_POLICY_MODE: syncPolicyMode
      SYNC_TIMER_SCHEDULE: syncTimerSchedule
      SYNC_IBSS_CHANGE_DETECTION: syncIbssChangeDetection
      SYNC_IBSS_FEED_SCHEDULE: syncIbssFeedSchedule
      GRAPH_TENANT_ID: graphTenantId
      GRAPH_CLIENT_ID: graphClientId
      // Subscription endpoints are derived from the real host name, which Flex may randomise.
      GRAPH_NOTIFICATION_URL: 'https://${functionApp.properties.defaultHostName}/api/graph/notifications'
      GRAPH_LIFECYCLE_URL: 'https://${functionApp.properties.defaultHostName}/api/graph/lifecycle'
      IBSS_BASE_URL: ibssBaseUrl
      IBSS_API_KEY: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.ibssApiKey})'
      IBSS_HOOK_SECRET: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.ibssHookSecret})'
      APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
      // Entra-authenticated ingestion (the component has local auth disabled).
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    }, graphCredentialType == 'certificate' ? {
      GRAPH_CLIENT_CERTIFICATE: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.graphClientCertificate})'
    } : {
      GRAPH_CLIENT_SECRET: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${secretNames.graphClientSecret})'
    })
  }

  // No basic-auth (publishing profile) deployments: azd deploys with an Entra token.
  resource ftpPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: {
      allow: false
    }
  }

  resource scmPublishing 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: {
      allow: false
    }
  }
}

output name string = functionApp.name
output uri string = 'https://${functionApp.properties.defaultHostName}'
output graphNotificationUrl string = 'https://${functionApp.properties.defaultHostName}/api/graph/notifications'
output graphLifecycleUrl string = 'https://${functionApp.properties.defaultHostName}/api/graph/lifecycle'
