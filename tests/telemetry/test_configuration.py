"""Telemetry is exported to Azure Monitor only when a connection string is set; otherwise nothing is
configured and nothing is sent. The exporter is replaced by a recorder: no network, no global state."""

from __future__ import annotations

from typing import Any

import pytest
from azure.identity import ManagedIdentityCredential
from azure.monitor import opentelemetry as azure_monitor

from shared import telemetry

CONNECTION_STRING = (
    "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
    "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/"
)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    recorded: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(telemetry, "_configured", False)
    monkeypatch.setattr(
        azure_monitor, "configure_azure_monitor", lambda **kw: recorded.append(("azure_monitor", kw))
    )
    monkeypatch.setattr(
        telemetry,
        "instrument_http_clients",
        lambda ibss, graph: recorded.append(("httpx", {"ibss": ibss, "graph": graph})),
    )
    for name in (
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "AZURE_CLIENT_ID",
        "IBSS_BASE_URL",
        "GRAPH_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return recorded


def test_nothing_is_configured_without_a_connection_string(
    calls: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert telemetry.configure_telemetry() is False
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "")
    assert telemetry.configure_telemetry() is False
    assert calls == []


def test_connection_string_wires_azure_monitor_with_entra_auth_and_redaction(
    calls: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", CONNECTION_STRING)
    # As infra/app/api.bicep sets them: App Insights has local auth disabled, ingestion needs a token.
    monkeypatch.setenv("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "ClientId=abc;Authorization=AAD")
    monkeypatch.setenv("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("IBSS_BASE_URL", "https://api.ibss.example")

    assert telemetry.configure_telemetry() is True
    assert telemetry.configure_telemetry() is True  # idempotent: configured once per process
    assert [name for name, _ in calls] == ["azure_monitor", "httpx"]
    options = calls[0][1]
    assert isinstance(options["credential"], ManagedIdentityCredential)
    assert [type(p) for p in options["span_processors"]] == [telemetry.RedactingSpanProcessor]
    assert options["instrumentation_options"]["httpx"] == {"enabled": False}  # ours, with the counters
    assert calls[1][1] == {"ibss": "https://api.ibss.example", "graph": "https://graph.microsoft.com/v1.0"}


def test_without_the_entra_setting_the_exporter_uses_its_default_credential(
    calls: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", CONNECTION_STRING)
    assert telemetry.configure_telemetry() is True
    assert calls[0][1]["credential"] is None
