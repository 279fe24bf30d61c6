"""Sync state in Azure Table Storage (subscriptions, links, sync events)."""
