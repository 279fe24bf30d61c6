"""Builds the reconciler (IBSS client, Graph client, link store) for the running event loop."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from shared.config import AppSettings
from shared.credentials import graph_client_settings, secret
from shared.graph.calendar import GraphCalendar, worker_client_settings
from shared.graph.client import GraphClientSettings, build_graph_client
from shared.graph.outlook_writer import OutlookWriter
from shared.ibss.client import IbssClient
from shared.ibss.hooks import IbssHookType
from shared.ibss.intake import BookingSyncJob
from shared.logs import current_correlation_id, new_correlation_id
from shared.state.conflicts import TableConflictLog
from shared.state.ibss_series import TableSeriesStore
from shared.state.links import TableLinkStore
from shared.state.mailboxless import TableMailboxlessOwners
from shared.state.series import TableSeriesStore as OutlookSeriesStore
from shared.storage.account import StorageAccount
from shared.storage.names import QueueName
from shared.storage.queues import StorageQueueSink
from shared.sync import OrganizerMode
from shared.worker.ibss_side import IbssSide
from shared.worker.outlook_side import GraphOutlookSide
from shared.worker.policy import PolicyGate, TableBuildingModes
from shared.worker.reconciler import Reconciler, ReconcileSettings
from shared.worker.scope import CachedScope
from shared.worker.series_ibss import series_echo
from shared.worker.series_outlook import series_booking_hook

log = logging.getLogger(__name__)

_reconcilers: dict[int, Reconciler] = {}


class SyncNotConfigured(RuntimeError):
    """IBSS or Graph settings are missing: the service cannot reconcile anything."""


def graph_settings(settings: AppSettings) -> GraphClientSettings:
    found = graph_client_settings(settings)  # SecretRefused for a credential that is not well formed
    if found is None:
        raise SyncNotConfigured(
            "GRAPH_TENANT_ID, GRAPH_CLIENT_ID and GRAPH_CLIENT_CERTIFICATE or GRAPH_CLIENT_SECRET "
            "are required"
        )
    return found


def _room_reply_check(
    queues: StorageQueueSink, delay_seconds: int
) -> Callable[[int, str, str], Awaitable[None]]:
    async def schedule(node_id: int, booking_id: str, space_id: str) -> None:
        job = BookingSyncJob(
            booking_id=booking_id,
            node_id=node_id,
            space_id=space_id,
            hook_type=IbssHookType.UPDATED,
            hook_id=f"room-reply-{uuid.uuid4().hex}",
            reason="room_reply_check",
            received_at=datetime.now(UTC),
            correlation_id=current_correlation_id() or new_correlation_id(),
        )
        await queues.send(QueueName.SYNC_BOOKINGS, job, delay_seconds=delay_seconds)

    return schedule


def reconciler_for_current_loop(settings: AppSettings, storage: StorageAccount) -> Reconciler:
    loop_id = id(asyncio.get_running_loop())
    found = _reconcilers.get(loop_id)
    if found is not None:
        return found
    api_key = secret(settings, "IBSS_API_KEY")  # SecretRefused for a key that is not well formed
    if not (settings.ibss_base_url and api_key):
        raise SyncNotConfigured("IBSS_BASE_URL and IBSS_API_KEY are required")
    ibss = IbssClient(settings.ibss_base_url, api_key)
    graph = build_graph_client(worker_client_settings(graph_settings(settings)))
    calendar = GraphCalendar(graph)
    found = Reconciler(
        links=TableLinkStore(storage),
        ibss=IbssSide(ibss),
        outlook=GraphOutlookSide(calendar, OutlookWriter(calendar)),
        scope=CachedScope(ibss),
        conflicts=TableConflictLog(storage),
        room_reply_check=_room_reply_check(StorageQueueSink(storage), settings.room_reply_check_seconds),
        policies=PolicyGate(ibss, TableBuildingModes(storage), default_mode=settings.policy_mode),
        settings=ReconcileSettings(
            organizer_mode=OrganizerMode(settings.organizer_mode.value),
            internal_domains=frozenset(
                d.strip().lower() for d in settings.internal_domains.split(",") if d.strip()
            ),
        ),
    )
    found.mailboxless = TableMailboxlessOwners(storage)
    found.series_echo = series_echo(TableSeriesStore(storage), StorageQueueSink(storage))
    found.outlook_series_booking = series_booking_hook(OutlookSeriesStore(storage), StorageQueueSink(storage))
    _reconcilers[loop_id] = found
    return found
