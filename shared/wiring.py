"""Composition root: builds the adapters for the current event loop from the app settings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shared.config import AppSettings, get_settings
from shared.graph.notifications import CachedClientStates, NotificationIntake
from shared.ibss.intake import HookIntake
from shared.notification_log import NotificationLog
from shared.rooms.ports import RoomChangeSink
from shared.rooms.runtime import build_rooms_service
from shared.rooms.service import RoomsService
from shared.rooms.sink import RecordingChangeSink
from shared.state.dedup import TableHookIds
from shared.state.ibss_series import TableSeriesStore
from shared.state.subscriptions import TableSubscriptionStore
from shared.storage.account import StorageAccount, storage_for_current_loop
from shared.storage.queues import StorageQueueSink
from shared.worker.room_sink import ChainedChangeSink, ReconcilingChangeSink
from shared.worker.series_ibss import ibss_series_check
from shared.worker.series_wiring import series_for_current_loop
from shared.worker.wiring import SyncNotConfigured, reconciler_for_current_loop


@dataclass
class Services:
    settings: AppSettings
    storage: StorageAccount
    queues: StorageQueueSink
    subscriptions: TableSubscriptionStore
    intake: NotificationIntake
    notification_log: NotificationLog
    hook_intake: HookIntake
    rooms: RoomsService


_services: dict[int, Services] = {}


def _room_sink(settings: AppSettings, storage: StorageAccount) -> RoomChangeSink | None:
    """Delta rounds go to the reconciler when IBSS and Graph are configured (None: the audit sink only)."""
    try:
        reconciler = reconciler_for_current_loop(settings, storage)
    except SyncNotConfigured:
        return None
    _, series = series_for_current_loop(settings, storage)
    ibss_series = ibss_series_check(TableSeriesStore(storage), StorageQueueSink(storage))
    return ChainedChangeSink(
        [
            RecordingChangeSink(storage),
            ReconcilingChangeSink(reconciler, series=series, ibss_series=ibss_series),
        ]
    )


def services() -> Services:
    loop_id = id(asyncio.get_running_loop())
    found = _services.get(loop_id)
    if found is None:
        settings = get_settings()
        storage = storage_for_current_loop(settings)
        queues = StorageQueueSink(storage)
        subscriptions = TableSubscriptionStore(storage)
        found = Services(
            settings=settings,
            storage=storage,
            queues=queues,
            subscriptions=subscriptions,
            intake=NotificationIntake(
                secrets=CachedClientStates(subscriptions, ttl_seconds=settings.client_state_cache_seconds),
                sink=queues,
            ),
            notification_log=NotificationLog(storage),
            hook_intake=HookIntake(secret=settings.ibss_hook_secret, seen=TableHookIds(storage), sink=queues),
            rooms=build_rooms_service(settings, storage, queues, sink=_room_sink(settings, storage)),
        )
        _services[loop_id] = found
    return found
