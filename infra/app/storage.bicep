// Host storage (AzureWebJobsStorage) and the app's own state: queues between the HTTP/timer triggers and
// the workers, and the sync-state tables. Access is Entra-only: shared keys and SAS are disabled, so no
// connection string with a key exists anywhere.
@description('Storage account name (3-24 lowercase letters and digits).')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags applied to the account.')
param tags object = {}

@description('Blob container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

// Queue names are fixed by the app code (shared/storage/names.py). The Functions host creates
// `<queue>-poison` on demand after maxDequeueCount failures, so the poison queues are not declared here.
var queueNames = [
  'graph-notifications'
  'graph-lifecycle'
  'ibss-hooks'
  'sync-bookings'
  'sync-rooms'
  'sync-ibss-series'
  'ibss-sweep'
  'sync-series'
]

// Table names are fixed by the app code (shared/storage/names.py): sync state, links between IBSS
// bookings and Graph events, dedup guards, conflict log, room and building directory, subscription
// bookkeeping and worker heartbeats.
var tableNames = [
  'subscriptions'
  'links'
  'linkkeys'
  'syncevents'
  'rooms'
  'buildings'
  'conflicts'
  'dedup'
  'notifications'
  'heartbeats'
  'onboarding'
  'roomchanges'
  'roomevents'
  'desklinks'
  'ibssseries'
  'outlookseries'
  'ibssfeed'
  'mailboxless'
]

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS' // State is rebuildable from both systems by reconciliation; LRS keeps cost down.
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false // Identity-only access: no account keys, no SAS, nothing to leak or rotate.
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true // Portal and tools use Entra ID by default.
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled' // Flex without VNet integration reaches storage over the public endpoint.
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }

  resource blobService 'blobServices' = {
    name: 'default'
    resource deploymentContainer 'containers' = {
      name: deploymentContainerName
      properties: {
        publicAccess: 'None'
      }
    }
  }

  resource queueService 'queueServices' = {
    name: 'default'
    resource queues 'queues' = [for queueName in queueNames: {
      name: queueName
    }]
  }

  resource tableService 'tableServices' = {
    name: 'default'
    resource tables 'tables' = [for tableName in tableNames: {
      name: tableName
    }]
  }
}

output name string = storage.name
output id string = storage.id
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
