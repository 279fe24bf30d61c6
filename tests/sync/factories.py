"""Plain-value builders for the decision-core tests (demo tenant names from docs/demo-tenant.md)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.sync import (
    GONE,
    UNREAD,
    Attendee,
    AttendeeType,
    BookingSnapshot,
    Observed,
    OrganizerEventSnapshot,
    OrganizerMode,
    Party,
    Present,
    Response,
    RoomEventSnapshot,
    SpaceRef,
    SyncBase,
    SyncConfig,
    SyncPlan,
    reconcile,
    record_created_booking,
    record_created_meeting,
)
from shared.sync.plan import CreateBooking, CreateMeeting

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
START = datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
H = timedelta(hours=1)

ALICE = "alice@contoso.example"
BOB = "bob@contoso.example"
CAROL = "carol@contoso.example"
GUEST = "guest@fabrikam.example"
AURORA = "aurora@contoso.example"
BOREALIS = "borealis@contoso.example"
CIRRUS = "cirrus@contoso.example"
ECHO = "echo@contoso.example"  # room exists in M365, space not synced
FOXTROT = "foxtrot@contoso.example"  # room without IBSS space

SCOPE = {
    AURORA: SpaceRef(node_id=1011, space_id="HQ-1-AURORA", room_mailbox=AURORA),
    BOREALIS: SpaceRef(node_id=1011, space_id="HQ-1-BOREALIS", room_mailbox=BOREALIS),
    CIRRUS: SpaceRef(node_id=1012, space_id="HQ-2-CIRRUS", room_mailbox=CIRRUS),
}


def config(mode: OrganizerMode = OrganizerMode.OWNER, **kw: Any) -> SyncConfig:
    return SyncConfig(
        now=kw.pop("now", NOW),
        organizer_mode=mode,
        scope=kw.pop("scope", SCOPE),
        internal_domains=kw.pop("internal_domains", frozenset({"contoso.example"})),
        **kw,
    )


def booking(**kw: Any) -> BookingSnapshot:
    room = kw.pop("room_mailbox", AURORA)
    space = SCOPE.get(room) if room else None
    data: dict[str, Any] = {
        "booking_id": "BK-1",
        "node_id": space.node_id if space else 1013,
        "space_id": space.space_id if space else "HQ-3-ECHO",
        "room_mailbox": room,
        "start": START,
        "end": END,
        "name": "Team sync",
        "owner_email": ALICE,
        "parties": frozenset(),
        "version": "b1",
        "modified": NOW - H,
    }
    data.update(kw)
    return BookingSnapshot(**data)


def resource(room: str, response: Response = Response.ACCEPTED) -> Attendee:
    return Attendee(email=room, type=AttendeeType.RESOURCE, response=response)


def person(email: str, response: Response = Response.NONE) -> Attendee:
    return Attendee(email=email, type=AttendeeType.REQUIRED, response=response)


def room_event(**kw: Any) -> RoomEventSnapshot:
    room = kw.get("room_mailbox", AURORA)
    data: dict[str, Any] = {
        "event_id": f"R-{room.split('@')[0]}",
        "ical_uid": "ICAL-1",
        "room_mailbox": room,
        "start": START,
        "end": END,
        "subject": "Alice Adams",  # Exchange Online defaults: DeleteSubject + AddOrganizerToSubject
        "organizer_email": ALICE,
        "organizer_name": "Alice Adams",
        "attendees": (person(ALICE, Response.ORGANIZER), resource(room)),
        "change_key": "rck1",
        "last_modified": NOW - H,
        "room_response": Response.ACCEPTED,
    }
    data.update(kw)
    return RoomEventSnapshot(**data)


def org_event(**kw: Any) -> OrganizerEventSnapshot:
    room = kw.pop("room", AURORA)
    data: dict[str, Any] = {
        "event_id": "O-1",
        "ical_uid": "ICAL-1",
        "mailbox": ALICE,
        "start": START,
        "end": END,
        "subject": "Team sync",
        "organizer_email": ALICE,
        "organizer_name": "Alice Adams",
        "attendees": (resource(room),) if room else (),
        "location_emails": frozenset({room}) if room else frozenset(),
        "change_key": "ock1",
        "last_modified": NOW - H,
    }
    data.update(kw)
    return OrganizerEventSnapshot(**data)


@dataclass(frozen=True)
class Link:
    """A converged link: the current snapshots of both sides plus the stored base."""

    kind: str
    cfg: SyncConfig
    booking: BookingSnapshot
    room: RoomEventSnapshot
    org: OrganizerEventSnapshot | None
    base: SyncBase
    extra: dict[str, Any] = field(default_factory=dict)

    def run(
        self,
        booking: Observed[BookingSnapshot] | BookingSnapshot | None = None,
        room: Observed[RoomEventSnapshot] | RoomEventSnapshot | None = None,
        org: Observed[OrganizerEventSnapshot] | OrganizerEventSnapshot | None = None,
        cfg: SyncConfig | None = None,
        base: SyncBase | None = None,
    ) -> SyncPlan:
        b = _obs(booking, self.booking)
        r = _obs(room, self.room)
        o: Observed[OrganizerEventSnapshot] = _obs(org, self.org) if self.org is not None else UNREAD
        if org is not None and self.org is None:
            o = _obs(org, None)
        return reconcile(b, r, o, base or self.base, cfg or self.cfg)

    def with_(self, **kw: Any) -> Link:
        return replace(self, **kw)


def _obs(value: Any, default: Any) -> Any:
    if value is None:
        return Present(default) if default is not None else GONE
    if (
        isinstance(value, Present)
        or value is GONE
        or value is UNREAD
        or type(value).__name__ in ("Gone", "Unread")
    ):
        return value
    return Present(value)


def _settle(
    link_kind: str,
    cfg: SyncConfig,
    b: BookingSnapshot,
    room: RoomEventSnapshot,
    org: OrganizerEventSnapshot | None,
    base: SyncBase,
) -> Link:
    plan = reconcile(Present(b), Present(room), Present(org) if org else UNREAD, base, cfg)
    assert plan.is_noop, plan
    assert plan.new_base is not None
    return Link(link_kind, cfg, b, room, org, plan.new_base)


def ibss_made(mode: OrganizerMode = OrganizerMode.OWNER, **booking_kw: Any) -> Link:
    """A booking made in IBSS, its meeting created by the service and accepted by the room."""
    cfg = config(mode)
    b = booking(**booking_kw)
    plan = reconcile(Present(b), GONE, GONE, None, cfg)
    (create,) = plan.actions
    assert isinstance(create, CreateMeeting)
    assert plan.new_base is not None
    attendees = tuple(person(a) for a in create.attendees)
    if mode == OrganizerMode.OWNER:
        base = record_created_meeting(plan.new_base, event_id="O-1", ical_uid="ICAL-1", change_key="ock0")
        org = org_event(
            subject=b.name, attendees=(*attendees, resource(AURORA)), booking_id_marker=b.booking_id
        )
        room = room_event(attendees=(person(ALICE, Response.ORGANIZER), *attendees, resource(AURORA)))
        return _settle("ibss_owner", cfg, b, room, org, base)
    base = record_created_meeting(plan.new_base, event_id="R-aurora", ical_uid="ICAL-1", change_key="rck0")
    room = room_event(
        subject=b.name,
        organizer_email=AURORA,
        organizer_name="Aurora",
        attendees=attendees,
        is_organizer_room=True,
        room_response=Response.ORGANIZER,
        booking_id_marker=b.booking_id,
    )
    return _settle("ibss_room", cfg, b, room, None, base)


def outlook_made(mode: OrganizerMode = OrganizerMode.OWNER, attendees: tuple[Attendee, ...] = ()) -> Link:
    """A meeting made in Outlook that invited Aurora; the service created the booking."""
    cfg = config(mode)
    room = room_event(attendees=(person(ALICE, Response.ORGANIZER), *attendees, resource(AURORA)))
    org = org_event(attendees=(*attendees, resource(AURORA))) if mode == OrganizerMode.OWNER else None
    plan = reconcile(GONE, Present(room), Present(org) if org else UNREAD, None, cfg)
    (create,) = plan.actions
    assert isinstance(create, CreateBooking)
    assert plan.new_base is not None
    base = record_created_booking(plan.new_base, booking_id="BK-1")
    b = booking(
        name=create.name,
        parties=frozenset(create.parties),
        origin_ical_uid="ICAL-1",
        version="b1",
    )
    return _settle("outlook_owner" if org else "outlook_room", cfg, b, room, org, base)


def parties(*emails: str) -> frozenset[Party]:
    return frozenset(Party(email=e, is_visitor=not e.endswith("@contoso.example")) for e in emails)
