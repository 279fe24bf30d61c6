// Observability for admins: Log Analytics + workspace-based Application Insights (Entra-only ingestion),
// an Azure Monitor workbook, and log search alerts on the metrics the app emits with OpenTelemetry.
// OTel metrics land in the App Insights `customMetrics` table as pre-aggregated points per export interval
// (valueSum, valueCount, valueMin, valueMax), which is what the queries below read.
@description('Log Analytics workspace name.')
param logAnalyticsName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Action group name for the alert notifications.')
param actionGroupName string

@description('Prefix for the alert rule names.')
param alertNamePrefix string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags applied to every monitoring resource.')
param tags object = {}

@description('Log Analytics retention in days.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('E-mail receiver for alerts; empty leaves the action group without receivers.')
param alertEmailAddress string = ''

@description('Threshold for the p95 propagation lag alert, in milliseconds.')
param syncLagThresholdMs int = 300000

@description('Threshold for the conflicts alert: conflicts recorded within one hour.')
param conflictsPerHourThreshold int = 10

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      disableLocalAuth: true // No workspace shared keys: agents and queries must use Entra ID.
      enableLogAccessUsingOnlyResourcePermissions: true
    }
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    IngestionMode: 'LogAnalytics'
    DisableLocalAuth: true // Instrumentation key alone cannot ingest; the app authenticates with its identity.
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

// Created even without an e-mail so that receivers (Teams, SMS, ITSM) can be added later without a redeploy.
resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'syncops'
    enabled: true
    emailReceivers: empty(alertEmailAddress) ? [] : [
      {
        name: 'sync-admins'
        emailAddress: alertEmailAddress
        useCommonAlertSchema: true
      }
    ]
  }
}

// Each entry becomes one log search alert rule scoped to the App Insights component.
var alertDefinitions = [
  {
    suffix: 'subscription-renewal-failed'
    displayName: 'Graph subscription renewal failed'
    description: 'A Graph change-notification subscription could not be renewed or recreated. Until it is, that room calendar only syncs through the reconciliation timer.'
    severity: 1
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    query: '''
customMetrics
| where name == "subscription_renewal_failed"
| project timestamp, Failures = valueSum
'''
    metricMeasureColumn: 'Failures'
    timeAggregation: 'Total'
    threshold: 0
  }
  {
    suffix: 'ibss-feed-stale'
    displayName: 'IBSS change feed stale'
    description: 'A building\'s IBSS change feed has not polled successfully for 15 minutes (IBSS unreachable, key refused, or the timer stopped). Flex and Roamer edits of that building do not reach Outlook until it recovers; the ops page shows the last error.'
    severity: 1
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    query: '''
customMetrics
| where name == "ibss_feeds_stale"
| project timestamp, StaleBuildings = valueMax
'''
    metricMeasureColumn: 'StaleBuildings'
    timeAggregation: 'Maximum'
    threshold: 0
  }
  {
    suffix: 'poison-messages'
    displayName: 'Messages moved to a poison queue'
    description: 'A queue message failed maxDequeueCount times and was moved to <queue>-poison; the change it carried is not applied until replayed.'
    severity: 2
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    // The app counts poison messages (poison_messages); the host trace is a fallback if that handler is down.
    // Per-queue length is not an Azure Monitor platform metric, hence telemetry rather than a metric alert.
    query: '''
union
    (customMetrics
    | where name == "poison_messages"
    | project timestamp, PoisonMessages = valueSum),
    (traces
    | where message has "MaxDequeueCount" and message contains "-poison"
    | project timestamp, PoisonMessages = 1.0)
'''
    metricMeasureColumn: 'PoisonMessages'
    timeAggregation: 'Total'
    threshold: 0
  }
  {
    suffix: 'sync-lag'
    displayName: 'Sync propagation lag p95 above threshold'
    description: 'Changes take too long to reach the other system (p95 of sync_propagation_lag_ms).'
    severity: 2
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    // Points are pre-aggregated per export interval, so the p95 is taken over per-point means: an
    // approximation of the true p95 that is good enough to detect a sustained backlog.
    query: '''
customMetrics
| where name == "sync_propagation_lag_ms"
| extend MeanLagMs = iff(valueCount > 0, valueSum / valueCount, value)
| summarize LagP95Ms = percentile(MeanLagMs, 95) by bin(timestamp, 5m)
'''
    metricMeasureColumn: 'LagP95Ms'
    timeAggregation: 'Maximum'
    threshold: syncLagThresholdMs
  }
  {
    suffix: 'sync-conflicts'
    displayName: 'Sync conflicts above threshold'
    description: 'Both sides changed the same booking; many conflicts usually mean a second sync tool (e.g. the IBSS Sync Service) is writing to the same rooms.'
    severity: 3
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    query: '''
customMetrics
| where name == "sync_conflicts"
| project timestamp, Conflicts = valueSum
'''
    metricMeasureColumn: 'Conflicts'
    timeAggregation: 'Total'
    threshold: conflictsPerHourThreshold
  }
]

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for alert in alertDefinitions: {
  name: '${alertNamePrefix}-${alert.suffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: alert.displayName
    description: alert.description
    severity: alert.severity
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: alert.evaluationFrequency
    windowSize: alert.windowSize
    // The metrics do not exist until the app has emitted them once; skip validation of the query's data.
    skipQueryValidation: true
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: alert.query
          metricMeasureColumn: alert.metricMeasureColumn
          timeAggregation: alert.timeAggregation
          operator: 'GreaterThan'
          threshold: alert.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

// Shared workbook for admins, attached to the App Insights component so its queries run there.
resource opsWorkbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'sync-operations-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'IBSS <-> M365 sync operations'
    category: 'workbook'
    version: 'Notebook/1.0'
    sourceId: appInsights.id
    serializedData: replace(loadTextContent('workbooks/sync-operations.json'), '__APPINSIGHTS_RESOURCE_ID__', appInsights.id)
  }
}

output logAnalyticsName string = logAnalytics.name
output applicationInsightsName string = appInsights.name
output applicationInsightsConnectionString string = appInsights.properties.ConnectionString
output workbookId string = opsWorkbook.id
