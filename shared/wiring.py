"""Composition root: builds the adapters for the current event loop from the app settings."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from azure.core.exceptions import AzureError

from shared.config import AppSettings, get_settings
from shared.credentials import SecretRefused, SettingProblem, log_secret_problems, secret_or_none
from shared.graph.notifications import CachedClientStates, NotificationIntake
from shared.ibss.client import IbssClient
from shared.ibss.feed import ChangeDetection, FeedSettings, IbssChangeFeed
from shared.ibss.intake import HookIntake
from shared.ibss.sweep import ReconciliationSweep
from shared.notification_log import NotificationLog
from shared.rooms.ports import RoomChangeSink
from shared.rooms.runtime import build_rooms_service
from shared.rooms.service import RoomsService
from shared.rooms.sink import RecordingChangeSink
from shared.rooms.store import BuildingStore
from shared.state.dedup import TableHookIds
from shared.state.ibss_feed import TableFeedStore, TableSweepReports
from shared.state.ibss_series import TableSeriesStore
from shared.state.links import TableLinkStore
from shared.state.subscriptions import TableSubscriptionStore
from shared.state.sync_events import describe_error
from shared.storage.account import StorageAccount, storage_for_current_loop
from shared.storage.queues import StorageQueueSink
from shared.worker.room_sink import ChainedChangeSink, ReconcilingChangeSink, RefusedSecretSink
from shared.worker.scope import CachedScope
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
    ibss_feed: IbssChangeFeed | None  # None: IBSS is not configured
    ibss_sweep: ReconciliationSweep | None  # None: IBSS is not configured
    # Secret settings that are set but refused (shared/credentials.py): logged once, on the ops page.
    secret_problems: list[SettingProblem]


log = logging.getLogger(__name__)
_services: dict[int, Services] = {}


def _room_sink(settings: AppSettings, storage: StorageAccount) -> RoomChangeSink | None:
    """Delta rounds go to the reconciler when IBSS and Graph are configured (None: the audit sink only)."""
    try:
        reconciler = reconciler_for_current_loop(settings, storage)
    except SyncNotConfigured:
        return None
    except SecretRefused as refused:
        return RefusedSecretSink(refused)  # rounds fail and are read again, never consumed unsynced
    _, series = series_for_current_loop(settings, storage)
    ibss_series = ibss_series_check(TableSeriesStore(storage), StorageQueueSink(storage))
    return ChainedChangeSink(
        [
            RecordingChangeSink(storage),
            ReconcilingChangeSink(reconciler, series=series, ibss_series=ibss_series),
        ]
    )


def _ibss_change_detection(
    settings: AppSettings, storage: StorageAccount, queues: StorageQueueSink
) -> tuple[IbssChangeFeed | None, ReconciliationSweep | None]:
    """The change feed and the reconciliation sweep (None, None: IBSS is not configured)."""
    api_key = secret_or_none(settings, "IBSS_API_KEY")  # a refused key is reported, never used
    if not (settings.ibss_base_url and api_key):
        return None, None
    client = IbssClient(settings.ibss_base_url, api_key)
    try:
        scope = reconciler_for_current_loop(settings, storage).scope  # one scope read a minute, not two
    except (SyncNotConfigured, SecretRefused):
        scope = CachedScope(client)
    buildings = BuildingStore(storage)

    async def synced_spaces(node_id: int) -> frozenset[str]:
        current = await scope.current()
        return frozenset(ref.space_id for ref in current.by_mailbox.values() if ref.node_id == node_id)

    async def overrides() -> dict[int, ChangeDetection | None]:
        try:
            return {node: cfg.change_detection for node, cfg in (await buildings.list_all()).items()}
        except AzureError as exc:
            # The app default still applies: a storage hiccup must not stop the feed.
            log.warning(
                "building rows unreadable, using the default change detection", extra={"error": str(exc)}
            )
            return {}

    links = TableLinkStore(storage)
    feed = IbssChangeFeed(
        client=client,
        store=TableFeedStore(storage),
        sink=queues,
        settings=FeedSettings(
            default_mode=settings.ibss_change_detection,
            poll_seconds=settings.ibss_poll_seconds,
            safety_poll_seconds=settings.ibss_safety_poll_seconds,
            overlap_seconds=settings.ibss_poll_overlap_seconds,
            scan=settings.ibss_feed_scan,
            scan_days=settings.ibss_scan_days,
        ),
        synced_spaces=synced_spaces,
        overrides=overrides,
        links=links,
        describe_error=describe_error,
    )
    sweep = ReconciliationSweep(
        client=client,
        links=links,
        reports=TableSweepReports(storage),
        sink=queues,
        synced_spaces=synced_spaces,
        buildings=feed.sync_buildings,
        horizon_days=settings.sync_horizon_days,
        describe_error=describe_error,
    )
    return feed, sweep


def services() -> Services:
    loop_id = id(asyncio.get_running_loop())
    found = _services.get(loop_id)
    if found is None:
        settings = get_settings()
        problems = log_secret_problems(settings)
        storage = storage_for_current_loop(settings)
        queues = StorageQueueSink(storage)
        subscriptions = TableSubscriptionStore(storage)
        feed, sweep = _ibss_change_detection(settings, storage, queues)
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
            ibss_feed=feed,
            ibss_sweep=sweep,
            secret_problems=problems,
        )
        _services[loop_id] = found
    return found
