"""The pure IBSS series -> recurring meeting decision (shared/sync/ibss_series.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.recurrence import RecurrencePatternType, expand
from shared.sync.ibss_series import (
    CancelOccurrence,
    CancelSeriesMeeting,
    CreateSeriesMeeting,
    IbssSeriesBase,
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
    series_master_uid,
)
from shared.sync.model import BookingSnapshot, BookingStatus, OrganizerMode, Party
from shared.sync.plan import CancelBooking

BERLIN = ZoneInfo("Europe/Berlin")
TZ = "Europe/Berlin"
ROOM, OWNER = "aurora@contoso.example", "alice@contoso.example"
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def weekly(n: int = 6, first: datetime | None = None, every: int = 7) -> list[BookingSnapshot]:
    """Mondays 10:00-11:00 Berlin from 9 Mar 2026: crosses the 29 Mar DST change."""
    day = first or datetime(2026, 3, 9, 10, 0, tzinfo=BERLIN)
    out = []
    for i in range(n):
        start = (day + timedelta(days=every * i)).astimezone(UTC)
        local = datetime.combine((day + timedelta(days=every * i)).date(), day.timetz().replace(tzinfo=None))
        start = local.replace(tzinfo=BERLIN).astimezone(UTC)
        out.append(
            BookingSnapshot(
                booking_id=f"b{i}",
                node_id=1,
                space_id="HQ-1-AURORA",
                room_mailbox=ROOM,
                start=start,
                end=start + timedelta(hours=1),
                name="Weekly",
                owner_email=OWNER,
                parties=frozenset({Party(email="bob@contoso.example")}),
                version=f"v{i}",
                modified=NOW,
                series_id="S1",
            )
        )
    return out


def cfg(mode: OrganizerMode = OrganizerMode.OWNER) -> SeriesConfig:
    return SeriesConfig(
        now=NOW, organizer_mode=mode, time_zone=TZ, internal_domains=frozenset({"contoso.example"})
    )


def created(bookings: list[BookingSnapshot], mode: OrganizerMode = OrganizerMode.OWNER) -> IbssSeriesBase:
    plan = decide_series(bookings, None, cfg(mode))
    assert plan.new_base is not None
    return plan.new_base.model_copy(update={"master_event_id": "M", "master_ical_uid": "U"})


def edit(b: BookingSnapshot, **changes: object) -> BookingSnapshot:
    return b.model_copy(update={"version": b.version + "'", **changes})


def kinds(plan: SeriesPlan) -> list[str]:
    return [a.kind for a in plan.actions]


# ----------------------------------------------------------------------------- first sight


@pytest.mark.parametrize("mode", [OrganizerMode.OWNER, OrganizerMode.ROOM])
def test_weekly_series_becomes_one_recurring_meeting_across_dst(mode: OrganizerMode) -> None:
    bookings = weekly()
    plan = decide_series(bookings, None, cfg(mode))
    assert kinds(plan) == ["create_series_meeting"]
    create = plan.actions[0]
    assert isinstance(create, CreateSeriesMeeting)
    assert create.recurrence.pattern.type is RecurrencePatternType.WEEKLY
    assert create.organizer_is_room is (mode is OrganizerMode.ROOM)
    assert create.target_mailbox == (ROOM if mode is OrganizerMode.ROOM else OWNER)
    assert is_series_marker(create.marker)
    people = {"bob@contoso.example"} | ({OWNER} if mode is OrganizerMode.ROOM else set())
    assert set(create.attendees) == people
    occ = expand(
        create.recurrence,
        datetime(2026, 1, 1, 10).time(),
        timedelta(hours=1),
        TZ,
        NOW,
        NOW + timedelta(days=90),
    )
    assert [o.start_utc for o in occ] == [b.start for b in bookings]
    assert {o.start_utc.hour for o in occ} == {9, 8}  # 10:00 Berlin in winter and in summer
    assert plan.new_base is not None
    assert plan.new_base.mode is SeriesMode.RECURRING


def test_a_series_of_an_owner_without_a_mailbox_or_without_an_owner_is_organized_by_the_room() -> None:
    known = cfg().model_copy(update={"without_mailbox": frozenset({OWNER})})
    for bookings, config in ((weekly(), known), ([edit(b, owner_email="") for b in weekly()], cfg())):
        (create,) = decide_series(bookings, None, config).actions
        assert isinstance(create, CreateSeriesMeeting)
        assert create.organizer_is_room
        assert create.target_mailbox == ROOM
        assert "" not in create.attendees


def test_same_input_twice_is_a_noop_after_the_create() -> None:
    bookings = weekly()
    base = created(bookings)
    plan = decide_series(bookings, base, cfg())
    assert plan.actions == ()
    assert plan.new_base == base


@pytest.mark.parametrize(
    "mutate",
    [
        lambda bs: [bs[0], bs[1], bs[3]],  # irregular gap
        lambda bs: [bs[0]],  # one booking
        lambda bs: [bs[0], edit(bs[1], end=bs[1].end + timedelta(minutes=30)), bs[2]],  # lengths differ
        lambda bs: [bs[0], edit(bs[1], name="Other"), bs[2]],  # names differ
        lambda bs: [b.model_copy(update={"origin_ical_uid": "X"}) for b in bs],  # made from Outlook
        lambda bs: [b.model_copy(update={"room_mailbox": None}) for b in bs],  # unsynced space
    ],
)
def test_what_cannot_be_one_meeting_goes_single(mutate) -> None:
    bookings = mutate(weekly())
    plan = decide_series(bookings, None, cfg())
    assert kinds(plan) == ["sync_singly"]
    assert plan.new_base is not None
    assert plan.new_base.mode is SeriesMode.SINGLES
    # Later hooks: only the bookings whose version changed go to the single path.
    again = decide_series([edit(bookings[0]), *bookings[1:]], plan.new_base, cfg())
    assert again.actions == (SyncSingly(booking_ids=(bookings[0].booking_id,)),)


def test_fortnightly_is_a_weekly_pattern_with_interval_two() -> None:
    plan = decide_series(weekly(every=14), None, cfg())
    create = plan.actions[0]
    assert isinstance(create, CreateSeriesMeeting)
    assert create.recurrence.pattern.interval == 2


def test_busy_dates_are_cancelled_in_ibss_and_the_invitation_waits_for_them() -> None:
    bookings = weekly()
    busy = [(bookings[2].start - timedelta(minutes=30), bookings[2].start + timedelta(minutes=30))]
    plan = decide_series(bookings, None, cfg(), busy)
    assert kinds(plan) == [
        "create_series_meeting",
        "cancel_occurrence",
        "cancel_booking",
        "update_series_master",
    ]
    create, cancel_occ, cancel_booking, invite = plan.actions
    assert isinstance(create, CreateSeriesMeeting)
    assert create.invite_later
    assert isinstance(cancel_occ, CancelOccurrence)
    assert cancel_occ.original_start == bookings[2].start
    assert isinstance(cancel_booking, CancelBooking)
    assert cancel_booking.booking_id == "b2"
    assert cancel_booking.reason
    assert isinstance(invite, UpdateSeriesMaster)
    assert invite.invite
    base = plan.new_base
    assert base is not None
    # The hook of our own cancel changes nothing more.
    cancelled = [edit(b, status=BookingStatus.CANCELLED) if b.booking_id == "b2" else b for b in bookings]
    assert decide_series(cancelled, base.model_copy(update={"master_event_id": "M"}), cfg()).actions == ()


def test_every_date_busy_cancels_every_booking_and_makes_no_meeting() -> None:
    bookings = weekly(3)
    plan = decide_series(bookings, None, cfg(), [(bookings[0].start, bookings[-1].end)])
    assert kinds(plan) == ["cancel_booking"] * 3
    assert plan.new_base is not None
    assert plan.new_base.mode is SeriesMode.CANCELLED


# ----------------------------------------------------------------------------- later changes


def test_one_cancelled_booking_cancels_its_occurrence_once() -> None:
    bookings = weekly()
    base = created(bookings)
    bookings[3] = edit(bookings[3], status=BookingStatus.CANCELLED)
    plan = decide_series(bookings, base, cfg())
    assert plan.actions == (CancelOccurrence(booking_id="b3", original_start=bookings[3].start),)
    assert decide_series(bookings, plan.new_base, cfg()).actions == ()


def test_one_moved_booking_becomes_an_exception() -> None:
    bookings = weekly()
    base = created(bookings)
    original = bookings[2].start
    bookings[2] = edit(bookings[2], start=original + timedelta(hours=2), end=original + timedelta(hours=3))
    plan = decide_series(bookings, base, cfg())
    assert plan.actions == (
        UpdateOccurrence(
            booking_id="b2",
            original_start=original,
            start=original + timedelta(hours=2),
            end=original + timedelta(hours=3),
        ),
    )
    assert decide_series(bookings, plan.new_base, cfg()).actions == ()


def test_one_renamed_booking_is_a_subject_exception_but_all_renamed_is_the_master() -> None:
    bookings = weekly()
    base = created(bookings)
    one = [edit(b, name="Special") if b.booking_id == "b1" else b for b in bookings]
    plan = decide_series(one, base, cfg())
    assert kinds(plan) == ["update_occurrence"]
    all_ = [edit(b, name="Weekly v2") for b in bookings]
    plan = decide_series(all_, base, cfg())
    assert plan.actions == (UpdateSeriesMaster(subject="Weekly v2"),)
    assert decide_series(all_, plan.new_base, cfg()).actions == ()


def test_parties_changed_on_every_booking_update_the_master_attendees() -> None:
    bookings = weekly()
    base = created(bookings)
    carol = frozenset({Party(email="carol@contoso.example")})
    plan = decide_series([edit(b, parties=carol) for b in bookings], base, cfg())
    assert plan.actions == (UpdateSeriesMaster(attendees=("carol@contoso.example",)),)


def test_whole_series_time_change_patches_the_master_and_replays_cancellations() -> None:
    bookings = weekly()
    base = created(bookings)
    bookings[4] = edit(bookings[4], status=BookingStatus.CANCELLED)
    after_cancel = decide_series(bookings, base, cfg()).new_base
    assert after_cancel is not None
    base = after_cancel
    shifted = [
        b
        if b.status is BookingStatus.CANCELLED
        else edit(b, start=b.start + timedelta(hours=1), end=b.end + timedelta(hours=1))
        for b in bookings
    ]
    plan = decide_series(shifted, base, cfg())
    assert kinds(plan) == ["update_series_master", "cancel_occurrence"]
    master = plan.actions[0]
    assert isinstance(master, UpdateSeriesMaster)
    assert master.start == bookings[0].start + timedelta(hours=1)
    assert master.recurrence is None
    cancel = plan.actions[1]
    assert isinstance(cancel, CancelOccurrence)
    assert cancel.original_start == bookings[4].start + timedelta(hours=1)
    assert decide_series(shifted, plan.new_base, cfg()).actions == ()


def test_a_shift_by_a_day_changes_the_pattern_days() -> None:
    bookings = weekly()
    base = created(bookings)
    moved = [edit(b, start=b.start + timedelta(days=1), end=b.end + timedelta(days=1)) for b in bookings]
    plan = decide_series(moved, base, cfg())
    master = plan.actions[0]
    assert isinstance(master, UpdateSeriesMaster)
    assert master.recurrence is not None
    assert [d.value for d in master.recurrence.pattern.days_of_week] == ["tuesday"]


def test_cancelling_the_series_cancels_the_master_for_good() -> None:
    bookings = weekly()
    base = created(bookings)
    gone = [edit(b, status=BookingStatus.CANCELLED) for b in bookings]
    plan = decide_series(gone, base, cfg())
    assert plan.actions == (CancelSeriesMeeting(),)
    assert plan.new_base is not None
    assert plan.new_base.mode is SeriesMode.CANCELLED
    assert decide_series(gone, plan.new_base, cfg()).actions == ()  # no resurrection


def test_a_booking_moved_to_another_space_leaves_the_meeting() -> None:
    bookings = weekly()
    base = created(bookings)
    bookings[1] = edit(bookings[1], space_id="HQ-2-CIRRUS", room_mailbox="cirrus@contoso.example")
    plan = decide_series(bookings, base, cfg())
    assert kinds(plan) == ["cancel_occurrence", "sync_singly"]
    again = decide_series(
        [edit(bookings[1]) if b.booking_id == "b1" else b for b in bookings], plan.new_base, cfg()
    )
    assert again.actions == (SyncSingly(booking_ids=("b1",)),)


def test_completed_bookings_are_history() -> None:
    bookings = weekly()
    base = created(bookings)
    done = [
        edit(b, status=BookingStatus.COMPLETED) if i < 2 else edit(b, status=BookingStatus.CANCELLED)
        for i, b in enumerate(bookings)
    ]
    plan = decide_series(done, base, cfg())
    assert kinds(plan) == ["cancel_occurrence"] * 4


# ----------------------------------------------------------------------------- markers and ids


def test_markers_and_occurrence_uids() -> None:
    assert is_series_marker(series_marker("S1"))
    assert not is_series_marker("plain-booking-id")
    master = "040000008200E00074C5B7101A82E00800000000" + "AB" * 20
    occurrence = master[:32] + "07EA0309" + master[40:]
    assert series_master_uid(occurrence) == master
    assert is_occurrence_uid(occurrence)
    assert not is_occurrence_uid(master)
    assert series_master_uid("not-exchange") == "not-exchange"
