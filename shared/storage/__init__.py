"""Azure Storage adapters (queues and tables), configured from the `AzureWebJobsStorage` settings."""
