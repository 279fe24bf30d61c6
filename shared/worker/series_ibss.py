"""IBSS booking series -> one recurring Outlook meeting: the queue worker around ``decide_series``.

Flow: every booking hook with a ``Booking_Series_Id`` asks for a series job (``request_series_job``);
a burst of hooks (a series create or PATCH fires one per booking) joins one queued job, made visible
after ``DEBOUNCE_SECONDS``. The job takes the series row's lease (ETag), replays a plan a dead worker
left (outbox), reads the series' bookings (one paged IBSS list), reads the room's calendar before a
create, asks the pure core (``shared/sync/ibss_series.py``) and carries the plan out: the plan is first
stored on the row, then every call is idempotent (the create carries a deterministic ``transactionId``;
cancelling a cancelled occurrence or booking is a no-op), then the new base is committed.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar

from azure.core.exceptions import ResourceModifiedError
from msgraph.generated.models.attendee import Attendee as GraphAttendee
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.day_of_week import DayOfWeek as GDay
from msgraph.generated.models.event import Event
from msgraph.generated.models.patterned_recurrence import PatternedRecurrence as GRecurrence
from msgraph.generated.models.recurrence_pattern import RecurrencePattern as GPattern
from msgraph.generated.models.recurrence_pattern_type import RecurrencePatternType as GPatternType
from msgraph.generated.models.recurrence_range import RecurrenceRange as GRange
from msgraph.generated.models.recurrence_range_type import RecurrenceRangeType as GRangeType
from msgraph.generated.models.week_index import WeekIndex as GWeekIndex
from pydantic import BaseModel, ConfigDict, Field

from shared import telemetry
from shared.graph.calendar import GraphCalendar
from shared.graph.errors import GraphNotFound, GraphThrottled, translate
from shared.graph.mapping import (
    create_body,
    graph_time,
    person,
    room_attendee,
    room_location,
    series_info,
    to_organizer_snapshot,
)
from shared.ibss.client import IbssClient
from shared.ibss.intake import BookingSyncJob
from shared.logs import current_correlation_id, new_correlation_id
from shared.recurrence import PatternedRecurrence, zone
from shared.state.ibss_series import SeriesRow, StoredSeries, TableSeriesStore
from shared.storage.names import QueueName
from shared.storage.queues import StorageQueueSink
from shared.sync import BookingSnapshot, OrganizerMode, RoomEventSnapshot
from shared.sync.ibss_series import (
    CancelOccurrence,
    CancelSeriesMeeting,
    CreateSeriesMeeting,
    IbssSeriesBase,
    RoomDeclinesSeries,
    SeriesConfig,
    SeriesMode,
    SeriesPlan,
    SyncSingly,
    UpdateOccurrence,
    UpdateSeriesMaster,
    decide_series,
    is_occurrence_uid,
    is_series_marker,
    series_marker,
)
from shared.sync.ibss_series_outlook import OutlookOccurrence, OutlookSeries, outlook_series_edits
from shared.sync.plan import CancelBooking, CreateMeeting, UpdateBooking
from shared.worker.errors import RetryAfter
from shared.worker.ibss_side import BookingRejected, booking_snapshot
from shared.worker.reconciler import Reconciler

log = logging.getLogger(__name__)
T = TypeVar("T")

DEBOUNCE_SECONDS = 2  # a series create/PATCH fires one hook per booking within about a second
SCHEDULED_STALE_SECONDS = 120.0  # a flag older than this belongs to a job that was lost: schedule again
LEASE_SECONDS = 120.0
CAS_ATTEMPTS = 8


class IbssSeriesJob(BaseModel):
    """Queue message: bring one IBSS series into Outlook. Ids only."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["ibss.series"] = "ibss.series"
    series_id: str = Field(min_length=1, max_length=256)
    node_id: int
    requested_at: datetime
    correlation_id: str = Field(min_length=1, max_length=64)
    traceparent: str | None = Field(default=None, max_length=128)
    # Times this job was put back (lease held, throttled, a leftover of ours still in the room).
    waits: int = Field(default=0, ge=0, le=10_000)


# How many times a create waits for our own leftover meetings in the room to be cancelled (about 2 s each).
LEFTOVER_WAITS = 10


# ============================================================================ scheduling (debounce)


async def request_series_job(
    series_id: str,
    node_id: int,
    store: TableSeriesStore,
    queues: StorageQueueSink,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    delay_seconds: int = DEBOUNCE_SECONDS,
    outlook_check: bool = False,
) -> bool:
    """Queue a job for the series unless one is queued and not started yet (then this hook joins it).
    ``outlook_check``: the room saw the meeting change, so the job also looks for edits made in Outlook.
    True when a job was sent."""
    # Built before the flag is set: a job that cannot be made must not leave a flag later hooks would join.
    job = IbssSeriesJob(
        series_id=series_id,
        node_id=node_id,
        requested_at=clock(),
        correlation_id=current_correlation_id() or new_correlation_id(),
        traceparent=telemetry.current_traceparent(),
    )
    for _ in range(CAS_ATTEMPTS):
        stored = await store.get_or_create(series_id, node_id)
        now = clock()
        row = stored.row
        queued = (
            row.scheduled
            and row.scheduled_at is not None
            and (now - row.scheduled_at).total_seconds() < SCHEDULED_STALE_SECONDS
        )
        if queued and (row.outlook_check or not outlook_check):
            return False
        update: dict[str, Any] = {"outlook_check": True} if outlook_check else {}
        if not queued:
            update |= {"scheduled": True, "scheduled_at": now}
        try:
            stored = await store.save(stored, row.model_copy(update=update))
        except ResourceModifiedError:
            continue
        if queued:
            return False  # the queued job takes the Outlook check along
        try:
            sent = job.model_copy(update={"requested_at": now})
            await queues.send(QueueName.SYNC_IBSS_SERIES, sent, delay_seconds=delay_seconds)
        except BaseException:
            # No job carries the flag: clear it, or later hooks would join a job that never runs.
            with contextlib.suppress(ResourceModifiedError):
                await store.save(stored, stored.row.model_copy(update={"scheduled": False}))
            raise
        return True
    return False


async def route_booking_job(job: BookingSyncJob, queues: StorageQueueSink) -> bool:
    """A hook (or the feed) about a booking of a series: hand it to the series job. True when routed."""
    if not job.series_id or not job.is_change_hint:
        return False
    await request_series_job(job.series_id, job.node_id, TableSeriesStore(queues.account), queues)
    return True


# ============================================================================ echoes


def series_echo(
    store: TableSeriesStore, queues: StorageQueueSink | None = None
) -> Callable[[str, RoomEventSnapshot], Awaitable[bool]]:
    """For the reconciler: is this room item part of a recurring meeting we made from an IBSS series?
    Then the series worker owns it, and the single-booking path must not act on it (zero writes).
    In owner mode the organizer may have edited it in Outlook: the series job is asked to look."""

    async def ours(room_mailbox: str, event: RoomEventSnapshot) -> bool:
        if is_series_marker(event.booking_id_marker):
            return True  # room mode: the room's own series carries our marker (nobody edits it)
        if not is_occurrence_uid(event.ical_uid):
            return False  # a single meeting: no table read
        series_id = await store.series_for_uid(event.ical_uid)
        if series_id is None:
            return False
        if queues is not None:
            await request_outlook_check(series_id, store, queues)
        return True

    return ours


async def request_outlook_check(series_id: str, store: TableSeriesStore, queues: StorageQueueSink) -> bool:
    """The room saw an owner-organized series of ours change (our write's echo, or the organizer's edit in
    Outlook): one debounced series job compares the organizer's series with what we wrote."""
    found = await store.get(series_id)
    base = found.row.base if found is not None else None
    if found is None or base is None or base.mode is not SeriesMode.RECURRING or base.organizer_is_room:
        return False
    return await request_series_job(series_id, found.row.node_id, store, queues, outlook_check=True)


def ibss_series_check(store: TableSeriesStore, queues: StorageQueueSink) -> Callable[[str], Awaitable[None]]:
    """For the room sink: items left the room's calendar that no link knows. A cancelled occurrence or a
    cancelled series of ours leaves only ids behind, so each owner-organized series of ours in that room
    takes a look (one debounced job each)."""

    async def check(room_mailbox: str) -> None:
        for series_id in await store.recurring_in_room(room_mailbox):
            await request_outlook_check(series_id, store, queues)

    return check


# ============================================================================ the worker


async def _graph(call: Awaitable[T]) -> T:
    try:
        return await call
    except Exception as exc:
        error = translate(exc)
        if isinstance(error, GraphThrottled):
            raise RetryAfter(error.retry_after, str(error)) from exc
        if error is not None and error is not exc:
            raise error from exc
        raise


def _ms_recurrence(rec: PatternedRecurrence) -> GRecurrence:
    """Our recurrence model as the msgraph-sdk object (only the properties its type uses)."""
    wire: dict[str, Any] = rec.to_graph()
    p, r = wire["pattern"], wire["range"]
    pattern = GPattern(type=GPatternType(p["type"]), interval=p.get("interval", 1))
    if p.get("daysOfWeek"):
        pattern.days_of_week = [GDay(d) for d in p["daysOfWeek"]]
    if p.get("firstDayOfWeek"):
        pattern.first_day_of_week = GDay(p["firstDayOfWeek"])
    if p.get("index"):
        pattern.index = GWeekIndex(p["index"])
    if p.get("dayOfMonth"):
        pattern.day_of_month = p["dayOfMonth"]
    if p.get("month"):
        pattern.month = p["month"]
    range_ = GRange(type=GRangeType(r["type"]), start_date=date.fromisoformat(r["startDate"]))
    if r.get("endDate"):
        range_.end_date = date.fromisoformat(r["endDate"])
    if r.get("numberOfOccurrences"):
        range_.number_of_occurrences = r["numberOfOccurrences"]
    if r.get("recurrenceTimeZone"):
        range_.recurrence_time_zone = r["recurrenceTimeZone"]
    return GRecurrence(pattern=pattern, range=range_)


def _wall_time(instant: datetime, time_zone: str) -> DateTimeTimeZone:
    """A series' start/end on its own wall clock: the recurrence expands in that zone (DST-correct)."""
    local = instant.astimezone(zone(time_zone))
    return DateTimeTimeZone(date_time=local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), time_zone=time_zone)


@dataclass
class IbssSeriesWorker:
    store: TableSeriesStore
    reconciler: Reconciler  # the single-booking path, its scope and its IBSS side
    ibss: IbssClient
    calendar: GraphCalendar
    organizer_mode: OrganizerMode = OrganizerMode.OWNER
    internal_domains: frozenset[str] = frozenset()
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _zones: dict[int, str] = field(default_factory=dict)
    # The building's ``no_show_release_after`` (node id -> N or None); None here: never released.
    release_after: Callable[[int], Awaitable[int | None]] | None = None

    async def run(self, job: IbssSeriesJob) -> SeriesPlan | None:
        with telemetry.tracer.start_as_current_span(
            "reconcile ibss series", attributes={"ibss.series_id": job.series_id}
        ):
            stored, outlook_check = await self._claim(job)
            done = False
            try:
                if stored.row.pending is not None:
                    log.warning("replaying a pending series plan", extra={"series_id": job.series_id})
                    stored = await self._carry_out(stored, stored.row.pending)
                if outlook_check:
                    edits, stored = await self._outlook_edits(stored)
                    if edits is not None and edits.actions:
                        # IBSS now follows Outlook; the hooks of these writes bring the next job.
                        done = True
                        return edits
                plan = await self._decide_and_apply(stored, job.waits)
                done = True
                return plan
            finally:
                await self._release(job.series_id, outlook_check=outlook_check and not done)

    # ------------------------------------------------------------------ row bookkeeping

    async def _claim(self, job: IbssSeriesJob) -> tuple[StoredSeries, bool]:
        """Clear the debounce flags (later hooks schedule a new job) and take the lease, in one CAS.
        Also says whether the job was asked to look at Outlook."""
        for _ in range(CAS_ATTEMPTS):
            stored = await self.store.get_or_create(job.series_id, job.node_id)
            now = self.clock()
            lease = stored.row.lease_until
            if lease is not None and lease > now:
                raise RetryAfter(2.0, "another worker holds this series")
            row = stored.row.model_copy(
                update={
                    "scheduled": False,
                    "outlook_check": False,
                    "lease_until": now + timedelta(seconds=LEASE_SECONDS),
                }
            )
            try:
                saved = await self.store.save(stored, row)
            except ResourceModifiedError:
                continue
            return saved, stored.row.outlook_check  # whether this run also looks at Outlook
        raise RetryAfter(1.0, "series row kept changing")

    async def _write(self, stored: StoredSeries, **changes: Any) -> StoredSeries:
        """Update the fields this lease holder owns; a hook may have set the debounce flag meanwhile."""
        for _ in range(CAS_ATTEMPTS):
            try:
                return await self.store.save(stored, stored.row.model_copy(update=changes))
            except ResourceModifiedError:
                fresh = await self.store.get(stored.row.series_id)
                if fresh is None:
                    raise
                stored = fresh
        raise RetryAfter(1.0, "series row kept changing")

    async def _release(self, series_id: str, *, outlook_check: bool = False) -> None:
        """Give up the lease; a run that failed before its Outlook check leaves the check asked for."""
        found = await self.store.get(series_id)
        if found is not None:
            with contextlib.suppress(Exception):
                changes: dict[str, Any] = {"lease_until": None}
                if outlook_check:
                    changes["outlook_check"] = True
                await self._write(found, **changes)

    # ------------------------------------------------------------------ deciding

    async def _time_zone(self, node_id: int) -> str:
        if node_id not in self._zones:
            building = await self.ibss.get_building(node_id)
            self._zones[node_id] = building.time_zone or "UTC"
        return self._zones[node_id]

    async def _decide_and_apply(self, stored: StoredSeries, waits: int = 0) -> SeriesPlan:
        row = stored.row
        scope = await self.reconciler.scope.current()
        bookings = await self._bookings(row)
        config = SeriesConfig(
            now=self.clock(),
            organizer_mode=self.organizer_mode,
            time_zone=await self._time_zone(row.node_id),
            internal_domains=self.internal_domains
            or frozenset(m.split("@", 1)[1] for m in scope.by_mailbox if "@" in m),
            no_show_release_after=await self.release_after(row.node_id) if self.release_after else None,
            without_mailbox=await self.reconciler.owners_without_mailbox(),
        )
        busy: list[tuple[datetime, datetime]] = []
        live = [b for b in bookings if b.status.value == "active" and b.end > config.now and b.room_mailbox]
        if (row.base is None or row.base.mode is not SeriesMode.RECURRING) and len(live) >= 2:
            room = live[0].room_mailbox or ""
            slots = await _graph(
                self.calendar.busy_slots(
                    room,
                    min(b.start for b in live),
                    max(b.end for b in live),
                    ignore_marker=series_marker(row.series_id),
                )
            )
            # Meetings we made from IBSS bookings are not conflicts: IBSS already keeps its bookings
            # apart, and one still in the room is the echo of a cancellation under way (a series
            # cancelled and booked again with another pattern). The room's attendant would still decline
            # the new series for it, so the create waits (a few times) for that cancellation to land.
            ours = [s for s in slots if await self._ours(s.booking_id_marker, s.ical_uid)]
            if ours and waits < LEFTOVER_WAITS:
                raise RetryAfter(2.0, "a meeting of ours being cancelled still holds dates of this series")
            busy = [(s.start, s.end) for s in slots if s not in ours]
        plan = decide_series(bookings, row.base, config, busy)
        if plan.actions:
            log.info(
                "series plan",
                extra={
                    "series_id": row.series_id,
                    "actions": [a.kind for a in plan.actions],
                    "why": "; ".join(plan.explanation)[:300],
                },
            )
            stored = await self._write(stored, pending=plan)
            await self._carry_out(stored, plan)
        elif plan.new_base != row.base:
            await self._write(stored, base=plan.new_base)
        return plan

    async def _outlook_edits(self, stored: StoredSeries) -> tuple[SeriesPlan | None, StoredSeries]:
        """Edits the organizer made to our recurring meeting in Outlook, carried to IBSS (owner mode)."""
        base = stored.row.base
        if (
            base is None
            or base.mode is not SeriesMode.RECURRING
            or base.organizer_is_room
            or not base.organizer_mailbox
            or not base.master_event_id
        ):
            return None, stored
        now = self.clock()
        seen = await self._outlook_series(base, now)
        bookings = await self._bookings(stored.row)
        plan = outlook_series_edits(base, seen, bookings, now)
        if not plan.actions:
            if plan.new_base != base:
                stored = await self._write(stored, base=plan.new_base)
            return plan, stored
        log.info(
            "series edited in Outlook",
            extra={
                "series_id": base.series_id,
                "actions": [a.kind for a in plan.actions],
                "why": "; ".join(plan.explanation)[:300],
            },
        )
        stored = await self._write(stored, pending=plan)
        return plan, await self._carry_out(stored, plan)

    async def _outlook_series(self, base: IbssSeriesBase, now: datetime) -> OutlookSeries:
        """The organizer's master and its instances from yesterday to past the last slot (a few reads)."""
        mailbox, master_id = self._master(base)
        slots = [s.original_start for s in base.slots] + [s.start for s in base.slots]
        lo = now - timedelta(days=1)
        hi = max([*slots, now]) + timedelta(days=8)  # room for a moved series (another weekday)
        master = await _graph(self.calendar.get_event(mailbox, master_id))
        if master is None or master.is_cancelled:
            return OutlookSeries(gone=True, window_start=lo, window_end=hi)
        head = to_organizer_snapshot(master, mailbox)
        rooms = {a.email for a in head.attendees} | set(head.location_emails)
        occurrences = []
        for ev in await _graph(self.calendar.instances(mailbox, master_id, lo, hi)):
            info = series_info(ev)
            if info.original_start is None or ev.is_cancelled:
                continue
            one = to_organizer_snapshot(ev, mailbox)
            occurrences.append(
                OutlookOccurrence(original_start=info.original_start, start=one.start, end=one.end)
            )
        private = head.sensitivity.value in ("private", "confidential")
        return OutlookSeries(
            room_invited=base.room_mailbox in rooms,
            subject=None if private else head.subject,
            start=head.start,
            end=head.end,
            recurrence=PatternedRecurrence.from_graph(master.recurrence) if master.recurrence else None,
            window_start=lo,
            window_end=hi,
            occurrences=tuple(occurrences),
        )

    async def _bookings(self, row: SeriesRow) -> list[BookingSnapshot]:
        scope = await self.reconciler.scope.current()
        return [
            booking_snapshot(b, scope)
            for b in await self.ibss.list_bookings(row.node_id, series_id=row.series_id)
        ]

    async def _ours(self, marker: str | None, ical_uid: str | None) -> bool:
        if marker:
            return True  # our extended property: a booking id or a series marker
        if ical_uid and is_occurrence_uid(ical_uid):
            return self.store.knows_uid(ical_uid) or await self.store.series_for_uid(ical_uid) is not None
        return False

    # ------------------------------------------------------------------ doing

    async def _carry_out(self, stored: StoredSeries, plan: SeriesPlan) -> StoredSeries:
        base = plan.new_base
        previous = stored.row.base
        if base is not None and previous is not None and base.master_event_id is None:
            # Ids learnt by an earlier run (a replayed create) stay known.
            base = base.model_copy(
                update={
                    "master_event_id": previous.master_event_id,
                    "master_ical_uid": previous.master_ical_uid,
                }
            )
        occurrences: dict[datetime, str] | None = None
        for action in plan.actions:
            if isinstance(action, CreateSeriesMeeting):
                assert base is not None
                try:
                    created = await _graph(
                        self.calendar.create_event(
                            action.target_mailbox, self._create_body(action), action.transaction_id
                        )
                    )
                except GraphNotFound as exc:
                    if not exc.mailbox_missing or action.organizer_is_room:
                        raise
                    # The owner has no mailbox: the plan no longer fits; decided again, the room organizes.
                    await self.reconciler.remember_without_mailbox(action.target_mailbox)
                    await self._write(stored, pending=None)
                    raise RetryAfter(1.0, "the series owner has no mailbox") from exc
                base = base.model_copy(
                    update={"master_event_id": created.id, "master_ical_uid": created.i_cal_u_id}
                )
                if created.i_cal_u_id:
                    # Before the room's delta round reports the occurrences: they must look like ours.
                    await self.store.index_master(created.i_cal_u_id, base.series_id)
                stored = await self._write(stored, pending=plan.model_copy(update={"new_base": base}))
            elif isinstance(action, UpdateSeriesMaster):
                assert base is not None
                await self._update_master(base, action)
                occurrences = None  # a new time or pattern gives the occurrences new ids
            elif isinstance(action, UpdateOccurrence | CancelOccurrence):
                assert base is not None
                if occurrences is None:
                    touched = [
                        a.original_start
                        for a in plan.actions
                        if isinstance(a, UpdateOccurrence | CancelOccurrence)
                    ]
                    occurrences = await self._occurrences(base, touched)
                await self._occurrence(base, action, occurrences)
            elif isinstance(action, CancelSeriesMeeting):
                assert base is not None
                await self._cancel_master(base, action)
            elif isinstance(action, RoomDeclinesSeries):
                assert base is not None
                await self._room_declines(base, action)
            elif isinstance(action, CancelBooking):
                node = base.node_id if base is not None else stored.row.node_id
                await self.reconciler.ibss.cancel(node, action)
            elif isinstance(action, UpdateBooking):
                assert base is not None
                base = await self._update_booking(base, action)
            elif isinstance(action, SyncSingly):
                for booking_id in action.booking_ids:
                    await self.reconciler.booking_changed(stored.row.node_id, booking_id)
        return await self._write(stored, base=base, pending=None)

    async def _update_booking(self, base: IbssSeriesBase, action: UpdateBooking) -> IbssSeriesBase:
        """An Outlook edit written to IBSS. A refusal (the space is taken, a policy) puts the occurrence
        back where the booking is, so both sides agree and the organizer sees the edit did not hold."""
        try:
            await self.reconciler.ibss.update(base.node_id, action)
            return base
        except BookingRejected as rejected:
            slot = next((s for s in base.slots if s.booking_id == action.booking_id), None)
            booking = await self.ibss.get_booking(base.node_id, action.booking_id)
            log.info(
                "series edit refused by IBSS",
                extra={"series_id": base.series_id, "reason": str(rejected.rejection)[:200]},
            )
            if slot is None:
                return base
            back = UpdateOccurrence(
                booking_id=action.booking_id,
                original_start=slot.original_start,
                start=booking.start,
                end=booking.end,
            )
            await self._occurrence(base, back, await self._occurrences(base, [back.original_start]))
            slots = tuple(
                s.model_copy(update={"start": booking.start, "end": booking.end}) if s is slot else s
                for s in base.slots
            )
            return base.model_copy(update={"slots": slots})

    def _create_body(self, action: CreateSeriesMeeting) -> Event:
        body = create_body(
            CreateMeeting(
                target_mailbox=action.target_mailbox,
                organizer_is_room=action.organizer_is_room,
                subject=action.subject,
                start=action.start,
                end=action.end,
                attendees=action.attendees,
                room_mailbox=action.room_mailbox,
                booking_id_marker=action.marker,
                transaction_id=action.transaction_id,
                online_meeting=action.online_meeting,
            )
        )
        body.start = _wall_time(action.start, action.time_zone)
        body.end = _wall_time(action.end, action.time_zone)
        body.recurrence = _ms_recurrence(action.recurrence)
        if action.invite_later:
            # Nobody is invited until the dates the room cannot take are removed: the room's attendant
            # declines a whole series that conflicts anywhere, and people get one clean invitation.
            body.attendees = []
            if not action.organizer_is_room:
                body.location = None
                body.locations = []
        return body

    def _master(self, base: IbssSeriesBase) -> tuple[str, str]:
        if not base.organizer_mailbox or not base.master_event_id:
            raise GraphNotFound("the series meeting is not known yet", status=404)
        return base.organizer_mailbox, base.master_event_id

    async def _update_master(self, base: IbssSeriesBase, action: UpdateSeriesMaster) -> None:
        mailbox, master_id = self._master(base)
        patch = Event()
        if action.subject is not None:
            patch.subject = action.subject
        if action.start is not None and action.end is not None:
            patch.start = _wall_time(action.start, base.time_zone)
            patch.end = _wall_time(action.end, base.time_zone)
        if action.recurrence is not None:
            patch.recurrence = _ms_recurrence(action.recurrence)
        if action.attendees is not None or action.invite:
            people: list[GraphAttendee] = [person(a) for a in (action.attendees or base.attendees)]
            if not base.organizer_is_room and base.room_mailbox:
                people.append(room_attendee(base.room_mailbox))
            patch.attendees = people
        if action.invite and not base.organizer_is_room and base.room_mailbox:
            patch.location = room_location(base.room_mailbox)
            patch.locations = [room_location(base.room_mailbox)]
        await _graph(self.calendar.update_event(mailbox, master_id, patch, None))

    async def _occurrences(self, base: IbssSeriesBase, wanted: Sequence[datetime]) -> dict[datetime, str]:
        """originalStart -> occurrence id around the wanted slots (one instances read)."""
        mailbox, master_id = self._master(base)
        lo, hi = min(wanted) - timedelta(days=1), max(wanted) + timedelta(days=1)
        found: dict[datetime, str] = {}
        for ev in await _graph(self.calendar.instances(mailbox, master_id, lo, hi)):
            info = series_info(ev)
            if ev.id and info.original_start is not None:
                found[info.original_start] = ev.id
        return found

    async def _occurrence(
        self, base: IbssSeriesBase, action: UpdateOccurrence | CancelOccurrence, ids: dict[datetime, str]
    ) -> None:
        mailbox, _ = self._master(base)
        event_id = ids.get(action.original_start)
        if event_id is None:
            # Not listed: already cancelled (a replayed plan), so there is nothing left to do.
            log.info("occurrence not found", extra={"series_id": base.series_id, "kind": action.kind})
            return
        try:
            if isinstance(action, CancelOccurrence):
                if action.comment:
                    await _graph(self.calendar.cancel_event(mailbox, event_id, action.comment))
                else:  # nobody invited yet: a plain delete sends nothing
                    await _graph(self.calendar.delete_event(mailbox, event_id))
                return
            patch = Event()
            if action.start is not None and action.end is not None:
                patch.start, patch.end = graph_time(action.start), graph_time(action.end)
            if action.subject is not None:
                patch.subject = action.subject
            await _graph(self.calendar.update_event(mailbox, event_id, patch, None))
        except GraphNotFound as exc:
            if exc.mailbox_missing:
                raise

    async def _room_declines(self, base: IbssSeriesBase, action: RoomDeclinesSeries) -> None:
        """The room declines its own copy of the series (found by the master's iCalUId), with the reason."""
        if not base.room_mailbox or not base.master_ical_uid:
            return
        try:
            copy = await _graph(self.calendar.find_by_ical_uid(base.room_mailbox, base.master_ical_uid))
            if copy is not None and copy.id:
                await _graph(self.calendar.decline_event(base.room_mailbox, copy.id, action.comment, True))
        except GraphNotFound as exc:
            if exc.mailbox_missing:
                raise

    async def _cancel_master(self, base: IbssSeriesBase, action: CancelSeriesMeeting) -> None:
        mailbox, master_id = self._master(base)
        try:
            await _graph(self.calendar.cancel_event(mailbox, master_id, action.comment))
        except GraphNotFound as exc:
            if exc.mailbox_missing:
                raise


async def run_series_job(job: IbssSeriesJob, worker: IbssSeriesWorker, queues: StorageQueueSink) -> None:
    """Run one series job; throttled or leased elsewhere: the same job comes back after the wait."""
    with telemetry.consumer_span(
        "ibss series job",
        job.traceparent,
        {"messaging.destination.name": QueueName.SYNC_IBSS_SERIES.value, "ibss.series_id": job.series_id},
    ):
        try:
            plan = await worker.run(job)
        except RetryAfter as wait:
            log.info("series job re-queued", extra={"delay_s": wait.seconds, "reason": str(wait)[:200]})
            retry = job.model_copy(update={"requested_at": datetime.now(UTC), "waits": job.waits + 1})
            await queues.send(
                QueueName.SYNC_IBSS_SERIES, retry, delay_seconds=max(1, math.ceil(wait.seconds))
            )
            return
    if plan is not None and plan.actions:
        log.info(
            "series reconciled",
            extra={
                "series_id": job.series_id,
                "actions": len(plan.actions),
                "why": "; ".join(plan.explanation)[:300],
            },
        )


_workers: dict[int, IbssSeriesWorker] = {}


def series_worker_for_current_loop(settings: Any, storage: Any) -> IbssSeriesWorker:
    """The worker of this event loop, sharing the reconciler's clients (SyncNotConfigured if unset)."""
    import asyncio  # noqa: PLC0415 - keeps module import light

    from shared.worker.outlook_side import GraphOutlookSide  # noqa: PLC0415
    from shared.worker.policy import TableBuildingModes  # noqa: PLC0415
    from shared.worker.wiring import reconciler_for_current_loop  # noqa: PLC0415 - wiring imports us

    loop_id = id(asyncio.get_running_loop())
    found = _workers.get(loop_id)
    if found is not None:
        return found
    reconciler = reconciler_for_current_loop(settings, storage)
    outlook = reconciler.outlook
    assert isinstance(outlook, GraphOutlookSide)
    found = IbssSeriesWorker(
        store=TableSeriesStore(storage),
        reconciler=reconciler,
        ibss=reconciler.ibss.client,
        calendar=outlook.calendar,
        organizer_mode=reconciler.settings.organizer_mode,
        internal_domains=reconciler.settings.internal_domains,
        release_after=TableBuildingModes(storage).no_show_release_after,
    )
    _workers[loop_id] = found
    return found
