"""Queue function running one delta round per `sync-rooms` job (429 → re-queued with Retry-After)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared import telemetry
from shared.logs import correlation
from shared.messaging import parse_or_dead_letter
from shared.rooms.models import RoomDeltaJob
from shared.storage.names import QueueName
from shared.wiring import services

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger(__name__)


@bp.queue_trigger(arg_name="msg", queue_name=QueueName.SYNC_ROOMS, connection="AzureWebJobsStorage")
async def room_delta_worker(msg: func.QueueMessage) -> None:
    svc = services()
    body = msg.get_body()
    job = await parse_or_dead_letter(body, RoomDeltaJob, svc.queues, QueueName.SYNC_ROOMS)
    if job is None:
        return
    with correlation(job.correlation_id), telemetry.consumer_span("room delta round", job.traceparent):
        if svc.rooms.runner is None:
            await svc.queues.dead_letter(QueueName.SYNC_ROOMS, body, "Graph is not configured")
            return
        result = await svc.rooms.run_round(job)
        log.info(
            "delta round",
            extra={
                "outcome": result.outcome.value,
                "reason": job.reason,
                "full_resync": result.full_resync,
                "changed": result.changed,
                "removed": result.removed,
                "requests": result.requests,
            },
        )
