// The app's only identity. Its client id goes into AZURE_CLIENT_ID, AzureWebJobsStorage__clientId and the
// App Insights authentication string; its principal id receives the roles in rbac.bicep.
@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output name string = identity.name
output resourceId string = identity.id
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
