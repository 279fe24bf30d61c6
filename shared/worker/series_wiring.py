"""Builds the Outlook series worker and router for the running event loop (shares the reconciler's
IBSS client and scope cache)."""

from __future__ import annotations

import asyncio

from shared.config import AppSettings
from shared.graph.calendar import GraphCalendar, worker_client_settings
from shared.graph.client import build_graph_client
from shared.rooms.store import RoomStore
from shared.state.series import TableSeriesStore
from shared.storage.account import StorageAccount
from shared.storage.queues import StorageQueueSink
from shared.sync import OrganizerMode
from shared.worker.policy import TableBuildingModes
from shared.worker.series_outlook import NameRules, OutlookSeriesWorker, SeriesGraph, SeriesRouter
from shared.worker.wiring import graph_settings, reconciler_for_current_loop

_workers: dict[int, tuple[OutlookSeriesWorker, SeriesRouter]] = {}


def series_for_current_loop(
    settings: AppSettings, storage: StorageAccount
) -> tuple[OutlookSeriesWorker, SeriesRouter]:
    """Raises SyncNotConfigured like the reconciler when IBSS or Graph settings are missing."""
    loop_id = id(asyncio.get_running_loop())
    found = _workers.get(loop_id)
    if found is not None:
        return found
    reconciler = reconciler_for_current_loop(settings, storage)
    client = build_graph_client(worker_client_settings(graph_settings(settings)))
    graph = SeriesGraph(client, GraphCalendar(client))
    store = TableSeriesStore(storage)
    worker = OutlookSeriesWorker(
        graph=graph,
        ibss=reconciler.ibss.client,
        scope=reconciler.scope,
        store=store,
        rooms=RoomStore(storage),
        rules=NameRules(
            organizer_mode=OrganizerMode(settings.organizer_mode.value),
            internal_domains=frozenset(
                d.strip().lower() for d in settings.internal_domains.split(",") if d.strip()
            ),
        ),
        default_horizon_days=settings.sync_horizon_days,
        release_after=TableBuildingModes(storage).no_show_release_after,
    )
    router = SeriesRouter(queue=StorageQueueSink(storage), store=store, graph=graph)
    _workers[loop_id] = (worker, router)
    return worker, router
