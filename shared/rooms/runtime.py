"""Composition of the rooms package from app settings (one per event loop, like shared.wiring)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from shared import credentials
from shared.config import AppSettings
from shared.graph.client import GraphClientSettings, build_graph_client
from shared.rooms.delta import DeltaRoundRunner, RoundScheduler, RoundSettings
from shared.rooms.graph_rooms import GraphRooms, MailboxLimiter
from shared.rooms.onboarding import IbssSpaces, Onboarding
from shared.rooms.ports import Clock, GraphRoomsPort, JobQueue, RoomChangeSink, SpaceDirectory
from shared.rooms.service import MaintenanceSettings, RoomsService
from shared.rooms.sink import RecordingChangeSink
from shared.rooms.store import BuildingStore, OnboardingReport, RoomEventIndex, RoomStore
from shared.rooms.subscriptions import SubscriptionManager, SubscriptionSettings
from shared.state.subscriptions import TableSubscriptionStore
from shared.storage.account import StorageAccount

log = logging.getLogger(__name__)


def system_clock() -> datetime:
    return datetime.now(UTC)


def graph_client_settings(settings: AppSettings) -> GraphClientSettings | None:
    """Graph settings with SDK retries off (429 is re-queued, never slept on); None if not configured or
    refused (the refusal is reported by shared.credentials)."""
    try:
        found = credentials.graph_client_settings(settings)
    except credentials.SecretRefused:
        return None
    return found.model_copy(update={"max_retries": 0}) if found else None


@dataclass
class RoomsParts:
    graph: GraphRoomsPort | None
    spaces: SpaceDirectory | None
    sink: RoomChangeSink


def build_rooms_service(
    settings: AppSettings,
    storage: StorageAccount,
    queue: JobQueue,
    *,
    clock: Clock = system_clock,
    graph: GraphRoomsPort | None = None,
    spaces: SpaceDirectory | None = None,
    sink: RoomChangeSink | None = None,
) -> RoomsService:
    """The service with real adapters unless given; parts that are not configured are left out."""
    if graph is None:
        client_settings = graph_client_settings(settings)
        if client_settings is not None:
            graph = GraphRooms(
                build_graph_client(client_settings),
                MailboxLimiter(settings.sync_mailbox_concurrency),
                delta_page_size=settings.sync_delta_page_size,
            )
    api_key = credentials.secret_or_none(settings, "IBSS_API_KEY")
    if spaces is None and settings.ibss_base_url and api_key:
        spaces = IbssSpaces(settings.ibss_base_url, api_key)
    sink = sink or RecordingChangeSink(storage)
    rooms = RoomStore(storage)
    subscriptions = TableSubscriptionStore(storage)
    round_settings = RoundSettings(coalesce_seconds=settings.sync_coalesce_seconds)
    scheduler = RoundScheduler(rooms, queue, clock, round_settings)
    report = OnboardingReport(storage)
    runner = manager = onboarding = None
    if graph is not None:
        runner = DeltaRoundRunner(rooms, RoomEventIndex(storage), graph, sink, queue, clock, round_settings)
        if settings.sync_notifications_enabled:
            if settings.graph_notification_url and settings.graph_lifecycle_url:
                manager = SubscriptionManager(
                    rooms,
                    subscriptions,
                    graph,
                    SubscriptionSettings(
                        notification_url=settings.graph_notification_url,
                        lifecycle_url=settings.graph_lifecycle_url,
                        lifetime_minutes=settings.sync_subscription_lifetime_minutes,
                        renew_before_hours=settings.sync_renew_before_hours,
                        concurrency=settings.sync_graph_concurrency,
                    ),
                    clock,
                )
            else:
                log.warning("notifications on but GRAPH_NOTIFICATION_URL / GRAPH_LIFECYCLE_URL unset")
        if spaces is not None:
            onboarding = Onboarding(
                graph,
                spaces,
                rooms,
                BuildingStore(storage),
                report,
                scheduler,
                clock,
                default_horizon_days=settings.sync_horizon_days,
            )
    maintenance = MaintenanceSettings(
        notifications_enabled=settings.sync_notifications_enabled,
        safety_net_seconds=settings.sync_safety_net_seconds,
        poll_interval_seconds=settings.sync_poll_interval_seconds,
        onboarding_interval_seconds=settings.sync_onboarding_interval_seconds,
    )
    return RoomsService(
        rooms=rooms,
        subscriptions=subscriptions,
        scheduler=scheduler,
        runner=runner,
        manager=manager,
        onboarding=onboarding,
        report=report,
        clock=clock,
        settings=maintenance,
    )
