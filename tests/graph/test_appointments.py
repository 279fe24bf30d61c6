"""Graph bodies of personal (desk) appointments, and that sync writes never touch a Teams link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from msgraph.generated.models.free_busy_status import FreeBusyStatus

from shared.graph.appointments import appointment_body, appointment_patch
from shared.graph.mapping import BOOKING_ID_PROPERTY_ID, patch_body
from shared.sync.desks import Appointment, CreateAppointment, UpdateAppointment
from shared.sync.plan import MeetingChanges

START = datetime(2030, 1, 8, 8, 0, tzinfo=UTC)


def test_appointment_body_invites_nobody_and_carries_marker_and_transaction_id() -> None:
    action = CreateAppointment(
        appointment=Appointment(
            mailbox="dave@contoso.example",
            subject="Desk",
            location="Desk 3.01, Contoso HQ",
            start=START,
            end=START + timedelta(hours=8),
        ),
        booking_id_marker="b1",
        transaction_id="txn-1",
    )
    body = appointment_body(action)
    assert body.attendees == []
    assert body.location is not None
    assert body.location.display_name == "Desk 3.01, Contoso HQ"
    assert body.location.location_email_address is None  # a desk is not a mailbox
    assert body.transaction_id == "txn-1"
    assert body.show_as == FreeBusyStatus.Free
    props = body.single_value_extended_properties or []
    assert [(p.id, p.value) for p in props] == [(BOOKING_ID_PROPERTY_ID, "b1")]
    assert not body.is_online_meeting


def test_appointment_patch_sends_only_what_changed() -> None:
    patch = appointment_patch(UpdateAppointment(mailbox="d@contoso.example", event_id="e", subject="New"))
    assert patch.subject == "New"
    assert patch.start is None
    assert patch.location is None


def test_meeting_patches_never_touch_the_online_meeting() -> None:
    """Outlook-made meetings keep their Teams link: no sync PATCH sends isOnlineMeeting."""
    patch = patch_body(MeetingChanges(start=START, end=START + timedelta(hours=1), subject="Renamed"))
    assert patch.is_online_meeting is None
    assert patch.online_meeting_provider is None
