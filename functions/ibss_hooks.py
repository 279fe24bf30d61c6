"""IBSS booking hooks: Standard Webhooks signatures are the authentication, so the route is anonymous."""

from __future__ import annotations

import logging

import azure.functions as func

from functions.http_responses import json_error, json_response
from shared.ibss.intake import BookingSyncJob, HookRejected
from shared.logs import correlation
from shared.messaging import parse_or_dead_letter
from shared.storage.names import QueueName
from shared.wiring import services
from shared.worker.desks import desk_sync_for_current_loop, run_desk_job
from shared.worker.jobs import run_booking_job
from shared.worker.wiring import SyncNotConfigured, reconciler_for_current_loop

log = logging.getLogger(__name__)

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(route="ibss/hooks", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def ibss_hooks(req: func.HttpRequest) -> func.HttpResponse:
    try:
        # The raw body: re-serialised JSON would not match the signature.
        job = await services().hook_intake.accept(req.get_body(), dict(req.headers))
    except HookRejected as rejected:
        return json_error(rejected.status, rejected.code, str(rejected))
    return json_response(202, {"accepted": True, "correlation_id": job.correlation_id})


@bp.queue_trigger(arg_name="msg", queue_name=QueueName.SYNC_BOOKINGS, connection="AzureWebJobsStorage")
async def booking_sync_worker(msg: func.QueueMessage) -> None:
    svc = services()
    job = await parse_or_dead_letter(msg.get_body(), BookingSyncJob, svc.queues, QueueName.SYNC_BOOKINGS)
    if job is None:
        return
    with correlation(job.correlation_id):
        await svc.notification_log.record_booking_job(job)
        try:
            reconciler = reconciler_for_current_loop(svc.settings, svc.storage)
        except SyncNotConfigured as exc:
            log.warning("booking job recorded but not synced: %s", exc)
            return
        await run_booking_job(job, reconciler, svc.queues)
        # Desk bookings go to the owner's own calendar (Bkng_Sync_Enabled + opt-in): shared/worker/desks.py.
        desks = desk_sync_for_current_loop(reconciler, svc.storage)
        if desks is not None:
            await run_desk_job(job, desks, svc.queues)
