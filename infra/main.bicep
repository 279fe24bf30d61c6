// Entry point for `azd provision` / `azd up`: the IBSS <-> Microsoft 365 room calendar sync service.
// Subscription scope so that azd can create the resource group itself; every resource lives in that group.
// No secret value ever passes through this template: Key Vault secrets are set by an admin after deploy
// (docs/deploy.md) and the app reads them through Key Vault references.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; used to derive a short unique token for every resource name.')
param environmentName string

@minLength(1)
@description('Primary location for all resources. Limited to regions that offer the Flex Consumption plan (check `az functionapp list-flexconsumption-locations`).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person (or CI principal) running azd. Gets storage data roles to run the app locally against the cloud account and Key Vault secret/certificate officer roles to load the credentials after deploy. Leave empty in production pipelines.')
param principalId string = ''

@description('Kind of principal behind principalId.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Optional override for the resource group name.')
param resourceGroupName string = ''

@description('Optional override for the Function App name.')
param apiServiceName string = ''

@description('Optional override for the user-assigned managed identity name.')
param apiUserAssignedIdentityName string = ''

@description('Optional override for the Flex Consumption plan name.')
param appServicePlanName string = ''

@description('Optional override for the storage account name (3-24 lowercase letters and digits).')
param storageAccountName string = ''

@description('Optional override for the Key Vault name (3-24 characters).')
param keyVaultName string = ''

@description('Optional override for the Log Analytics workspace name.')
param logAnalyticsName string = ''

@description('Optional override for the Application Insights name.')
param applicationInsightsName string = ''

@description('Who organizes the Outlook event for an IBSS booking: `owner` (the booking owner\'s calendar, room as attendee) or `room` (the room mailbox itself). Read by the app as SYNC_ORGANIZER_MODE.')
@allowed([
  'owner'
  'room'
])
param syncOrganizerMode string = 'owner'

@description('Booking policies of IBSS spaces applied to meetings made in Outlook, for buildings without a mode of their own (`policy_mode` in the buildings table): `enforce` (the room declines with the reason), `warn` (accepts and tells the organizer why) or `ignore`. Read by the app as SYNC_POLICY_MODE.')
@allowed([
  'enforce'
  'warn'
  'ignore'
])
param syncPolicyMode string = 'enforce'

@description('How the app authenticates to Microsoft Graph: `certificate` (preferred; GRAPH_CLIENT_CERTIFICATE) or `secret` (GRAPH_CLIENT_SECRET). Both come from Key Vault.')
@allowed([
  'certificate'
  'secret'
])
param graphCredentialType string = 'certificate'

@description('Entra tenant id of the Microsoft 365 tenant that holds the room mailboxes. Empty means the tenant of the deployment subscription.')
param graphTenantId string = ''

@description('Application (client) id of the Graph app registration. Empty until the app registration exists; set it with `azd env set GRAPH_CLIENT_ID <appId>` and run `azd provision` again.')
param graphClientId string = ''

@description('Base URL of the IBSS API, e.g. https://api.ibss.<customer>.iconics.cloud. Not a secret; the API key goes to Key Vault.')
param ibssBaseUrl string = ''

@description('NCRONTAB (six fields) for the reconciliation timer; read by the app as SYNC_TIMER_SCHEDULE.')
param syncTimerSchedule string = '0 */5 * * * *'

@description('How IBSS changes reach the app, for buildings without a mode of their own (`change_detection` in the buildings table): `hooks+poll` (IBSS booking hooks, and a poll every SYNC_IBSS_SAFETY_POLL_SECONDS as the safety net) or `poll` (no hook endpoint in IBSS: a poll every SYNC_IBSS_POLL_SECONDS is the feed). Read by the app as SYNC_IBSS_CHANGE_DETECTION.')
@allowed([
  'hooks+poll'
  'poll'
])
param syncIbssChangeDetection string = 'hooks+poll'

@description('NCRONTAB (six fields) for the IBSS change feed timer, which polls the buildings whose turn it is; read by the app as SYNC_IBSS_FEED_SCHEDULE.')
param syncIbssFeedSchedule string = '*/15 * * * * *'

@description('Memory per Flex Consumption instance in MB; billing is per GB-second, so smaller is cheaper if the app fits.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Upper bound on scale-out. Graph allows 4 concurrent requests per mailbox and IBSS rate limits are tenant specific, so a modest cap protects both APIs.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('E-mail address for alert notifications. Empty creates the action group without receivers (add receivers in the portal).')
param alertEmailAddress string = ''

@description('Alert when the p95 propagation lag (sync_propagation_lag_ms) exceeds this many milliseconds.')
@minValue(1000)
param syncLagThresholdMs int = 300000

@description('Alert when more than this many sync conflicts (sync_conflicts) are recorded within one hour.')
@minValue(0)
param conflictsPerHourThreshold int = 10

@description('Log Analytics retention in days (30 is included in the ingestion price for workspace data).')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

var abbrs = loadJsonContent('./abbreviations.json')
// Deterministic per subscription + environment + region, so redeploys converge on the same names.
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = !empty(apiServiceName) ? apiServiceName : '${abbrs.webSitesFunctions}api-${resourceToken}'
// Flex Consumption pulls the deployment package from this blob container (identity auth, no SAS).
var deploymentStorageContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

// One user-assigned identity for everything the app touches (storage, Key Vault, App Insights ingestion).
// User-assigned rather than system-assigned so role assignments exist before the site first starts.
module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: !empty(apiUserAssignedIdentityName) ? apiUserAssignedIdentityName : '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: !empty(storageAccountName) ? storageAccountName : '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentStorageContainerName
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: !empty(keyVaultName) ? keyVaultName : '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: !empty(logAnalyticsName) ? logAnalyticsName : '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: !empty(applicationInsightsName) ? applicationInsightsName : '${abbrs.insightsComponents}${resourceToken}'
    actionGroupName: '${abbrs.insightsActionGroups}${resourceToken}'
    alertNamePrefix: '${abbrs.insightsScheduledQueryRules}${resourceToken}'
    location: location
    tags: tags
    retentionInDays: logRetentionInDays
    alertEmailAddress: alertEmailAddress
    syncLagThresholdMs: syncLagThresholdMs
    conflictsPerHourThreshold: conflictsPerHourThreshold
  }
}

// Every role assignment lives in rbac.bicep so least privilege can be reviewed (and tested) in one place.
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    location: location
    tags: tags
    serviceName: 'api'
    appServicePlanName: !empty(appServicePlanName) ? appServicePlanName : '${abbrs.webServerFarms}${resourceToken}'
    storageAccountName: storage.outputs.name
    deploymentStorageContainerName: deploymentStorageContainerName
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    keyVaultName: keyVault.outputs.name
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    syncOrganizerMode: syncOrganizerMode
    syncPolicyMode: syncPolicyMode
    graphCredentialType: graphCredentialType
    graphTenantId: !empty(graphTenantId) ? graphTenantId : tenant().tenantId
    graphClientId: graphClientId
    ibssBaseUrl: ibssBaseUrl
    syncTimerSchedule: syncTimerSchedule
    syncIbssChangeDetection: syncIbssChangeDetection
    syncIbssFeedSchedule: syncIbssFeedSchedule
  }
  // The host needs its storage roles and the Key Vault role before first start, otherwise the first
  // Key Vault reference resolution and the deployment-package download fail.
  dependsOn: [
    rbac
  ]
}

// Outputs become azd environment values (UPPER_SNAKE). None of them is a secret.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output GRAPH_NOTIFICATION_URL string = api.outputs.graphNotificationUrl
output GRAPH_LIFECYCLE_URL string = api.outputs.graphLifecycleUrl
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.uri
output AZURE_LOG_ANALYTICS_WORKSPACE_NAME string = monitoring.outputs.logAnalyticsName
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
// Ingestion endpoint + instrumentation key; not a credential while the component has local auth disabled
// (ingestion then requires an Entra token). Named as azd templates do so `azd env get-values` can feed local runs.
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
