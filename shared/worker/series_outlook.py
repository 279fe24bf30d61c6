"""Recurring meetings made in Outlook -> IBSS: the `sync-series` worker and its adapters.

Delta rounds route every occurrence and exception of a series to one ``SeriesJob`` per series (keyed by
the room copy's series master id) instead of single-link reconciles, so no occurrence is booked by both
paths. The job reads the room's series master and its ``/instances`` (2 Graph requests, 3 in owner mode
for the organizer's subject), lists the space's IBSS bookings in the horizon (1 IBSS request), asks the
pure core (``shared/sync/series_outlook.py``) for a plan and carries it out under an ETag-guarded lease
on the series row (``shared/state/series.py``). IBSS creates carry ``Booking_Ext_Ref`` =
``series_ref(iCalUId, slot)`` per occurrence, so a retried create finds what an earlier run made.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.headers_collection import HeadersCollection
from msgraph.generated.models.event import Event
from msgraph.generated.models.event_collection_response import EventCollectionResponse
from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder
from msgraph.generated.users.item.events.item.instances.instances_request_builder import (
    InstancesRequestBuilder,
)
from msgraph.graph_service_client import GraphServiceClient
from pydantic import BaseModel, Field

from shared.graph.calendar import GraphCalendar
from shared.graph.errors import GraphForbidden, GraphNotFound, graph_errors
from shared.graph.mapping import (
    EVENT_SELECT,
    MARKER_EXPAND,
    PREFER_UTC,
    attendees_of,
    marker_of,
    parse_graph_time,
)
from shared.ibss.client import IbssClient
from shared.ibss.errors import IbssBadRequest, IbssConflict, IbssNotFound, IbssPreconditionFailed
from shared.ibss.models import (
    Booking,
    BookingParty,
    BookingSeriesCreate,
    BookingSeriesUpdate,
    BookingStatus,
    BookingUpdate,
    Occurrence,
)
from shared.logs import current_correlation_id, new_correlation_id
from shared.recurrence import PatternedRecurrence, windows_to_iana
from shared.rooms.delta import sync_window
from shared.rooms.store import RoomStore
from shared.state.series import SeriesLease, StoredSeries, TableSeriesStore
from shared.storage.names import QueueName
from shared.sync import GONE, UNREAD, BookingSnapshot, Gone, Observed, OrganizerMode, Party, Present, SpaceRef
from shared.sync import BookingStatus as SyncStatus
from shared.sync.model import AttendeeType, Response, Sensitivity
from shared.sync.normalize import is_internal, normalize_email, room_subject_to_title
from shared.sync.series_outlook import (
    Busy,
    CancelSeriesBooking,
    CreateSeriesBookings,
    DeclineOccurrences,
    MoveSeriesBooking,
    NewSlot,
    RefusedOccurrence,
    ReleaseSeries,
    SeriesBase,
    SeriesBooking,
    SeriesInstance,
    SeriesMaster,
    SeriesPlan,
    UpdateSeriesFields,
    Window,
    decline_comment,
    parse_series_ref,
    plan_series,
    record_created,
    record_refused,
    record_version,
    series_ref,
    slot_key,
)
from shared.worker.errors import RetryAfter, StaleRead
from shared.worker.ibss_side import _ibss
from shared.worker.scope import CachedScope

log = logging.getLogger(__name__)

SERIES_TYPES = frozenset({"seriesMaster", "occurrence", "exception"})
LEASE_SECONDS = 120.0  # longer than any series plan takes; an older lease was abandoned by a dead worker
MAX_ATTEMPTS = 4
_SELECT = [*EVENT_SELECT, "recurrence", "originalStartTimeZone"]
_IBSS_CANCELLED = (BookingStatus.CANCELLED, BookingStatus.AUTO_CANCELLED)
_CHECKED_IN = (BookingStatus.EARLY_CHECKIN, BookingStatus.LATE_CHECKIN, BookingStatus.IN_PROGRESS)


class SeriesJob(BaseModel):
    """One message of the `sync-series` queue: look at one series in one room."""

    room_mailbox: str = Field(min_length=3)
    master_event_id: str = Field(min_length=1)
    reason: Literal["delta", "removed", "roll_forward", "retry", "ibss"] = "delta"
    requested_at: datetime
    correlation_id: str = ""
    attempt: int = 0


def new_job(room_mailbox: str, master_event_id: str, reason: str) -> SeriesJob:
    return SeriesJob.model_validate(
        {
            "room_mailbox": normalize_email(room_mailbox),
            "master_event_id": master_event_id,
            "reason": reason,
            "requested_at": datetime.now(UTC),
            "correlation_id": current_correlation_id() or new_correlation_id(),
        }
    )


def series_master_id(event: Event) -> str | None:
    """The series an item of a room calendar belongs to, or None for a single meeting."""
    kind = str(getattr(event.type, "value", event.type) or "singleInstance")
    if kind not in SERIES_TYPES:
        return None
    return event.id if kind == "seriesMaster" else event.series_master_id


# --------------------------------------------------------------------------- Graph


def _headers() -> HeadersCollection:
    headers = HeadersCollection()
    headers.add("Prefer", PREFER_UTC)
    return headers


@dataclass
class SeriesGraph:
    """The reads and replies of the series path (msgraph-sdk; every call is one Graph request)."""

    client: GraphServiceClient
    calendar: GraphCalendar
    page_size: int = 500

    async def master(self, mailbox: str, master_id: str) -> Observed[Event]:
        query = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(
            select=_SELECT, expand=[MARKER_EXPAND]
        )
        try:
            async with graph_errors():
                found = (
                    await self.client.users.by_user_id(mailbox)
                    .events.by_event_id(master_id)
                    .get(RequestConfiguration(headers=_headers(), query_parameters=query))
                )
        except GraphNotFound as exc:
            return UNREAD if exc.mailbox_missing else GONE
        except GraphForbidden:
            return UNREAD
        return Present(found) if found is not None else GONE

    async def instances(self, mailbox: str, master_id: str, start: datetime, end: datetime) -> list[Event]:
        query = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
            start_date_time=start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            end_date_time=end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            select=list(EVENT_SELECT),
            top=self.page_size,
        )
        builder = self.client.users.by_user_id(mailbox).events.by_event_id(master_id).instances
        out: list[Event] = []
        async with graph_errors():
            page: EventCollectionResponse | None = await builder.get(
                RequestConfiguration(headers=_headers(), query_parameters=query)
            )
            while page is not None:
                out.extend(page.value or [])
                if not page.odata_next_link:
                    break
                page = await builder.with_url(page.odata_next_link).get(
                    RequestConfiguration(headers=_headers())
                )
        return out

    async def organizer_master(self, mailbox: str, ical_uid: str) -> Event | None:
        try:
            return await self.calendar.find_by_ical_uid(mailbox, ical_uid)
        except (GraphNotFound, GraphForbidden):
            return None

    async def decline(self, mailbox: str, event_id: str, comment: str) -> None:
        await self.calendar.decline_event(mailbox, event_id, comment, send_response=True)


# --------------------------------------------------------------------------- mapping


def _sensitive(event: Event) -> bool:
    raw = str(getattr(event.sensitivity, "value", event.sensitivity) or "normal")
    return raw in (Sensitivity.PRIVATE.value, Sensitivity.CONFIDENTIAL.value)


@dataclass(frozen=True)
class NameRules:
    organizer_mode: OrganizerMode = OrganizerMode.OWNER
    internal_domains: frozenset[str] = frozenset()
    private_booking_name: str = "Private booking"
    unknown_subject_name: str = "Outlook meeting"


def to_master(
    room_event: Event, room_mailbox: str, organizer: Event | None, rules: NameRules
) -> SeriesMaster:
    """The room copy of a series master (plus the organizer's copy in owner mode) as the core's input."""
    if not room_event.id or not room_event.i_cal_u_id or room_event.recurrence is None:
        raise ValueError("series master without id, iCalUId or recurrence")
    recurrence = PatternedRecurrence.from_graph(room_event.recurrence)
    zone_name = windows_to_iana(
        recurrence.range.recurrence_time_zone
        or room_event.original_start_time_zone
        or (room_event.start.time_zone if room_event.start else None)
        or "UTC"
    )
    org_email = normalize_email(
        (room_event.organizer.email_address.address or "")
        if room_event.organizer and room_event.organizer.email_address
        else ""
    )
    if not org_email:
        raise ValueError("the meeting has no organizer address")  # no booking owned by a made-up one
    org_name = (
        room_event.organizer.email_address.name or ""
        if room_event.organizer and room_event.organizer.email_address
        else ""
    )
    source = organizer or room_event
    if _sensitive(source):
        name = rules.private_booking_name
    elif organizer is not None:
        name = organizer.subject or rules.unknown_subject_name
    else:
        name = (
            room_subject_to_title(
                room_event.subject, org_name, add_organizer_to_subject=True, delete_subject=True
            )
            or org_name
            or rules.unknown_subject_name
        )
    room = normalize_email(room_mailbox)
    parties = frozenset(
        Party(email=a.email, is_visitor=True)
        for a in attendees_of(source)
        if a.type != AttendeeType.RESOURCE
        and a.email not in (room, org_email)
        and not is_internal(a.email, rules.internal_domains)
    )
    response = str(
        getattr(room_event.response_status.response, "value", room_event.response_status.response)
        if room_event.response_status
        else ""
    )
    return SeriesMaster(
        event_id=room_event.id,
        series_uid=room_event.i_cal_u_id,
        room_mailbox=room,
        recurrence=recurrence,
        start=parse_graph_time(room_event.start),
        end=parse_graph_time(room_event.end),
        time_zone=zone_name,
        name=name[:200],
        owner_email=org_email,
        parties=parties,
        online_meeting=bool(room_event.is_online_meeting),
        cancelled=bool(room_event.is_cancelled) or response == Response.DECLINED.value,
    )


def to_instance(event: Event) -> SeriesInstance | None:
    if not event.id:
        return None
    original = event.original_start
    start = parse_graph_time(event.start)
    if original is None:
        original = start
    elif original.tzinfo is None:
        original = original.replace(tzinfo=UTC)
    kind = str(getattr(event.type, "value", event.type) or "")
    response = str(
        getattr(event.response_status.response, "value", event.response_status.response)
        if event.response_status
        else ""
    )
    return SeriesInstance(
        event_id=event.id,
        original_start=original.astimezone(UTC),
        start=start,
        end=parse_graph_time(event.end),
        is_exception=kind == "exception",
        is_cancelled=bool(event.is_cancelled),
        room_declined=response == Response.DECLINED.value,
    )


def to_series_booking(b: Booking, base: SeriesBase | None) -> SeriesBooking:
    ref = parse_series_ref(b.ext_ref)
    status = (
        SyncStatus.AUTO_CANCELLED  # a no-show: counted by the series' no-show release
        if b.status == BookingStatus.AUTO_CANCELLED
        else SyncStatus.CANCELLED
        if b.status in _IBSS_CANCELLED
        else SyncStatus.COMPLETED
        if b.status == BookingStatus.COMPLETED
        else SyncStatus.ACTIVE
    )
    return SeriesBooking(
        booking_id=b.id,
        slot=ref[1] if ref else (base.booking_slot(b.id) if base else None),
        start=b.start,
        end=b.end,
        status=status,
        version=b.etag or "",
        series_id=b.series_id,
        checked_in=b.status in _CHECKED_IN,
    )


def _read_start(window: Window, base: SeriesBase | None) -> datetime:
    """Reads reach back to the start of booked occurrences still running: IBSS auto-cancels a booking
    after its start (no-show) and people check in after it, and those outcomes count for the series."""
    slots = base.slots.values() if base else ()
    running = [v.start for v in slots if v.booking_id and v.end > window.start]
    return min([window.start, *running])


def _party(p: Party) -> BookingParty:
    return BookingParty(email=p.email, is_visitor=p.is_visitor, first_name=p.email.split("@", 1)[0])


# --------------------------------------------------------------------------- the worker


@dataclass
class SeriesResult:
    outcome: Literal["done", "noop", "skipped"]
    plan: SeriesPlan | None = None
    graph_reads: int = 0


@dataclass
class OutlookSeriesWorker:
    graph: SeriesGraph
    ibss: IbssClient
    scope: CachedScope
    store: TableSeriesStore
    rooms: RoomStore
    rules: NameRules = field(default_factory=NameRules)
    default_horizon_days: int = 90
    clock: Any = field(default=lambda: datetime.now(UTC))
    # The building's ``no_show_release_after`` (node id -> N or None); None here: never released.
    release_after: Callable[[int], Awaitable[int | None]] | None = None

    async def run(self, job: SeriesJob) -> SeriesResult:
        for _ in range(MAX_ATTEMPTS):
            try:
                return await self._run_once(job)
            except (StaleRead, ResourceModifiedError, ResourceExistsError):
                continue  # another worker or a person changed something meanwhile: read again
        raise StaleRead(f"series kept changing during {MAX_ATTEMPTS} attempts")

    async def _window(self, room: str, now: datetime) -> Window:
        found = await self.rooms.get(room)
        tz, days = (
            (found[0].time_zone, found[0].horizon_days) if found else ("UTC", self.default_horizon_days)
        )
        _, end = sync_window(now, tz, days)
        return Window(start=now, end=end)

    async def _run_once(self, job: SeriesJob) -> SeriesResult:
        scope = await self.scope.current()
        space = scope.space_for_mailbox(job.room_mailbox)
        if space is None:
            return SeriesResult("skipped")  # not a synced room: never touched
        now = self.clock()
        row = await self.store.get(job.room_mailbox, job.master_event_id)
        base = row.base
        if row.lease is not None:
            if (now - row.lease.started_at).total_seconds() < LEASE_SECONDS:
                raise RetryAfter(2.0, "another worker is carrying out a plan on this series")
            if base is not None and row.lease.cancels:
                # Abandoned half-way: the bookings it cancelled were ours, not IBSS-side cancellations.
                gone = set(row.lease.cancels)
                base = base.model_copy(
                    update={"slots": {k: v for k, v in base.slots.items() if v.booking_id not in gone}}
                )
        window = await self._window(job.room_mailbox, now)
        master, instances, reads = await self._read_outlook(job, base)
        bookings, busy = await self._read_ibss(space, window, master, base)
        release_after = await self.release_after(space.node_id) if self.release_after else None
        plan = plan_series(master, instances, bookings, base, window, space, busy, release_after)
        if plan.is_noop:
            if plan.new_base is not None and plan.new_base != base:
                await self.store.save(row, plan.new_base, None)  # versions learned, past slots dropped
            elif row.lease is not None:
                await self.store.save(row, base, None)
            return SeriesResult("noop", plan, reads)
        log.info(
            "series plan",
            extra={"actions": [a.kind for a in plan.actions], "why": "; ".join(plan.explanation)[:300]},
        )
        cancels = tuple(a.booking_id for a in plan.actions if isinstance(a, CancelSeriesBooking))
        claimed = await self.store.save(row, base, SeriesLease(started_at=now, cancels=cancels))
        try:
            new_base = await self._carry_out(plan, space, instances, master)
        except Exception:
            # Give the lease back at once: the next attempt decides again from what IBSS now holds.
            with contextlib.suppress(ResourceModifiedError, ResourceExistsError):
                await self.store.save(claimed, base, None)
            raise
        await self.store.save(claimed, new_base, None)
        return SeriesResult("done", plan, reads)

    async def _read_outlook(
        self, job: SeriesJob, base: SeriesBase | None
    ) -> tuple[Observed[SeriesMaster], list[SeriesInstance] | None, int]:
        raw = await self.graph.master(job.room_mailbox, job.master_event_id)
        reads = 1
        if isinstance(raw, Gone):
            return GONE, None, reads
        if not isinstance(raw, Present):
            return UNREAD, None, reads  # unreadable now: decide on a later run, never cancel on a guess
        event = raw.value
        if str(getattr(event.type, "value", event.type)) != "seriesMaster":
            return UNREAD, None, reads  # not a series master (anymore): the single path owns it
        organizer_address = (
            event.organizer.email_address.address
            if event.organizer and event.organizer.email_address
            else None
        )
        if marker_of(event) or normalize_email(organizer_address or "") == normalize_email(job.room_mailbox):
            # Made by the service from IBSS (our marker, or organized by the room): the IBSS series path's.
            return UNREAD, None, reads
        organizer = None
        if self.rules.organizer_mode is OrganizerMode.OWNER and event.i_cal_u_id and event.organizer:
            address = event.organizer.email_address.address if event.organizer.email_address else None
            if address and normalize_email(address) != normalize_email(job.room_mailbox):
                organizer = await self.graph.organizer_master(normalize_email(address), event.i_cal_u_id)
                reads += 1
        rules = self.rules
        if not rules.internal_domains:
            # As the single path: the tenant's domains are those of its room mailboxes.
            scope = await self.scope.current()
            domains = frozenset(m.split("@", 1)[1] for m in scope.by_mailbox if "@" in m)
            rules = NameRules(
                rules.organizer_mode, domains, rules.private_booking_name, rules.unknown_subject_name
            )
        try:
            master = to_master(event, job.room_mailbox, organizer, rules)
        except ValueError as exc:
            log.warning("series master skipped", extra={"reason": str(exc)[:200]})
            return UNREAD, None, reads
        if master.cancelled:
            return Present(master), [], reads
        now = self.clock()
        window = await self._window(job.room_mailbox, now)
        items = await self.graph.instances(
            job.room_mailbox, job.master_event_id, _read_start(window, base), window.end
        )
        reads += 1
        instances = [i for i in (to_instance(e) for e in items) if i is not None]
        return Present(master), instances, reads

    async def _read_ibss(
        self, space: SpaceRef, window: Window, master: Observed[SeriesMaster], base: SeriesBase | None
    ) -> tuple[list[SeriesBooking], list[Busy]]:
        uid = master.value.series_uid if isinstance(master, Present) else (base.series_uid if base else None)
        if uid is None:
            return [], []
        found = await _ibss(
            self.ibss.list_bookings(
                space.node_id, space_id=space.space_id, start=_read_start(window, base), end=window.end
            )
        )
        known = {v.booking_id for v in base.slots.values() if v.booking_id} if base else set()
        ours: list[SeriesBooking] = []
        busy: list[Busy] = []
        for b in found:
            ref = parse_series_ref(b.ext_ref)
            if (ref is not None and ref[0] == uid) or b.id in known:
                ours.append(to_series_booking(b, base))
            elif b.holds_space:
                busy.append(Busy(start=b.start, end=b.end))
        return ours, busy

    async def _carry_out(
        self,
        plan: SeriesPlan,
        space: SpaceRef,
        instances: Sequence[SeriesInstance] | None,
        master: Observed[SeriesMaster],
    ) -> SeriesBase | None:
        base = plan.new_base
        node = space.node_id
        # A release cancels booking by booking, with the no-show reason its owner sees.
        ended = base is not None and base.ended and not base.released
        cancelled_by_series: set[str] = set()
        if ended and base is not None:
            # The whole series: one call per IBSS series instead of one per booking.
            for sid in base.ibss_series_ids:
                try:
                    done = await _ibss(self.ibss.cancel_series(node, sid))
                    cancelled_by_series |= {b.id for b in done.bookings}
                except IbssNotFound:
                    continue
        for action in plan.actions:
            if isinstance(action, CreateSeriesBookings):
                assert base is not None
                base = await self._create(node, action, base, instances, master)
            elif isinstance(action, MoveSeriesBooking):
                try:
                    moved = await _ibss(
                        self.ibss.update_booking(
                            node,
                            action.booking_id,
                            BookingUpdate(start=action.start, end=action.end),
                            etag=action.if_match,
                        )
                    )
                except IbssPreconditionFailed as exc:
                    raise StaleRead(str(exc)) from exc
                if base is not None and moved.etag:
                    base = record_version(base, action.booking_id, moved.etag)
            elif isinstance(action, CancelSeriesBooking):
                if action.booking_id in cancelled_by_series:
                    continue
                try:
                    await _ibss(self.ibss.cancel_booking(node, action.booking_id, reason=action.reason))
                except IbssNotFound:
                    pass
                except IbssConflict as exc:
                    if exc.reason != "AlreadyCancelled":
                        raise
            elif isinstance(action, UpdateSeriesFields):
                changes = BookingSeriesUpdate.model_validate(
                    {
                        k: v
                        for k, v in {
                            "name": action.name,
                            "parties": [_party(p) for p in action.parties]
                            if action.parties is not None
                            else None,
                            "online_meeting": action.online_meeting,
                        }.items()
                        if v is not None
                    }
                )
                for sid in action.series_ids:
                    try:
                        updated = await _ibss(self.ibss.update_series(node, sid, changes))
                    except IbssNotFound:
                        continue
                    for b in updated.bookings:
                        if base is not None and b.etag:
                            base = record_version(base, b.id, b.etag)
            elif isinstance(action, DeclineOccurrences):
                await self._decline(action, master)
            elif isinstance(action, ReleaseSeries):
                with contextlib.suppress(GraphNotFound):  # the series is gone meanwhile: nothing to release
                    await self.graph.decline(action.room_mailbox, action.master_event_id, action.comment)
        return base

    async def _create(
        self,
        node: int,
        action: CreateSeriesBookings,
        base: SeriesBase,
        instances: Sequence[SeriesInstance] | None,
        master: Observed[SeriesMaster],
    ) -> SeriesBase:
        """One IBSS series for the new slots (all or nothing there): a slot IBSS refuses is left out and
        the rest created again; the room then declines the refused dates."""
        slots = list(action.slots)
        refused: list[NewSlot] = []
        while slots:
            body = BookingSeriesCreate(
                space_id=action.space.space_id,
                name=action.name,
                owner_email=action.owner_email,
                parties=[_party(p) for p in action.parties],
                online_meeting=action.online_meeting,
                occurrences=[
                    Occurrence(start=s.start, end=s.end, ext_ref=series_ref(action.series_uid, s.slot))
                    for s in slots
                ],
            )
            try:
                made = await _ibss(self.ibss.create_series(node, body))
            except (IbssConflict, IbssBadRequest) as exc:
                index = (exc.details or {}).get("Occurrence") if isinstance(exc.details, dict) else None
                ordered = sorted(slots, key=lambda s: s.start)
                if not isinstance(index, int) or not 0 <= index < len(ordered):
                    raise
                refused.append(ordered[index])
                slots = [s for s in slots if s.slot != ordered[index].slot]
                continue
            created = [to_series_booking(b, None) for b in made.bookings]
            base = record_created(base, made.series_id, created)
            break
        if refused:
            base = record_refused(base, refused)
            by_original = {slot_key(i.original_start): i for i in instances or ()}
            declines = tuple(
                RefusedOccurrence(
                    slot=s.slot, event_id=by_original[s.slot].event_id, start=s.start, end=s.end
                )
                for s in refused
                if s.slot in by_original
            )
            if declines:
                await self._decline(
                    DeclineOccurrences(
                        room_mailbox=action.space.room_mailbox,
                        occurrences=declines,
                        reason="the space is already booked in IBSS at that time",
                    ),
                    master,
                )
        return base

    async def _decline(self, action: DeclineOccurrences, master: Observed[SeriesMaster]) -> None:
        zone_name = master.value.time_zone if isinstance(master, Present) else "UTC"
        comment = action.comment or decline_comment(action.occurrences, zone_name, action.reason)
        for occ in action.occurrences:
            try:
                await self.graph.decline(action.room_mailbox, occ.event_id, comment)
            except GraphNotFound:
                continue  # the occurrence is gone meanwhile: nothing to decline


# --------------------------------------------------------------------------- routing


@dataclass
class SeriesRouter:
    """Takes recurring items out of delta rounds and hands them to the `sync-series` queue."""

    queue: Any  # StorageQueueSink (send(queue, message, delay_seconds))
    store: TableSeriesStore
    graph: SeriesGraph
    delay_seconds: int = 1  # lets the rest of a burst (organizer's writes, room replies) land first

    async def enqueue(self, room_mailbox: str, master_ids: Sequence[str], reason: str) -> None:
        for master_id in dict.fromkeys(master_ids):
            await self.queue.send(
                QueueName.SYNC_SERIES,
                new_job(room_mailbox, master_id, reason),
                delay_seconds=self.delay_seconds,
            )

    async def removed(self, room_mailbox: str) -> None:
        """Items vanished from a room: any of its active series may have been cancelled or removed."""
        rows: list[StoredSeries] = await self.store.active(room_mailbox)
        await self.enqueue(room_mailbox, [r.master_event_id for r in rows], "removed")

    async def read_removed(self, room_mailbox: str, event_id: str) -> Observed[Event]:
        """A removed id, read raw (type and seriesMasterId tell which path owns it)."""
        return await self.graph.master(room_mailbox, event_id)


def series_booking_hook(store: TableSeriesStore, queue: Any) -> Callable[[BookingSnapshot], Awaitable[None]]:
    """For the reconciler: an IBSS hook of an Outlook series' booking becomes a job of its series when
    IBSS changed something (a no-show, a check-in); the hook of our own write (its version is in the base)
    costs one table read and nothing else."""

    async def hook(booking: BookingSnapshot) -> None:
        ref = parse_series_ref(booking.origin_ical_uid)
        if ref is None or booking.room_mailbox is None:
            return
        row = await store.find_by_uid(booking.room_mailbox, ref[0])
        if row is None or row.base is None or row.base.ended:
            return
        known = row.base.slots.get(ref[1])
        if known is not None and known.version == booking.version and booking.status == SyncStatus.ACTIVE:
            return  # our echo
        await queue.send(
            QueueName.SYNC_SERIES, new_job(booking.room_mailbox, row.master_event_id, "ibss"), delay_seconds=1
        )

    return hook


async def roll_forward(store: TableSeriesStore, queue: Any) -> int:
    """Daily: every active series is looked at again, so the horizon's new days get booked."""
    rows = await store.active()
    for i, row in enumerate(rows):
        # Spread over a few minutes: thousands of series should not hit Graph in one second.
        job = new_job(row.room_mailbox, row.master_event_id, "roll_forward")
        await queue.send(QueueName.SYNC_SERIES, job, delay_seconds=min(i // 10, 900))
    return len(rows)
