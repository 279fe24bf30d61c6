"""The decision core: ``reconcile(booking, room_event, organizer_event, base, config) -> SyncPlan``.

Pure and deterministic: no I/O, no clock (``config.now``), no randomness. One call decides one link
(one IBSS booking <-> one meeting in one room). Inputs are ``Observed``: ``Present(x)``, ``Gone``
(confirmed absent) or ``Unread`` (not fetched / not readable; never treated as deleted).

Decision table (first matching row wins)
=========================================

Unlinked (``base is None``)
---------------------------
==============================================================  ============================================
booking Present + a counterpart event Present                   LinkOnly; base from the older side, then the
                                                                 linked rules push the newer side's diffs
booking Present, room Gone, booking came from Outlook            CancelBooking (meeting no longer exists)
booking Present, space not synced / not active / already ended   nothing (out of scope)
booking Present, event side Gone                                 CreateMeeting (owner mode: owner's calendar,
                                                                 room invited; room mode or external owner:
                                                                 room-organized, owner invited)
event Present, room not synced                                   nothing (unmanaged)
event carries our marker, booking Gone                           cancel the orphan meeting we organize
event organized by the room without our marker                   nothing (delegate-made, unmanaged)
event cancelled / declined / not yet accepted / already ended    nothing
event accepted, started in the past                              DeclineRoomEvent "starts in the past"
event accepted, future, booking Gone                             CreateBooking (owner = organizer; external
                                                                 attendees -> visitors; private: masked)
anything Unread                                                  nothing (decide later)
==============================================================  ============================================

Linked (``base`` present)
-------------------------
==============================================================  ============================================
booking Unread, or both event copies Unread                      nothing
stale cancelled copy of a previous room                          nothing
base terminal, ended by IBSS (or we own the meeting)             re-cancel / re-decline a live leftover only
base terminal cancelled by Outlook + adopted room copy live      a new link (room re-added: CreateBooking)
booking Gone / cancelled                                         CancelMeeting (meetings we created) or
                                                                 DeclineRoomEvent (adopted meetings)
booking auto-cancelled (no-show)                                 free the room only (decline the room copy;
                                                                 cancel a room-organized meeting)
booking completed                                                nothing, link closed; checked out early:
                                                                 the room's copy is shortened to the
                                                                 check-out time (room_truth.py)
booking moved to a space that is not synced                      release the room, link detached
detached booking back in a synced space                          a new meeting (next generation)
detached link whose room copy holds the room again               release it again (decline / cancel)
meeting cancelled / deleted / room removed in Outlook            CancelBooking with the reason
room declined (or lost) the meeting                              CancelBooking; cancel our own meeting
owner declined a room-organized meeting (room mode)              CancelBooking + CancelMeeting
otherwise                                                        three-way merge per field (below)
==============================================================  ============================================

Merge per field against the base: time (start+end), room, name/subject and parties/attendees.
Only one side changed -> apply it to the other. Both changed to the same value -> converge silently.
Both changed differently -> the later modification wins, ties go to ``config.conflict_tie_winner``,
and a ``RecordConflict`` is emitted. Parties/attendees merge per element (adds and removes of both
sides), so they never conflict; external attendees become visitor parties, internal ones only when
``attendees_as_parties_internal``. A side whose version equals the base version is unchanged; an echo
of our own write has a new version but the same projection, so it also yields no write.

Room mode, and meetings we cannot write: an Outlook-organized meeting can only be changed by its
organizer. When the service cannot write the meeting (room mode, or an unreadable/external organizer),
IBSS-side changes of time, room, name or parties are reverted to the meeting's values and recorded as a
conflict with the reason; an IBSS cancel makes the room decline its copy so the room is freed.
Private meetings keep the masked booking name; their subject is never stored or written.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.sync.model import (
    Attendee,
    AttendeeType,
    BookingSnapshot,
    BookingStatus,
    Gone,
    LinkState,
    Managed,
    Observed,
    OrganizerEventSnapshot,
    OrganizerMode,
    Party,
    Present,
    Response,
    RoomEventSnapshot,
    Side,
    SyncBase,
    SyncConfig,
    Unread,
    UtcDateTime,
    value_of,
)
from shared.sync.normalize import (
    content_hash,
    is_internal,
    normalize_subject,
    room_subject_to_title,
    transaction_id,
)
from shared.sync.plan import (
    Action,
    BookingChanges,
    CancelBooking,
    CancelMeeting,
    CreateBooking,
    CreateMeeting,
    DeclineRoomEvent,
    LinkOnly,
    MeetingChanges,
    MeetingTarget,
    RecordConflict,
    RetryLater,
    RoomMove,
    SyncPlan,
    UpdateBooking,
    UpdateMeeting,
)
from shared.sync.room_truth import CHECKED_OUT_BEFORE_START, plan_check_out, shorten_room_copy

ROOM_MODE_REASON = (
    "The meeting was organized in Outlook and the service cannot change it; "
    "change it in Outlook instead. The IBSS change was reverted."
)
PRIVATE_REASON = "The meeting is private; its booking name stays masked and the subject is not synced."
PAST_START_COMMENT = "Declined: the meeting starts in the past and IBSS cannot book a space in the past."
# The room's own reply (its reason: busy, too long, outside its hours...) reaches the organizer by mail, which
# the service cannot read: a decline seen on a copy says only that it declined.
ROOM_DECLINED = "The room declined the meeting in Outlook."
ROOM_BUSY = "The room declined the meeting in Outlook (it was already booked there)."
ROOM_GONE_REASON = "The room no longer holds the meeting in Outlook."
CANCELLED_IN_OUTLOOK = "The meeting was cancelled or deleted in Outlook."
ROOM_REMOVED = "The room was removed from the meeting in Outlook."
OWNER_DECLINED = "The booking owner declined the meeting in Outlook."
CANCELLED_IN_IBSS = "The booking was cancelled in IBSS."
AUTO_CANCELLED_IN_IBSS = "The booking was released in IBSS (no check-in)."
LEFT_SCOPE = "The booking moved to a space that is not synced with Outlook."

_DEAD_ROOM_RESPONSES = frozenset({Response.DECLINED})


# =============================================================================== views


@dataclass(frozen=True, slots=True)
class _OutlookView:
    """The meeting as the sync sees it, from the organizer copy when readable, else the room copy."""

    alive: bool
    holds_room: bool  # the room calendar still holds this meeting (even if the owner declined)
    dead_reason: str | None
    room_lost: bool  # the room declined / dropped the meeting while the meeting still exists
    owner_declined: bool
    start: datetime
    end: datetime
    room_mailbox: str | None
    subject: str | None  # truthful subject; None = unknown (rewritten by the room) or private
    private: bool
    attendees: frozenset[str] | None  # None = unknown
    organizer_email: str
    organizer_name: str
    modified: datetime
    room: RoomEventSnapshot | None  # the room copy in ``room_mailbox`` when observed
    organizer: OrganizerEventSnapshot | None
    room_subject_hash: str | None


def _people(attendees: tuple[Attendee, ...], exclude: set[str], config: SyncConfig) -> frozenset[str]:
    out: set[str] = set()
    for a in attendees:
        if a.type == AttendeeType.RESOURCE or a.email in exclude or config.in_scope(a.email):
            continue
        out.add(a.email)
    return frozenset(out)


def _subject_hash(raw: str) -> str:
    return content_hash({"room_subject": normalize_subject(raw)})


def synced_rooms_of(org: OrganizerEventSnapshot, config: SyncConfig) -> set[str]:
    """The synced rooms the organizer's meeting holds (as attendees or locations)."""
    return {a.email for a in org.attendees if config.in_scope(a.email)} | {
        r for r in org.location_emails if config.in_scope(r)
    }


def _outlook_view(
    room_obs: Observed[RoomEventSnapshot],
    org_obs: Observed[OrganizerEventSnapshot],
    base: SyncBase | None,
    config: SyncConfig,
) -> _OutlookView | None:
    room = value_of(room_obs)
    org = value_of(org_obs)
    if org is not None and base is not None and base.ical_uid and org.ical_uid != base.ical_uid:
        org = None  # not this meeting's organizer copy
    owner = base.owner_email if base is not None else None

    if org is not None:
        rooms = synced_rooms_of(org, config)
        if base is not None and base.room_mailbox in rooms:
            vroom: str | None = base.room_mailbox
        elif room is not None and room.room_mailbox in rooms:
            vroom = room.room_mailbox
        else:
            # A room the meeting holds under another link is that link's: taking it would move this
            # booking onto the other's space (a room removed from a meeting with several rooms).
            free = rooms - config.held_elsewhere
            vroom = min(free) if free else None
        copy = room if room is not None and room.room_mailbox == vroom else None
        private = org.sensitivity in config.private_sensitivities
        exclude = {org.organizer_email, org.mailbox} | ({owner} if owner else set())
        copy_declined = copy is not None and copy.room_response in _DEAD_ROOM_RESPONSES
        copy_vanished = (
            copy is None
            and isinstance(room_obs, Gone)
            and base is not None
            and base.room_event_id is not None
            and base.room_mailbox == vroom
        )
        # The organizer's copy shows the room's reply too: a room that declined keeps no copy of its own.
        org_says_declined = vroom is not None and any(
            a.email == vroom and a.response in _DEAD_ROOM_RESPONSES for a in org.attendees
        )
        room_lost = copy_declined or copy_vanished or org_says_declined
        dead_reason: str | None = None
        if org.is_cancelled:
            dead_reason = CANCELLED_IN_OUTLOOK
        elif vroom is None:
            dead_reason = ROOM_REMOVED
        elif room_lost:
            dead_reason = ROOM_DECLINED if copy is not None or org_says_declined else ROOM_GONE_REASON
        return _OutlookView(
            alive=dead_reason is None,
            holds_room=dead_reason is None,
            dead_reason=dead_reason,
            room_lost=room_lost and not org.is_cancelled,
            owner_declined=False,
            start=org.start,
            end=org.end,
            room_mailbox=vroom,
            subject=None if private else normalize_subject(org.subject),
            private=private,
            attendees=_people(org.attendees, exclude, config),
            organizer_email=org.organizer_email,
            organizer_name=org.organizer_name,
            modified=org.last_modified,
            room=copy,
            organizer=org,
            room_subject_hash=_subject_hash(copy.subject) if copy is not None else None,
        )

    if room is not None:
        private = room.sensitivity in config.private_sensitivities
        raw_hash = _subject_hash(room.subject)
        if private:
            subject: str | None = None
        elif base is not None and base.room_subject_hash == raw_hash:
            subject = base.subject  # the room's rewrite is unchanged since convergence
        elif room.is_organizer_room:
            subject = normalize_subject(room.subject)
        else:
            rw = config.rewrite_for(room.room_mailbox)
            subject = room_subject_to_title(
                room.subject,
                room.organizer_name,
                add_organizer_to_subject=rw.add_organizer_to_subject,
                delete_subject=rw.delete_subject,
            )
        exclude = {room.organizer_email, room.room_mailbox} | ({owner} if owner else set())
        owner_declined = (
            room.is_organizer_room
            and config.owner_decline_cancels
            and owner is not None
            and any(a.email == owner and a.response == Response.DECLINED for a in room.attendees)
        )
        room_lost = not room.is_organizer_room and room.room_response in _DEAD_ROOM_RESPONSES
        in_scope = config.in_scope(room.room_mailbox)
        if room.is_cancelled:
            dead_reason = CANCELLED_IN_OUTLOOK
        elif not in_scope:
            dead_reason = ROOM_REMOVED
        elif room_lost:
            dead_reason = ROOM_DECLINED
        elif owner_declined:
            dead_reason = OWNER_DECLINED
        else:
            dead_reason = None
        return _OutlookView(
            alive=dead_reason is None,
            holds_room=not (room.is_cancelled or room_lost or not in_scope),
            dead_reason=dead_reason,
            room_lost=room_lost and not room.is_cancelled,
            owner_declined=owner_declined and not room.is_cancelled,
            start=room.start,
            end=room.end,
            room_mailbox=room.room_mailbox if in_scope else None,
            subject=subject,
            private=private,
            attendees=_people(room.attendees, exclude, config),
            organizer_email=room.organizer_email,
            organizer_name=room.organizer_name,
            modified=room.last_modified,
            room=room,
            organizer=None,
            room_subject_hash=raw_hash,
        )

    if isinstance(room_obs, Unread) and isinstance(org_obs, Unread):
        return None
    if isinstance(room_obs, Unread) and not isinstance(org_obs, Gone):
        return None
    if base is None:
        return None
    # Every readable copy is confirmed gone: the meeting no longer exists in Outlook.
    return _OutlookView(
        alive=False,
        holds_room=False,
        dead_reason=CANCELLED_IN_OUTLOOK,
        room_lost=False,
        owner_declined=False,
        start=base.start,
        end=base.end,
        room_mailbox=base.room_mailbox,
        subject=base.subject,
        private=base.private,
        attendees=frozenset(base.attendees),
        organizer_email=base.organizer_mailbox or base.owner_email,
        organizer_name="",
        modified=base.start,
        room=None,
        organizer=None,
        room_subject_hash=None,
    )


# =============================================================================== helpers


def _sorted(values: frozenset[str] | set[str]) -> tuple[str, ...]:
    return tuple(sorted(values))


def _visitor(email: str, config: SyncConfig) -> bool:
    return not is_internal(email, config.internal_domains)


def _parties_for(
    emails: frozenset[str] | set[str], config: SyncConfig, known: frozenset[Party] = frozenset()
) -> tuple[Party, ...]:
    flags = {p.email: p.is_visitor for p in known}
    return tuple(Party(email=e, is_visitor=flags.get(e, _visitor(e, config))) for e in sorted(emails))


def _attendee_parties(attendees: frozenset[str], owner: str, config: SyncConfig) -> frozenset[str]:
    """Meeting attendees that become booking parties (visitors; internal ones only if configured)."""
    return frozenset(
        a for a in attendees if a != owner and (config.attendees_as_parties_internal or _visitor(a, config))
    )


def _name_from(view: _OutlookView, config: SyncConfig, fallback: str) -> str:
    if view.private:
        return config.private_booking_name
    if view.subject is None:
        return fallback
    return view.subject or config.unknown_subject_name


def _hashes(base: SyncBase) -> SyncBase:
    booking_hash = content_hash(
        {
            "start": base.start,
            "end": base.end,
            "room": base.room_mailbox,
            "name": base.booking_name,
            "parties": list(base.parties),
            "state": base.state.value,
        }
    )
    outlook_hash = content_hash(
        {
            "start": base.start,
            "end": base.end,
            "room": base.room_mailbox,
            "subject": base.subject,
            "private": base.private,
            "attendees": list(base.attendees),
            "state": base.state.value,
        }
    )
    return base.model_copy(update={"booking_hash": booking_hash, "outlook_hash": outlook_hash})


def _plan(actions: list[Action], base: SyncBase | None, *why: str) -> SyncPlan:
    return SyncPlan(
        actions=tuple(actions),
        new_base=_hashes(base) if base is not None else None,
        explanation=tuple(why),
    )


def _target_room(base: SyncBase, room: RoomEventSnapshot | None) -> MeetingTarget:
    assert base.room_mailbox is not None
    event_id = room.event_id if room is not None and room.is_organizer_room else base.room_event_id
    return MeetingTarget(role="room", mailbox=base.room_mailbox, event_id=event_id)


def _write_target(
    base: SyncBase,
    view: _OutlookView,
    config: SyncConfig,
) -> MeetingTarget | None:
    """Where we may write this meeting, or None when only its organizer can change it."""
    if base.managed == Managed.ROOM_ORGANIZED:
        return _target_room(base, view.room)
    org = view.organizer
    if org is None:
        return None
    if base.managed == Managed.OWNER_ORGANIZED:
        return MeetingTarget(role="organizer", mailbox=org.mailbox, event_id=org.event_id)
    if config.organizer_mode == OrganizerMode.OWNER and is_internal(org.mailbox, config.internal_domains):
        return MeetingTarget(role="organizer", mailbox=org.mailbox, event_id=org.event_id)
    return None


def _release_outlook(
    base: SyncBase, view: _OutlookView, comment: str, *, room_only: bool = False
) -> list[Action]:
    """Free the room on the Outlook side: cancel what we organize, decline what we adopted."""
    if not view.holds_room:
        return []
    if base.managed == Managed.ROOM_ORGANIZED:
        return [CancelMeeting(target=_target_room(base, view.room), comment=comment)]
    if base.managed == Managed.OWNER_ORGANIZED and view.organizer is not None and not room_only:
        org = view.organizer
        return [
            CancelMeeting(
                target=MeetingTarget(role="organizer", mailbox=org.mailbox, event_id=org.event_id),
                comment=comment,
            )
        ]
    if view.room is not None and view.room_mailbox is not None:
        return [
            DeclineRoomEvent(room_mailbox=view.room_mailbox, event_id=view.room.event_id, comment=comment)
        ]
    return []


def _ended(base: SyncBase, state: LinkState, by: Side, **update: object) -> SyncBase:
    return base.model_copy(update={"state": state, "ended_by": by, **update})


def _versions(
    base: SyncBase,
    booking: BookingSnapshot | None,
    view: _OutlookView | None,
    *,
    wrote_ibss: bool,
    wrote_outlook: bool,
) -> dict[str, object]:
    upd: dict[str, object] = {}
    if booking is not None:
        upd["booking_version"] = None if wrote_ibss else booking.version
        upd["booking_id"] = booking.booking_id
    if view is not None:
        if view.room is not None:
            upd["room_event_id"] = view.room.event_id
            upd["ical_uid"] = base.ical_uid or view.room.ical_uid
        if view.organizer is not None:
            upd["organizer_event_id"] = view.organizer.event_id
            upd["organizer_mailbox"] = view.organizer.mailbox
            upd["ical_uid"] = view.organizer.ical_uid
        upd["room_change_key"] = None if wrote_outlook or view.room is None else view.room.change_key
        upd["organizer_change_key"] = (
            None if wrote_outlook or view.organizer is None else view.organizer.change_key
        )
        upd["room_subject_hash"] = None if wrote_outlook else view.room_subject_hash
    return upd


# =============================================================================== entry point


def reconcile(
    booking: Observed[BookingSnapshot],
    room_event: Observed[RoomEventSnapshot],
    organizer_event: Observed[OrganizerEventSnapshot],
    base: SyncBase | None,
    config: SyncConfig,
) -> SyncPlan:
    """Decide what to do for one link. See the module docstring for the decision table."""
    if base is None:
        return _plan_unlinked(booking, room_event, organizer_event, config)
    room = value_of(room_event)
    if (
        room is not None
        and not isinstance(organizer_event, Present)
        and base.room_event_id is not None
        and room.event_id != base.room_event_id
        and room.room_mailbox != base.room_mailbox
        and room.is_cancelled
    ):
        return _plan([], None, "stale copy of a room the meeting no longer uses: nothing to do")
    if base.terminal:
        return _plan_terminal(booking, room_event, organizer_event, base, config)
    return _plan_linked(booking, room_event, organizer_event, base, config)


# =============================================================================== unlinked


def _base_from_booking(b: BookingSnapshot, managed: Managed, config: SyncConfig) -> SyncBase:
    space = config.scope.get(b.room_mailbox or "")
    return SyncBase(
        booking_id=b.booking_id,
        origin=Side.IBSS,
        managed=managed,
        node_id=space.node_id if space else b.node_id,
        space_id=space.space_id if space else b.space_id,
        room_mailbox=b.room_mailbox,
        start=b.start,
        end=b.end,
        booking_name=b.name,
        subject=b.name,
        owner_email=b.owner_email,
        parties=_sorted(b.party_emails),
        visitors=_sorted({p.email for p in b.parties if p.is_visitor}),
        attendees=_sorted(b.party_emails - {b.owner_email}),
        booking_version=b.version,
        organizer_mailbox=(b.room_mailbox if managed == Managed.ROOM_ORGANIZED else b.owner_email),
    )


def _base_from_view(view: _OutlookView, name: str, parties: frozenset[str], config: SyncConfig) -> SyncBase:
    assert view.room_mailbox is not None
    assert view.room is not None
    space = config.scope[view.room_mailbox]
    return SyncBase(
        ical_uid=view.room.ical_uid,
        room_event_id=view.room.event_id,
        organizer_event_id=view.organizer.event_id if view.organizer else None,
        organizer_mailbox=view.organizer_email,
        origin=Side.OUTLOOK,
        managed=Managed.ADOPTED,
        node_id=space.node_id,
        space_id=space.space_id,
        room_mailbox=view.room_mailbox,
        start=view.start,
        end=view.end,
        booking_name=name,
        subject=view.subject,
        private=view.private,
        owner_email=view.organizer_email,
        parties=_sorted(parties),
        visitors=_sorted({p for p in parties if _visitor(p, config)}),
        attendees=_sorted(view.attendees or frozenset()),
        room_change_key=view.room.change_key,
        organizer_change_key=view.organizer.change_key if view.organizer else None,
        room_subject_hash=view.room_subject_hash,
    )


def _plan_unlinked(
    booking_obs: Observed[BookingSnapshot],
    room_obs: Observed[RoomEventSnapshot],
    org_obs: Observed[OrganizerEventSnapshot],
    config: SyncConfig,
) -> SyncPlan:
    booking = value_of(booking_obs)
    room = value_of(room_obs)
    org = value_of(org_obs)
    now = config.now

    if booking is not None and (room is not None or org is not None):
        return _plan_recovered_link(booking, room_obs, org_obs, config)

    if booking is not None:
        if booking.origin_ical_uid is not None:
            if isinstance(room_obs, Gone) and booking.status == BookingStatus.ACTIVE:
                return _plan(
                    [CancelBooking(booking_id=booking.booking_id, reason=CANCELLED_IN_OUTLOOK)],
                    None,
                    "booking made from an Outlook meeting that no longer exists: cancel it",
                )
            return _plan([], None, "Outlook-made booking without its meeting: wait for the lookup")
        if not config.in_scope(booking.room_mailbox):
            return _plan([], None, "space is not synced: leave the booking alone")
        if booking.status != BookingStatus.ACTIVE:
            return _plan([], None, "booking is not active: nothing to create")
        if booking.end <= now:
            return _plan([], None, "booking already ended: nothing to create")
        if not isinstance(room_obs, Gone) or isinstance(org_obs, Present):
            return _plan([], None, "Outlook side not confirmed empty: decide later")
        return _plan_create_meeting(booking, config)

    if room is None:
        return _plan([], None, "nothing readable to decide on")
    if not config.in_scope(room.room_mailbox):
        return _plan([], None, "room is not synced: unmanaged")
    if room.booking_id_marker is not None:
        if isinstance(booking_obs, Gone) and not room.is_cancelled and room.is_organizer_room:
            target = MeetingTarget(role="room", mailbox=room.room_mailbox, event_id=room.event_id)
            return _plan(
                [CancelMeeting(target=target, comment=CANCELLED_IN_IBSS)],
                None,
                "our meeting's booking no longer exists: cancel the orphan",
            )
        return _plan([], None, "our own meeting without a link: wait for the booking lookup")
    if not isinstance(booking_obs, Gone):
        return _plan([], None, "booking lookup not done: decide later")
    if room.is_organizer_room:
        return _plan([], None, "room-organized meeting not made by the service: unmanaged")
    if room.is_cancelled or room.room_response in _DEAD_ROOM_RESPONSES:
        return _plan([], None, "cancelled or declined by the room: nothing to book")
    if room.room_response not in (Response.ACCEPTED,):
        return _plan([], None, "the room has not accepted yet: wait for the room's answer")
    view = _outlook_view(room_obs, org_obs, None, config)
    assert view is not None
    if not view.alive or view.room_mailbox != room.room_mailbox:
        return _plan([], None, "the organizer no longer holds this room: nothing to book")
    if view.end <= now:
        return _plan([], None, "meeting already ended: nothing to book")
    if view.start < now:
        return _plan(
            [
                DeclineRoomEvent(
                    room_mailbox=room.room_mailbox, event_id=room.event_id, comment=PAST_START_COMMENT
                )
            ],
            None,
            "meeting starts in the past: IBSS cannot book it, the room declines",
        )
    fallback = view.organizer_name or config.unknown_subject_name
    name = _name_from(view, config, fallback)
    parties = _attendee_parties(view.attendees or frozenset(), view.organizer_email, config)
    space = config.scope[room.room_mailbox]
    create = CreateBooking(
        space=space,
        start=view.start,
        end=view.end,
        name=name,
        owner_email=view.organizer_email,
        parties=_parties_for(parties, config),
        origin_ical_uid=room.ical_uid,
        room_event_id=room.event_id,
    )
    return _plan(
        [create], _base_from_view(view, name, parties, config), "room accepted an Outlook meeting: book it"
    )


def _with_owner(attendees: AbstractSet[str], owner: str, config: SyncConfig) -> set[str]:
    """The attendees with the booking's owner, if it has one that can receive an invitation (a kiosk's
    booking has none; an address Exchange has no mailbox for would bounce): no such address is invited."""
    invitable = bool(owner) and owner not in config.without_mailbox
    return set(attendees) | ({owner} if invitable else set())


def _plan_create_meeting(b: BookingSnapshot, config: SyncConfig, generation: int = 0) -> SyncPlan:
    assert b.room_mailbox is not None
    owner_can_organize = (
        config.organizer_mode == OrganizerMode.OWNER
        and is_internal(b.owner_email, config.internal_domains)
        and b.owner_email not in config.without_mailbox
    )
    attendees = b.party_emails - {b.owner_email}
    if owner_can_organize:
        managed = Managed.OWNER_ORGANIZED
        create = CreateMeeting(
            target_mailbox=b.owner_email,
            organizer_is_room=False,
            subject=b.name,
            start=b.start,
            end=b.end,
            attendees=_sorted(attendees),
            room_mailbox=b.room_mailbox,
            booking_id_marker=b.booking_id,
            transaction_id=transaction_id(b.booking_id, b.owner_email, generation),
            online_meeting=b.online_meeting,
        )
        why = "new IBSS booking: meeting in the owner's calendar with the room invited"
    else:
        managed = Managed.ROOM_ORGANIZED
        create = CreateMeeting(
            target_mailbox=b.room_mailbox,
            organizer_is_room=True,
            subject=b.name,
            start=b.start,
            end=b.end,
            attendees=_sorted(_with_owner(attendees, b.owner_email, config)),
            room_mailbox=b.room_mailbox,
            booking_id_marker=b.booking_id,
            transaction_id=transaction_id(b.booking_id, b.room_mailbox, generation),
            require_room_free=True,
            # Asked for even though the room organizes: Graph adds the link only if the room's calendar
            # allows teamsForBusiness (allowedOnlineMeetingProviders), e.g. a Teams Rooms account.
            online_meeting=b.online_meeting,
        )
        why = "new IBSS booking: meeting organized by the room with the owner invited"
    base = _base_from_booking(b, managed, config).model_copy(update={"generation": generation})
    return _plan([create], base, why)


def _plan_recovered_link(
    booking: BookingSnapshot,
    room_obs: Observed[RoomEventSnapshot],
    org_obs: Observed[OrganizerEventSnapshot],
    config: SyncConfig,
) -> SyncPlan:
    """Both sides exist but no base (state lost, or a retried create): link, then merge."""
    room = value_of(room_obs)
    org = value_of(org_obs)
    marker = (org.booking_id_marker if org else None) or (room.booking_id_marker if room else None)
    ical = (org.ical_uid if org else None) or (room.ical_uid if room else None)
    ours = marker == booking.booking_id
    if not ours and booking.origin_ical_uid != ical:
        return _plan([], None, "the event and the booking do not belong together: no link")
    if ours:
        managed = (
            Managed.ROOM_ORGANIZED if room is not None and room.is_organizer_room else Managed.OWNER_ORGANIZED
        )
    else:
        managed = Managed.ADOPTED
    view = _outlook_view(room_obs, org_obs, None, config)
    assert view is not None
    seed = _base_from_booking(booking, managed, config).model_copy(
        update={"origin": Side.IBSS if ours else Side.OUTLOOK, "booking_version": None}
    )
    if view.modified > booking.modified:
        # Outlook is newer: take the booking as the base so Outlook's differences propagate.
        base = seed
    else:
        base = seed.model_copy(
            update={
                "start": view.start,
                "end": view.end,
                "room_mailbox": view.room_mailbox,
                "subject": view.subject,
                "private": view.private,
                "attendees": _sorted(view.attendees or frozenset()),
                "booking_name": _name_from(view, config, booking.name),
            }
        )
    base = base.model_copy(update={"ical_uid": ical})
    link = LinkOnly(
        booking_id=booking.booking_id,
        room_event_id=room.event_id if room else None,
        ical_uid=ical,
        organizer_event_id=org.event_id if org else None,
    )
    merged = _plan_linked(Present(booking), room_obs, org_obs, base, config)
    return SyncPlan(
        actions=(link, *merged.actions),
        new_base=merged.new_base,
        explanation=("lost link recovered by marker / iCalUId", *merged.explanation),
    )


# =============================================================================== terminal


def _plan_terminal(
    booking_obs: Observed[BookingSnapshot],
    room_obs: Observed[RoomEventSnapshot],
    org_obs: Observed[OrganizerEventSnapshot],
    base: SyncBase,
    config: SyncConfig,
) -> SyncPlan:
    booking = value_of(booking_obs)
    if base.state == LinkState.DETACHED:
        if (
            booking is not None
            and booking.status == BookingStatus.ACTIVE
            and config.in_scope(booking.room_mailbox)
            and booking.end > config.now
        ):
            org = value_of(org_obs)
            if base.managed == Managed.OWNER_ORGANIZED and org is not None and not org.is_cancelled:
                return _plan_reattach(booking, org, base, config)
            plan = _plan_create_meeting(booking, config, generation=base.generation + 1)
            return plan.model_copy(
                update={"explanation": ("booking is back in a synced space", *plan.explanation)}
            )
        view = _outlook_view(room_obs, org_obs, base, config)
        if view is not None and view.holds_room:
            # The organizer's later update made the room accept again: the room stays released.
            return _plan(
                _release_outlook(base, view, LEFT_SCOPE), base, "detached link: release the room again"
            )
        return _plan([], None, "detached link: the booking is not in a synced space")
    if base.state != LinkState.CANCELLED:
        return _plan([], None, f"link is {base.state.value}: nothing to do")
    room = value_of(room_obs)
    view = _outlook_view(room_obs, org_obs, base, config)
    booking_active = (
        booking is not None
        and booking.status == BookingStatus.ACTIVE
        and booking.booking_id == base.booking_id
    )
    actions: list[Action] = []
    if base.ended_by == Side.OUTLOOK and base.managed != Managed.ROOM_ORGANIZED:
        if (
            room is not None
            and view is not None
            and view.alive
            and room.room_response == Response.ACCEPTED
            and not booking_active
        ):
            # The meeting holds a synced room again (room re-added, or re-accepted after a move): a new
            # booking for a live meeting, not a resurrection of the cancelled one.
            plan = _plan_unlinked(Gone(), room_obs, org_obs, config)
            return plan.model_copy(
                update={"explanation": ("room holds the meeting again", *plan.explanation)}
            )
        if booking_active and booking is not None:
            actions.append(CancelBooking(booking_id=booking.booking_id, reason=CANCELLED_IN_OUTLOOK))
    else:
        if booking_active and booking is not None:
            actions.append(CancelBooking(booking_id=booking.booking_id, reason=CANCELLED_IN_OUTLOOK))
        if view is not None and view.holds_room:
            actions.extend(_release_outlook(base, view, CANCELLED_IN_IBSS))
    if not actions:
        return _plan([], None, "cancelled link stays cancelled")
    return _plan(actions, base, "cancelled link: finish releasing the leftovers (no resurrection)")


def _plan_reattach(
    b: BookingSnapshot, org: OrganizerEventSnapshot, base: SyncBase, config: SyncConfig
) -> SyncPlan:
    """Our meeting still exists (without a synced room): invite the new room instead of a second meeting."""
    assert b.room_mailbox is not None
    rooms = {a.email for a in org.attendees if a.type == AttendeeType.RESOURCE} | set(org.location_emails)
    people = _people(org.attendees, {org.mailbox, b.owner_email}, config)
    wanted = b.party_emails - {b.owner_email}
    changes = MeetingChanges(
        start=b.start if b.start != org.start else None,
        end=b.end if b.end != org.end else None,
        subject=b.name if normalize_subject(org.subject) != b.name else None,
        attendees_add=_sorted(wanted - people),
        attendees_remove=_sorted(people - wanted),
        room=RoomMove(old=min(rooms) if rooms else None, new=b.room_mailbox),
    )
    target = MeetingTarget(role="organizer", mailbox=org.mailbox, event_id=org.event_id)
    new = _base_from_booking(b, Managed.OWNER_ORGANIZED, config).model_copy(
        update={
            "organizer_event_id": org.event_id,
            "ical_uid": org.ical_uid,
            "generation": base.generation,
            "attendees": _sorted(wanted),
        }
    )
    return _plan([UpdateMeeting(target=target, changes=changes)], new, "booking is back in a synced space")


# =============================================================================== linked


def _plan_linked(
    booking_obs: Observed[BookingSnapshot],
    room_obs: Observed[RoomEventSnapshot],
    org_obs: Observed[OrganizerEventSnapshot],
    base: SyncBase,
    config: SyncConfig,
) -> SyncPlan:
    if isinstance(booking_obs, Unread):
        return _plan([], None, "IBSS booking not readable: decide later")
    view = _outlook_view(room_obs, org_obs, base, config)
    if view is None:
        return _plan([], None, "Outlook side not readable: decide later")
    booking = value_of(booking_obs)

    # ---- IBSS side ended
    if booking is None or booking.status == BookingStatus.CANCELLED:
        actions = _release_outlook(base, view, CANCELLED_IN_IBSS)
        new = _ended(base, LinkState.CANCELLED, Side.IBSS)
        new = new.model_copy(
            update=_versions(new, booking, view, wrote_ibss=False, wrote_outlook=bool(actions))
        )
        return _plan(actions, new, "booking cancelled in IBSS: cancel/decline the meeting")
    if booking.status == BookingStatus.AUTO_CANCELLED:
        actions = _release_outlook(base, view, AUTO_CANCELLED_IN_IBSS, room_only=True)
        new = _ended(base, LinkState.CANCELLED, Side.IBSS)
        return _plan(actions, new, "booking released for no check-in: free the room only")
    if booking.status == BookingStatus.COMPLETED:
        return _plan_completed(booking, view, base)
    if not config.in_scope(booking.room_mailbox):
        actions = _release_outlook(base, view, LEFT_SCOPE)
        new = _ended(base, LinkState.DETACHED, Side.IBSS)
        return _plan(actions, new, "booking left the synced scope: the room is released")

    # ---- Outlook side ended
    if not view.alive:
        reason = view.dead_reason or CANCELLED_IN_OUTLOOK
        actions = [CancelBooking(booking_id=booking.booking_id, reason=reason)]
        if view.room_lost and base.managed == Managed.OWNER_ORGANIZED and view.organizer is not None:
            org = view.organizer
            target = MeetingTarget(role="organizer", mailbox=org.mailbox, event_id=org.event_id)
            actions.append(CancelMeeting(target=target, comment=reason))
        if view.owner_declined and base.managed == Managed.ROOM_ORGANIZED:
            actions.append(CancelMeeting(target=_target_room(base, view.room), comment=reason))
        new = _ended(base, LinkState.CANCELLED, Side.OUTLOOK)
        new = new.model_copy(
            update=_versions(new, booking, view, wrote_ibss=True, wrote_outlook=len(actions) > 1)
        )
        return _plan(actions, new, f"meeting ended in Outlook: cancel the booking ({reason})")

    return _merge(booking, view, base, config)


def _plan_completed(booking: BookingSnapshot, view: _OutlookView, base: SyncBase) -> SyncPlan:
    """Checked out or ended: close the link; an early check-out frees the rest of the slot in the room."""
    decision = plan_check_out(booking, view.room if view.holds_room else None, base.managed)
    new = _ended(base, LinkState.COMPLETED, Side.IBSS)
    actions: list[Action] = []
    if decision.release:
        actions = _release_outlook(base, view, CHECKED_OUT_BEFORE_START, room_only=True)
    elif decision.shorten_to is not None and view.room is not None:
        actions = [shorten_room_copy(view.room, decision.shorten_to)]
        # The base holds what the room shows after our PATCH: its echo is ours, not a reschedule.
        new = new.model_copy(update={"end": decision.shorten_to})
    if actions:
        new = new.model_copy(update=_versions(new, booking, view, wrote_ibss=False, wrote_outlook=True))
    return _plan(actions, new, decision.why)


def _winner(booking: BookingSnapshot, view: _OutlookView, config: SyncConfig) -> Side:
    if booking.modified > view.modified:
        return Side.IBSS
    if view.modified > booking.modified:
        return Side.OUTLOOK
    return config.conflict_tie_winner


def _merge(booking: BookingSnapshot, view: _OutlookView, base: SyncBase, config: SyncConfig) -> SyncPlan:
    target = _write_target(base, view, config)
    writable = target is not None
    actions: list[Action] = []
    why: list[str] = []

    booking_same = booking.version == base.booking_version
    outlook_same = (
        view.room is not None
        and view.room.change_key == base.room_change_key
        and (view.organizer is None or view.organizer.change_key == base.organizer_change_key)
    )

    # ---- scalar fields: (name, base, ibss, outlook)
    b_time = (base.start, base.end) if booking_same else (booking.start, booking.end)
    o_time = (base.start, base.end) if outlook_same else (view.start, view.end)
    b_room = base.room_mailbox if booking_same else booking.room_mailbox
    o_room = base.room_mailbox if outlook_same else view.room_mailbox
    b_name = base.booking_name if booking_same else booking.name
    if outlook_same:
        o_name = base.booking_name
        o_private = base.private
    else:
        o_private = view.private
        o_name = _name_from(view, config, base.booking_name)

    def merge(field: str, base_v: object, b_v: object, o_v: object, fmt: str = "") -> object:
        b_changed = b_v != base_v
        o_changed = o_v != base_v
        if not b_changed or b_v == o_v:
            if o_changed and not b_changed:
                why.append(f"{field}: changed in Outlook")
            return o_v
        if not o_changed:
            if writable:
                why.append(f"{field}: changed in IBSS")
                return b_v
            actions.append(_conflict(field, Side.OUTLOOK, b_v, o_v, ROOM_MODE_REASON))
            why.append(f"{field}: IBSS change reverted (meeting not writable)")
            return o_v
        winner = _winner(booking, view, config)
        reason = "changed on both sides: the later change wins"
        if winner == Side.IBSS and not writable:
            winner, reason = Side.OUTLOOK, ROOM_MODE_REASON
        actions.append(_conflict(field, winner, b_v, o_v, reason))
        why.append(f"{field}: conflict, {winner.value} wins")
        return b_v if winner == Side.IBSS else o_v

    time = merge("time", (base.start, base.end), b_time, o_time)
    assert isinstance(time, tuple)
    start, end = time
    room = merge("room", base.room_mailbox, b_room, o_room)
    assert isinstance(room, str)
    if o_private and b_name != base.booking_name:
        # The subject of a private meeting is never written; keep the mask.
        actions.append(_conflict("name", Side.OUTLOOK, b_name, config.private_booking_name, PRIVATE_REASON))
        name: object = o_name
    else:
        name = merge("name", base.booking_name, b_name, o_name)
    assert isinstance(name, str)

    # ---- parties / attendees: per-element three-way set merge
    base_p = set(base.parties)
    base_a = set(base.attendees)
    cur_p = base_p if booking_same else set(booking.party_emails)
    cur_a = base_a if outlook_same or view.attendees is None else set(view.attendees)
    add_p, rem_p = cur_p - base_p, base_p - cur_p
    add_a, rem_a = cur_a - base_a, base_a - cur_a
    if (add_p or rem_p) and not writable:
        actions.append(
            _conflict("parties", Side.OUTLOOK, sorted(cur_p), sorted(base_p | add_a), ROOM_MODE_REASON)
        )
        cur_p, add_p, rem_p = set(base_p), set(), set()
    if add_p or rem_p:
        why.append("parties: changed in IBSS")
    if add_a or rem_a:
        why.append("attendees: changed in Outlook")
    owner = base.owner_email
    new_p = (cur_p | _attendee_parties(frozenset(add_a), owner, config)) - rem_a
    new_a = (cur_a | add_p) - rem_p - {owner}

    # ---- IBSS writes
    changes: dict[str, object] = {}
    if (start, end) != (booking.start, booking.end):
        changes.update(start=start, end=end)
    if room != booking.room_mailbox:
        changes["space"] = config.scope[room]
    if name != booking.name:
        changes["name"] = name
    if new_p != set(booking.party_emails):
        changes["parties"] = _parties_for(new_p, config, booking.parties)
    if changes:
        actions.append(
            UpdateBooking(
                booking_id=booking.booking_id,
                changes=BookingChanges.model_validate(changes),
                if_match=booking.version,
            )
        )

    # ---- Outlook writes
    o_cur_attendees = set(view.attendees) if view.attendees is not None else set(base_a)
    generation = base.generation
    new_room_event_id: str | None = view.room.event_id if view.room is not None else base.room_event_id
    wrote_outlook = False
    if target is not None:
        m: dict[str, object] = {}
        if (start, end) != (view.start, view.end):
            m.update(start=start, end=end)
        if name != o_name and not o_private:
            m["subject"] = name
        add = new_a - o_cur_attendees
        rem = (o_cur_attendees - new_a) if view.attendees is not None else set()
        if add:
            m["attendees_add"] = _sorted(add)
        if rem:
            m["attendees_remove"] = _sorted(rem)
        room_moves = room != view.room_mailbox
        if room_moves and base.managed == Managed.ROOM_ORGANIZED:
            # A room-organized meeting cannot change mailbox: cancel it and recreate it in the new room.
            generation += 1
            assert booking.booking_id
            actions.append(CancelMeeting(target=target, comment="The booking moved to another room in IBSS."))
            actions.append(
                CreateMeeting(
                    target_mailbox=room,
                    organizer_is_room=True,
                    subject=name,
                    start=start,
                    end=end,
                    attendees=_sorted(_with_owner(new_a, owner, config)),
                    room_mailbox=room,
                    booking_id_marker=booking.booking_id,
                    transaction_id=transaction_id(booking.booking_id, room, generation),
                    require_room_free=True,
                    online_meeting=booking.online_meeting,
                )
            )
            new_room_event_id = None
            wrote_outlook = True
        elif m or room_moves:
            if room_moves:
                m["room"] = RoomMove(old=view.room_mailbox, new=room)
                new_room_event_id = None
            actions.append(
                UpdateMeeting(
                    target=target,
                    changes=MeetingChanges.model_validate(m),
                    require_room_free=base.managed == Managed.ROOM_ORGANIZED and ("start" in m or "end" in m),
                )
            )
            wrote_outlook = True

    wrote_ibss = bool(changes)
    # Subject to remember: the truthful Outlook subject (never for private meetings).
    if o_private:
        subject: str | None = None
    elif wrote_outlook and target is not None and name != o_name:
        subject = name
    elif view.subject is not None and not outlook_same:
        subject = view.subject
    else:
        subject = base.subject
    new = base.model_copy(
        update={
            "start": start,
            "end": end,
            "room_mailbox": room,
            "node_id": config.scope[room].node_id,
            "space_id": config.scope[room].space_id,
            "booking_name": name,
            "subject": subject,
            "private": o_private,
            "parties": _sorted(new_p),
            "visitors": _sorted(
                {p.email for p in _parties_for(new_p, config, booking.parties) if p.is_visitor}
            ),
            "attendees": _sorted(new_a),
            "generation": generation,
            **_versions(base, booking, view, wrote_ibss=wrote_ibss, wrote_outlook=wrote_outlook),
        }
    )
    if new_room_event_id != new.room_event_id or room != view.room_mailbox:
        new = new.model_copy(update={"room_event_id": new_room_event_id, "room_change_key": None})
    if not actions:
        why.append("no change on either side" if booking_same and outlook_same else "both sides agree")
    return _plan(actions, new, *why)


def _conflict(
    field: str, winner: Side, ibss_value: object, outlook_value: object, reason: str
) -> RecordConflict:
    return RecordConflict(
        field=field,
        winner=winner,
        ibss_value=_fmt(ibss_value),
        outlook_value=_fmt(outlook_value),
        reason=reason,
    )


def _fmt(value: object) -> str:
    if isinstance(value, tuple):
        return " - ".join(_fmt(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


# =============================================================================== failure follow-ups


# How the room calendar has a conflicting booking's meeting (see IbssRejection.conflicting_meeting).
HolderMeeting = Literal["held", "refused", "none", "unknown"]


def holder_meeting(base: SyncBase | None, room_copy: Observed[RoomEventSnapshot] | None) -> HolderMeeting:
    """How the room calendar has the meeting of a booking that holds a space: from the booking's link
    (None: no link) and the room's copy of its meeting (None: not read, the base names none yet)."""
    if base is None or base.terminal:
        return "none"
    if not base.ical_uid or not base.room_mailbox:
        # Its meeting's create is running now: the room, which accepted the meeting in hand, declines it.
        return "refused"
    if isinstance(room_copy, Present):
        event = room_copy.value
        accepted = event.is_organizer_room or event.room_response == Response.ACCEPTED
        held = accepted and not event.is_cancelled
        return "held" if held else "refused"
    return "refused" if isinstance(room_copy, Gone) else "unknown"


class IbssRejection(BaseModel):
    """IBSS refused a create/update the plan asked for (HTTP 409 or a policy error)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["conflict", "policy", "past"]
    message: str
    conflicting_booking_id: str | None = None
    # The conflicting booking's meeting as the room calendar has it: "held" (accepted there), "refused" (it
    # exists or is being made, and the room does not hold it: the room refuses it, as it took this meeting
    # first), "none" (the booking has no meeting of ours), "unknown" (cannot tell now).
    conflicting_meeting: HolderMeeting = "unknown"
    # When the conflicting booking was made in IBSS (None = unknown).
    conflicting_booking_created: UtcDateTime | None = None

    def lost_to(self, room_event: RoomEventSnapshot) -> bool:
        """Did the conflicting booking lose the space to the meeting the room accepted?"""
        if (
            self.kind != "conflict"
            or self.conflicting_booking_id is None
            or room_event.room_response != Response.ACCEPTED
        ):
            return False
        if self.conflicting_meeting == "refused":
            return True
        made = self.conflicting_booking_created
        return self.conflicting_meeting == "none" and made is not None and made > room_event.last_modified


def plan_after_ibss_rejection(
    room_event: RoomEventSnapshot,
    base: SyncBase | None,
    rejection: IbssRejection,
) -> SyncPlan:
    """IBSS rejected the booking for an Outlook meeting: the room declines it with the reason.

    Exception (the room calendar is the arbiter): the room accepted this meeting, and the conflicting IBSS
    booking either has a meeting the room does not hold, or has none of ours and was made after this
    meeting last changed (a Flex booking the service had not seen yet when the room accepted). That booking
    lost the race: cancel it and retry this create later. A booking with no meeting that is older than the
    meeting (one made before the service synced the space, say) keeps the space, and the room declines.
    """
    if rejection.lost_to(room_event):
        reason = "The room was already booked in Outlook for this time; the Outlook meeting keeps the room."
        return _plan(
            [
                CancelBooking(booking_id=rejection.conflicting_booking_id, reason=reason),
                RetryLater(reason="waiting for the conflicting IBSS booking to be cancelled"),
            ],
            base,
            "the room accepted the Outlook meeting first: the IBSS booking that lost the race is cancelled",
        )
    comment = f"Declined: IBSS rejected the booking ({rejection.message})."
    actions: list[Action] = [
        DeclineRoomEvent(room_mailbox=room_event.room_mailbox, event_id=room_event.event_id, comment=comment)
    ]
    new: SyncBase | None = None
    if base is not None and base.booking_id is not None and not base.terminal:
        actions.append(CancelBooking(booking_id=base.booking_id, reason=comment))
        new = _ended(base, LinkState.CANCELLED, Side.IBSS)
    return _plan(actions, new, "IBSS rejected the Outlook change: the room declines the meeting")


def plan_after_room_unavailable(
    booking: BookingSnapshot,
    previous_base: SyncBase | None,
    config: SyncConfig,
    reason: str = ROOM_BUSY,
) -> SyncPlan:
    """The room cannot take an IBSS-made booking (declined, or busy in the room-mode pre-check).

    A booking that never held the room is cancelled with the reason; a change of an existing booking
    is reverted to the last converged state and recorded as a conflict.
    """
    if previous_base is None or previous_base.terminal:
        return _plan(
            [CancelBooking(booking_id=booking.booking_id, reason=reason)],
            None,
            "the room is taken in Outlook: the IBSS booking is cancelled",
        )
    prev = previous_base
    changes = BookingChanges(
        start=prev.start if prev.start != booking.start else None,
        end=prev.end if prev.end != booking.end else None,
        space=config.scope.get(prev.room_mailbox or "")
        if prev.room_mailbox != booking.room_mailbox
        else None,
    )
    conflict = _conflict(
        "time",
        Side.OUTLOOK,
        (booking.start, booking.end, booking.room_mailbox or ""),
        (prev.start, prev.end, prev.room_mailbox or ""),
        reason,
    )
    return _plan(
        [UpdateBooking(booking_id=booking.booking_id, changes=changes, if_match=booking.version), conflict],
        prev.model_copy(update={"booking_version": None}),
        "the room is taken at the new time: the IBSS change is reverted",
    )


# =============================================================================== link bookkeeping


def record_created_meeting(base: SyncBase, *, event_id: str, ical_uid: str, change_key: str) -> SyncBase:
    """Store the ids returned by CreateMeeting (organizer copy, or the room-organized event)."""
    if base.managed == Managed.ROOM_ORGANIZED:
        return base.model_copy(
            update={"room_event_id": event_id, "ical_uid": ical_uid, "room_change_key": None}
        )
    return base.model_copy(
        update={"organizer_event_id": event_id, "ical_uid": ical_uid, "organizer_change_key": None}
    )


def record_created_booking(base: SyncBase, *, booking_id: str) -> SyncBase:
    """Store the id returned by CreateBooking (its version is learned on the next read)."""
    return base.model_copy(update={"booking_id": booking_id, "booking_version": None})


def link_keys(base: SyncBase) -> tuple[tuple[str, str], ...]:
    """Index keys under which the link can be found from either side."""
    keys: list[tuple[str, str]] = []
    if base.booking_id:
        keys.append(("booking", base.booking_id))
    if base.room_event_id:
        keys.append(("room_event", base.room_event_id))
    if base.ical_uid:
        keys.append(("ical_uid", base.ical_uid))
    if base.organizer_event_id:
        keys.append(("organizer_event", base.organizer_event_id))
    return tuple(keys)
