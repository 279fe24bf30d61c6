"""A tiny in-memory model of IBSS, Exchange (organizer calendars, room mailboxes with the Calendar
Attendant) and the sync adapters, driven only through the decision core's plans.

It is deliberately small: single instances, one synced room per meeting, logical clock. Exchange
behaviour modelled: room copies with their own ids and the same iCalUId, auto-accept when free and
decline when busy, subjects rewritten to the organizer's name (DeleteSubject + AddOrganizerToSubject),
cancellation and room removal, and spurious "updated" notifications (new change key, same content).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.sync import (
    GONE,
    UNREAD,
    Attendee,
    AttendeeType,
    BookingSnapshot,
    BookingStatus,
    CancelBooking,
    CancelMeeting,
    CreateBooking,
    CreateMeeting,
    DeclineRoomEvent,
    HolderMeeting,
    IbssRejection,
    LinkOnly,
    Managed,
    Observed,
    OrganizerEventSnapshot,
    OrganizerMode,
    Party,
    Present,
    RecordConflict,
    Response,
    RetryLater,
    RoomEventSnapshot,
    Sensitivity,
    SpaceRef,
    SyncBase,
    SyncConfig,
    SyncPlan,
    UpdateBooking,
    UpdateMeeting,
    plan_after_ibss_rejection,
    plan_after_room_unavailable,
    reconcile,
    record_created_booking,
    record_created_meeting,
)

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
DAY = datetime(2025, 3, 11, 8, 0, tzinfo=UTC)
PEOPLE = ("alice@contoso.example", "bob@contoso.example", "guest@fabrikam.example")
NAMES = {
    "alice@contoso.example": "Alice Adams",
    "bob@contoso.example": "Bob Brown",
    "guest@fabrikam.example": "Grace",
}
SYNCED = ("aurora@contoso.example", "borealis@contoso.example")
ROOMS = (*SYNCED, "echo@contoso.example")
SCOPE = {r: SpaceRef(node_id=1011, space_id=f"HQ-{r.split('@')[0].upper()}", room_mailbox=r) for r in SYNCED}
INTERNAL = frozenset({"contoso.example"})


class Violation(AssertionError):
    pass


def slot(start_h: int, dur_h: int) -> tuple[datetime, datetime]:
    start = DAY + timedelta(hours=start_h)
    return start, start + timedelta(hours=dur_h)


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@dataclass
class Booking:
    id: str
    room: str | None
    start: datetime
    end: datetime
    name: str
    owner: str
    parties: dict[str, bool]  # email -> is_visitor
    status: BookingStatus = BookingStatus.ACTIVE
    version: int = 1
    modified: datetime = T0
    origin_ical: str | None = None
    created: datetime = T0


@dataclass
class Event:
    """A meeting's organizer copy (person-organized) or a room-organized meeting."""

    id: str
    mailbox: str  # organizer mailbox (a person or, room mode, the room)
    ical: str
    start: datetime
    end: datetime
    subject: str
    people: set[str]  # attendees that are people (organizer excluded)
    room: str | None  # the one room invited (or the organizing room)
    cancelled: bool = False
    private: bool = False
    ck: int = 1
    modified: datetime = T0
    marker: str | None = None
    room_organized: bool = False
    declined_by: set[str] = field(default_factory=set)  # attendees who declined (room-organized only)


@dataclass
class Copy:
    id: str
    room: str
    ical: str
    response: Response
    cancelled: bool = False
    ck: int = 1
    modified: datetime = T0


class World:
    def __init__(self, mode: OrganizerMode) -> None:
        self.mode = mode
        self.clock = 0
        self.ids = itertools.count(1)
        self.bookings: dict[str, Booking] = {}
        self.events: dict[str, Event] = {}
        self.copies: dict[str, Copy] = {}  # by copy id
        self.links: dict[int, SyncBase] = {}
        self.link_ids = itertools.count(1)
        # metrics
        self.human_changes = 0
        self.ibss_room_moves = 0
        self.writes = {"ibss": 0, "outlook": 0}  # effective (state-changing) writes
        self.attempted = {"ibss": 0, "outlook": 0}
        self.conflicts = 0
        self.created_for_booking: dict[str, int] = {}
        self.cancelled_bookings: set[str] = set()
        self.cancelled_icals: set[str] = set()

    # ------------------------------------------------------------------ time and config
    def tick(self) -> datetime:
        self.clock += 1
        return T0 + timedelta(seconds=self.clock)

    def config(self) -> SyncConfig:
        return SyncConfig(now=T0, organizer_mode=self.mode, scope=SCOPE, internal_domains=INTERNAL)

    def nid(self, prefix: str) -> str:
        return f"{prefix}{next(self.ids)}"

    # ------------------------------------------------------------------ IBSS
    def ibss_conflict(
        self, room: str | None, span: tuple[datetime, datetime], ignore: str | None
    ) -> Booking | None:
        if room is None:
            return None
        for b in self.bookings.values():
            if (
                b.id != ignore
                and b.room == room
                and b.status == BookingStatus.ACTIVE
                and overlaps((b.start, b.end), span)
            ):
                return b
        return None

    def ibss_create(
        self,
        owner: str,
        room: str,
        span: tuple[datetime, datetime],
        parties: set[str],
        name: str,
        origin: str | None = None,
    ) -> Booking | None:
        if self.ibss_conflict(room, span, None):
            return None
        b = Booking(
            self.nid("BK"),
            room,
            span[0],
            span[1],
            name,
            owner,
            {p: not p.endswith("@contoso.example") for p in parties},
            modified=(now := self.tick()),
            origin_ical=origin,
            created=now,
        )
        self.bookings[b.id] = b
        return b

    # ------------------------------------------------------------------ Exchange
    def room_entries(self, room: str) -> list[tuple[str, tuple[datetime, datetime]]]:
        """What holds the room: accepted live copies and live room-organized meetings."""
        out = []
        for c in self.copies.values():
            ev = self.event_by_ical(c.ical)
            if c.room == room and not c.cancelled and c.response == Response.ACCEPTED and ev is not None:
                out.append((c.ical, (ev.start, ev.end)))
        for ev in self.events.values():
            if ev.room_organized and ev.room == room and not ev.cancelled:
                out.append((ev.ical, (ev.start, ev.end)))
        return out

    def room_free(self, room: str, span: tuple[datetime, datetime], ical: str | None) -> bool:
        return not any(i != ical and overlaps(s, span) for i, s in self.room_entries(room))

    def event_by_ical(self, ical: str) -> Event | None:
        for ev in self.events.values():
            if ev.ical == ical:
                return ev
        return None

    def deliver(self, ev: Event, *, reprocess: bool) -> None:
        """Calendar Attendant: update, create, accept/decline or cancel the room copies of ``ev``."""
        if ev.room_organized:
            return
        now = self.tick()
        for c in self.copies.values():
            if c.ical != ev.ical or c.cancelled:
                continue
            if ev.cancelled or c.room != ev.room:
                c.cancelled = True
            elif reprocess:
                c.response = (
                    Response.ACCEPTED
                    if self.room_free(c.room, (ev.start, ev.end), ev.ical)
                    else Response.DECLINED
                )
            c.ck += 1
            c.modified = now
        if ev.cancelled or ev.room is None:
            return
        if not any(c.ical == ev.ical and c.room == ev.room and not c.cancelled for c in self.copies.values()):
            resp = (
                Response.ACCEPTED
                if self.room_free(ev.room, (ev.start, ev.end), ev.ical)
                else Response.DECLINED
            )
            c = Copy(self.nid("RC"), ev.room, ev.ical, resp, modified=now)
            self.copies[c.id] = c

    def touch(self, ev: Event) -> None:
        """Exchange's extra ``updated`` notifications: new change keys, same content."""
        ev.ck += 1
        for c in self.copies.values():
            if c.ical == ev.ical:
                c.ck += 1

    # ------------------------------------------------------------------ snapshots
    def booking_snap(self, b: Booking) -> BookingSnapshot:
        space = SCOPE.get(b.room or "")
        return BookingSnapshot(
            booking_id=b.id,
            node_id=1011,
            space_id=space.space_id if space else "HQ-ECHO",
            room_mailbox=b.room if space else None,
            start=b.start,
            end=b.end,
            name=b.name,
            owner_email=b.owner,
            parties=frozenset(Party(email=e, is_visitor=v) for e, v in b.parties.items()),
            status=b.status,
            version=f"v{b.version}",
            modified=b.modified,
            origin_ical_uid=b.origin_ical,
        )

    def org_snap(self, ev: Event) -> OrganizerEventSnapshot:
        attendees = [Attendee(email=p) for p in sorted(ev.people)]
        if ev.room:
            attendees.append(Attendee(email=ev.room, type=AttendeeType.RESOURCE))
        return OrganizerEventSnapshot(
            event_id=ev.id,
            ical_uid=ev.ical,
            mailbox=ev.mailbox,
            start=ev.start,
            end=ev.end,
            subject=ev.subject,
            organizer_email=ev.mailbox,
            organizer_name=NAMES.get(ev.mailbox, ""),
            attendees=tuple(attendees),
            location_emails=frozenset({ev.room}) if ev.room else frozenset(),
            is_cancelled=ev.cancelled,
            sensitivity=Sensitivity.PRIVATE if ev.private else Sensitivity.NORMAL,
            change_key=f"o{ev.ck}",
            last_modified=ev.modified,
            booking_id_marker=ev.marker,
        )

    def room_snap_of_copy(self, c: Copy) -> RoomEventSnapshot:
        ev = self.event_by_ical(c.ical)
        assert ev is not None
        people = [Attendee(email=ev.mailbox, response=Response.ORGANIZER)]
        people += [Attendee(email=p) for p in sorted(ev.people)]
        if ev.room:
            people.append(Attendee(email=ev.room, type=AttendeeType.RESOURCE))
        name = NAMES.get(ev.mailbox, "")
        return RoomEventSnapshot(
            event_id=c.id,
            ical_uid=c.ical,
            room_mailbox=c.room,
            start=ev.start,
            end=ev.end,
            subject=name,
            organizer_email=ev.mailbox,
            organizer_name=name,
            attendees=tuple(people),
            is_cancelled=c.cancelled or ev.cancelled,
            sensitivity=Sensitivity.PRIVATE if ev.private else Sensitivity.NORMAL,
            change_key=f"r{c.ck}.{ev.ck}",
            last_modified=max(c.modified, ev.modified),
            room_response=c.response,
        )

    def room_snap_of_event(self, ev: Event) -> RoomEventSnapshot:
        assert ev.room is not None
        people = [
            Attendee(email=p, response=Response.DECLINED if p in ev.declined_by else Response.NONE)
            for p in sorted(ev.people)
        ]
        return RoomEventSnapshot(
            event_id=ev.id,
            ical_uid=ev.ical,
            room_mailbox=ev.room,
            start=ev.start,
            end=ev.end,
            subject=ev.subject,
            organizer_email=ev.room,
            organizer_name=ev.room.split("@")[0].title(),
            attendees=tuple(people),
            is_cancelled=ev.cancelled,
            change_key=f"e{ev.ck}",
            last_modified=ev.modified,
            booking_id_marker=ev.marker,
            room_response=Response.ORGANIZER,
            is_organizer_room=True,
        )

    # ------------------------------------------------------------------ adapter lookups
    def observe_link(
        self, base: SyncBase
    ) -> tuple[Observed[BookingSnapshot], Observed[RoomEventSnapshot], Observed[OrganizerEventSnapshot]]:
        b = self.bookings.get(base.booking_id or "")
        booking: Observed[BookingSnapshot] = Present(self.booking_snap(b)) if b else GONE
        if base.managed == Managed.ROOM_ORGANIZED:
            ev = self.events.get(base.room_event_id or "")
            room: Observed[RoomEventSnapshot] = Present(self.room_snap_of_event(ev)) if ev else GONE
            return booking, room, UNREAD
        room = GONE
        if base.ical_uid:
            copies = [c for c in self.copies.values() if c.ical == base.ical_uid]
            live = [c for c in copies if not c.cancelled and c.room in SCOPE]
            mine = [c for c in copies if c.room == base.room_mailbox]
            pick = (
                [c for c in mine if not c.cancelled]
                or [c for c in live if c.response == Response.ACCEPTED]
                or live
                or mine
            )
            if pick:
                room = Present(self.room_snap_of_copy(sorted(pick, key=lambda c: c.id)[-1]))
        org: Observed[OrganizerEventSnapshot] = UNREAD
        if self.mode == OrganizerMode.OWNER:
            ev = self.event_by_ical(base.ical_uid) if base.ical_uid else None
            org = Present(self.org_snap(ev)) if ev else (GONE if base.ical_uid else UNREAD)
        return booking, room, org

    # ------------------------------------------------------------------ one reconcile round
    def round(self) -> tuple[int, int]:
        before = (sum(self.writes.values()), sum(self.attempted.values()))
        cfg = self.config()
        for lid in sorted(self.links):
            base = self.links[lid]
            self.apply(reconcile(*self.observe_link(base), base, cfg), lid)
        linked_bookings = {b.booking_id for b in self.links.values()}
        for bid in sorted(self.bookings):
            if bid not in linked_bookings:
                self.apply(
                    reconcile(Present(self.booking_snap(self.bookings[bid])), GONE, GONE, None, cfg), None
                )
        for cid in sorted(self.copies):
            c = self.copies[cid]
            if c.room not in SCOPE or any(b.ical_uid == c.ical for b in self.links.values()):
                continue
            ev = self.event_by_ical(c.ical)
            assert ev is not None
            org: Observed[OrganizerEventSnapshot] = (
                Present(self.org_snap(ev)) if self.mode == OrganizerMode.OWNER else UNREAD
            )
            self.apply(reconcile(GONE, Present(self.room_snap_of_copy(c)), org, None, cfg), None, copy=c)
        after = (sum(self.writes.values()), sum(self.attempted.values()))
        return after[0] - before[0], after[1] - before[1]

    # ------------------------------------------------------------------ plan execution
    def apply(self, plan: SyncPlan, lid: int | None, copy: Copy | None = None) -> None:
        cfg = self.config()
        base = plan.new_base
        prev = self.links.get(lid) if lid is not None else None
        if base is not None and (
            lid is None
            or (prev is not None and prev.terminal and base.booking_id is None and not base.terminal)
        ):
            lid = next(self.link_ids)  # a new link (also: a room re-added after an Outlook cancel)
        for action in plan.actions:
            if isinstance(action, CreateMeeting):
                self.attempted["outlook"] += 1
                bk = self.bookings[action.booking_id_marker]
                if bk.status != BookingStatus.ACTIVE:
                    raise Violation(f"meeting created for inactive booking {bk.id}")
                self.created_for_booking[bk.id] = self.created_for_booking.get(bk.id, 0) + 1
                span = (action.start, action.end)
                if action.require_room_free and not self.room_free(action.room_mailbox, span, None):
                    follow = plan_after_room_unavailable(
                        self.booking_snap(bk), prev if prev and prev.room_event_id else None, cfg
                    )
                    self.apply(follow, lid)
                    return
                ev = Event(
                    self.nid("EV"),
                    action.target_mailbox,
                    self.nid("ICAL"),
                    action.start,
                    action.end,
                    action.subject,
                    set(action.attendees),
                    action.room_mailbox,
                    modified=self.tick(),
                    marker=action.booking_id_marker,
                    room_organized=action.organizer_is_room,
                )
                self.events[ev.id] = ev
                self.writes["outlook"] += 1
                self.deliver(ev, reprocess=True)
                assert base is not None
                base = record_created_meeting(base, event_id=ev.id, ical_uid=ev.ical, change_key="?")
            elif isinstance(action, UpdateMeeting):
                self.attempted["outlook"] += 1
                ev = self.events[action.target.event_id or ""]
                if ev.marker is None and not any(b.ical_uid == ev.ical for b in self.links.values()):
                    raise Violation("update of an unmanaged event")
                ch = action.changes
                new_span = (ch.start or ev.start, ch.end or ev.end)
                new_room = ch.room.new if ch.room else ev.room
                if action.require_room_free and new_room and not self.room_free(new_room, new_span, ev.ical):
                    moved = self.bookings[base.booking_id] if base and base.booking_id else None
                    if moved is not None:
                        self.apply(plan_after_room_unavailable(self.booking_snap(moved), prev, cfg), lid)
                    return
                before = (ev.start, ev.end, ev.subject, set(ev.people), ev.room)
                ev.start, ev.end = new_span
                ev.subject = ch.subject if ch.subject is not None else ev.subject
                ev.people = (ev.people | set(ch.attendees_add)) - set(ch.attendees_remove)
                ev.room = new_room
                if before != (ev.start, ev.end, ev.subject, ev.people, ev.room):
                    ev.ck += 1
                    ev.modified = self.tick()
                    self.writes["outlook"] += 1
                    self.deliver(ev, reprocess=(ch.start is not None or ch.room is not None))
            elif isinstance(action, CancelMeeting):
                self.attempted["outlook"] += 1
                ev = self.events[action.target.event_id or ""]
                if ev.marker is None and not any(b.ical_uid == ev.ical for b in self.links.values()):
                    raise Violation("cancel of an unmanaged event")
                if not ev.cancelled:
                    ev.cancelled = True
                    ev.ck += 1
                    ev.modified = self.tick()
                    self.writes["outlook"] += 1
                    self.cancelled_icals.add(ev.ical)
                    self.deliver(ev, reprocess=False)
            elif isinstance(action, DeclineRoomEvent):
                self.attempted["outlook"] += 1
                c = self.copies[action.event_id]
                if c.response != Response.DECLINED:
                    c.response = Response.DECLINED
                    c.ck += 1
                    c.modified = self.tick()
                    self.writes["outlook"] += 1
            elif isinstance(action, CreateBooking):
                self.attempted["ibss"] += 1
                if action.origin_ical_uid in self.cancelled_icals:
                    raise Violation("booking created for a cancelled meeting")
                holder = self.ibss_conflict(action.space.room_mailbox, (action.start, action.end), None)
                if holder is not None:
                    copy = self.copies[action.room_event_id]
                    holder_link = next((b for b in self.links.values() if b.booking_id == holder.id), None)
                    in_room = {i for i, _ in self.room_entries(action.space.room_mailbox)}
                    meeting: HolderMeeting = (
                        "none"
                        if holder_link is None or not holder_link.ical_uid
                        else "held"
                        if holder_link.ical_uid in in_room
                        else "refused"
                    )
                    rej = IbssRejection(
                        kind="conflict",
                        message="space already booked",
                        conflicting_booking_id=holder.id,
                        conflicting_meeting=meeting,
                        conflicting_booking_created=holder.created,
                    )
                    self.apply(plan_after_ibss_rejection(self.room_snap_of_copy(copy), None, rej), None)
                    return
                created = self.ibss_create(
                    action.owner_email,
                    action.space.room_mailbox,
                    (action.start, action.end),
                    {p.email for p in action.parties},
                    action.name,
                    origin=action.origin_ical_uid,
                )
                assert created is not None
                self.writes["ibss"] += 1
                assert base is not None
                base = record_created_booking(base, booking_id=created.id)
            elif isinstance(action, UpdateBooking):
                self.attempted["ibss"] += 1
                bk = self.bookings[action.booking_id]
                if bk.status != BookingStatus.ACTIVE:
                    raise Violation("update of an inactive booking")
                bch = action.changes
                span = (bch.start or bk.start, bch.end or bk.end)
                room = bch.space.room_mailbox if bch.space else bk.room
                if self.ibss_conflict(room, span, bk.id) is not None:
                    _, rc, _ = self.observe_link(prev) if prev else (None, GONE, None)
                    if isinstance(rc, Present) and not rc.value.is_organizer_room:
                        rej = IbssRejection(kind="conflict", message="space already booked")
                        self.apply(plan_after_ibss_rejection(rc.value, prev, rej), lid)
                    return
                before_b = (bk.start, bk.end, bk.room, bk.name, dict(bk.parties))
                bk.start, bk.end, bk.room = span[0], span[1], room
                bk.name = bch.name if bch.name is not None else bk.name
                if bch.parties is not None:
                    bk.parties = {p.email: p.is_visitor for p in bch.parties}
                if before_b != (bk.start, bk.end, bk.room, bk.name, bk.parties):
                    bk.version += 1
                    bk.modified = self.tick()
                    self.writes["ibss"] += 1
            elif isinstance(action, CancelBooking):
                self.attempted["ibss"] += 1
                bk = self.bookings[action.booking_id]
                if bk.status == BookingStatus.ACTIVE:
                    bk.status = BookingStatus.CANCELLED
                    bk.version += 1
                    bk.modified = self.tick()
                    self.writes["ibss"] += 1
                    self.cancelled_bookings.add(bk.id)
            elif isinstance(action, RecordConflict):
                self.conflicts += 1
            elif isinstance(action, RetryLater | LinkOnly):
                pass
            else:  # pragma: no cover
                raise AssertionError(action)
        if base is not None:
            assert lid is not None
            self.links[lid] = base

    # ------------------------------------------------------------------ invariants
    def check_safety(self) -> None:
        for bid, n in self.created_for_booking.items():
            live = [e for e in self.events.values() if e.marker == bid and not e.cancelled]
            if len(live) > 1:
                raise Violation(f"duplicate meetings for {bid} ({n} creates)")
        active = [b for b in self.links.values() if not b.terminal]
        ids = [b.booking_id for b in active if b.booking_id]
        if len(ids) != len(set(ids)):
            raise Violation("two active links for one booking")
        icals = [b.ical_uid for b in active if b.ical_uid]
        if len(icals) != len(set(icals)):
            raise Violation("two active links for one meeting")
        for bid in self.cancelled_bookings:
            if self.bookings[bid].status == BookingStatus.ACTIVE:
                raise Violation("cancelled booking resurrected")

    def check_converged(self) -> None:
        self.check_safety()
        # Both sides agree on who holds each synced room, and when.
        for room in SYNCED:
            ibss = sorted(
                (b.start, b.end)
                for b in self.bookings.values()
                if b.room == room and b.status == BookingStatus.ACTIVE
            )
            m365 = sorted(span for _, span in self.room_entries(room))
            if ibss != m365:
                raise Violation(f"{room}: IBSS {ibss} != room calendar {m365}")
        for base in self.links.values():
            if base.terminal or not base.booking_id:
                continue
            bk = self.bookings[base.booking_id]
            ev = self.event_by_ical(base.ical_uid or "")
            if bk.status != BookingStatus.ACTIVE or ev is None:
                raise Violation(f"active link {base.booking_id} without both sides")
            if (bk.start, bk.end, bk.room) != (ev.start, ev.end, ev.room):
                raise Violation(
                    f"link {bk.id}: booking {bk.start, bk.end, bk.room} "
                    f"!= meeting {ev.start, ev.end, ev.room}"
                )
            name_known = self.mode == OrganizerMode.OWNER or ev.room_organized
            expected = "Private booking" if ev.private else ev.subject
            if name_known and bk.name != expected:
                raise Violation(f"link {bk.id}: name {bk.name!r} != {expected!r}")
            externals = {p for p in ev.people if not p.endswith("@contoso.example")} - {bk.owner}
            visitors = {p for p, v in bk.parties.items() if v}
            if externals != visitors or not set(bk.parties) <= ev.people | {bk.owner}:
                raise Violation(f"link {bk.id}: parties {bk.parties} vs attendees {ev.people}")
