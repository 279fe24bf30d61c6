// Holds the Graph credential (certificate preferred, or client secret), the IBSS API key and the IBSS hook
// signing secret. Secret values are loaded by an admin after deploy (docs/deploy.md), never by this template.
@description('Key Vault name (3-24 characters, globally unique).')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags applied to the vault.')
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true // Azure RBAC data roles (rbac.bicep) instead of access policies.
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true // A deleted credential can be recovered; nobody can purge it early.
    enabledForDeployment: false
    enabledForTemplateDeployment: false
    enabledForDiskEncryption: false
    publicNetworkAccess: 'Enabled' // Flex without VNet integration resolves Key Vault references over the public endpoint.
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
