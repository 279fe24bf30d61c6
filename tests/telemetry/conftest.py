"""In-memory OpenTelemetry providers for the session (the global providers can be set only once), and a
private Azurite for this package."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, NumberDataPoint
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from scripts.stack import Azurite, azurite_running
from shared.config import AppSettings
from shared.storage.account import StorageAccount
from shared.telemetry import RedactingSpanProcessor


@dataclass
class Otel:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def points(self) -> dict[str, list[tuple[dict[str, Any], float]]]:
        """name -> [(attributes, value)]: sums for counters, counts for histograms, values for gauges."""
        out: dict[str, list[tuple[dict[str, Any], float]]] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    for point in metric.data.data_points:
                        if isinstance(point, HistogramDataPoint):
                            value = float(point.count)
                        else:
                            assert isinstance(point, NumberDataPoint)
                            value = float(point.value)
                        out.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
        return out


@pytest.fixture(scope="session")
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(RedactingSpanProcessor())  # before the exporter, as in production
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    yield Otel(spans=exporter, reader=reader)
    tracer_provider.shutdown()


def metric_sum(points: dict[str, list[tuple[dict[str, Any], float]]], name: str, **attrs: object) -> float:
    """The sum of the points of `name` whose attributes include `attrs`."""
    return sum(v for a, v in points.get(name, []) if all(a.get(k) == w for k, w in attrs.items()))


# Private Azurite: no dev host of the session consumes our queues.
@pytest.fixture(scope="package")
def telemetry_azurite() -> Iterator[Azurite]:
    with azurite_running() as azurite:
        yield azurite


@pytest.fixture
async def storage(telemetry_azurite: Azurite) -> AsyncIterator[StorageAccount]:
    account = StorageAccount.from_settings(
        AppSettings(AzureWebJobsStorage=telemetry_azurite.connection_string)
    )
    yield account
    await account.close()
