"""Queue functions consuming Graph notifications: a change schedules a (coalesced) delta round of its
room; lifecycle events renew, recreate or resync. Notifications are hints: the round fetches the truth."""

from __future__ import annotations

import azure.functions as func

from shared import telemetry
from shared.graph.notifications import GraphChangeMessage, GraphLifecycleMessage
from shared.logs import correlation
from shared.messaging import parse_or_dead_letter
from shared.storage.names import QueueName
from shared.wiring import services

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.queue_trigger(arg_name="msg", queue_name=QueueName.GRAPH_NOTIFICATIONS, connection="AzureWebJobsStorage")
async def graph_notification_worker(msg: func.QueueMessage) -> None:
    svc = services()
    message = await parse_or_dead_letter(
        msg.get_body(), GraphChangeMessage, svc.queues, QueueName.GRAPH_NOTIFICATIONS
    )
    if message is None:
        return
    with (
        correlation(message.correlation_id),
        telemetry.consumer_span("graph change notification", message.traceparent),
    ):
        await svc.notification_log.record_change(message)
        await svc.rooms.on_change(message)


@bp.queue_trigger(arg_name="msg", queue_name=QueueName.GRAPH_LIFECYCLE, connection="AzureWebJobsStorage")
async def graph_lifecycle_worker(msg: func.QueueMessage) -> None:
    svc = services()
    message = await parse_or_dead_letter(
        msg.get_body(), GraphLifecycleMessage, svc.queues, QueueName.GRAPH_LIFECYCLE
    )
    if message is None:
        return
    with correlation(message.correlation_id):
        await svc.notification_log.record_lifecycle(message)
        await svc.rooms.on_lifecycle(message)
