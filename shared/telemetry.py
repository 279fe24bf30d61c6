"""OpenTelemetry instruments. Exported to Azure Monitor only when a connection string is set."""

from __future__ import annotations

import logging
import os

from opentelemetry import metrics

_meter = metrics.get_meter("ibss_m365_sync")

notifications_accepted = _meter.create_counter(
    "notifications_accepted", description="Graph change/lifecycle notifications accepted and enqueued"
)
notifications_rejected = _meter.create_counter(
    "notifications_rejected", description="Graph notifications dropped at intake, by reason"
)
hooks_accepted = _meter.create_counter("ibss_hooks_accepted", description="IBSS booking hooks accepted")
hooks_rejected = _meter.create_counter(
    "ibss_hooks_rejected", description="IBSS booking hooks rejected, by reason"
)
poison_messages = _meter.create_counter(
    "poison_messages", description="Queue messages moved to a poison queue, by queue and reason"
)

_configured = False


def configure_telemetry() -> bool:
    """Wire azure-monitor-opentelemetry if APPLICATIONINSIGHTS_CONNECTION_STRING is set; else send nothing."""
    global _configured  # noqa: PLW0603 - process-wide, idempotent switch
    if _configured or not os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        return _configured
    from azure.monitor.opentelemetry import configure_azure_monitor  # noqa: PLC0415 - heavy, optional

    credential = None
    if "Authorization=AAD" in os.environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", ""):
        # App Insights has local auth disabled in our infra: the exporter must present an Entra token.
        from azure.identity import ManagedIdentityCredential  # noqa: PLC0415

        credential = ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID"))
    configure_azure_monitor(logger_name="ibss_m365_sync", credential=credential)
    _configured = True
    logging.getLogger(__name__).info("telemetry exporting to Azure Monitor")
    return True
