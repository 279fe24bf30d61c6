"""The only Azure Functions entry point: creates the FunctionApp and registers one Blueprint per module."""

import azure.functions as func

from functions import (
    admin,
    graph_webhooks,
    graph_workers,
    health,
    ibss_feed,
    ibss_hooks,
    ibss_series,
    maintenance,
    rooms,
    series_outlook,
)
from shared.logs import configure_logging
from shared.telemetry import configure_telemetry

configure_logging()
configure_telemetry()

app = func.FunctionApp()
for module in (
    health,
    graph_webhooks,
    graph_workers,
    ibss_hooks,
    ibss_feed,
    ibss_series,
    maintenance,
    rooms,
    admin,
    series_outlook,
):
    app.register_functions(module.bp)
