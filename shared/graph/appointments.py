"""Personal appointments (desk bookings) in a person's own calendar, over ``GraphCalendar``.

* ``CreateAppointment``: ``POST /users/{person}/events`` with no attendees, the space as a free-text
  ``location``, ``showAs=free`` (a desk does not make the person busy), no reminder, our booking id
  marker (single-value extended property) and ``transactionId`` (a repeated create returns the first
  event, so a retried or replayed create never duplicates it).
* ``UpdateAppointment``: ``PATCH /users/{person}/events/{id}`` with only the changed fields. 404: the
  person deleted it (``AppointmentGone``); the caller leaves it deleted.
* ``DeleteAppointment``: ``DELETE /users/{person}/events/{id}``; nobody is invited, so nobody is told.
  Already gone counts as done.

Needs ``Calendars.ReadWrite`` (application) on the people's mailboxes, the permission owner mode
already has (scope it to the people who may opt in with an application access policy / RBAC scope).
"""

from __future__ import annotations

from msgraph.generated.models.event import Event
from msgraph.generated.models.free_busy_status import FreeBusyStatus
from msgraph.generated.models.location import Location
from msgraph.generated.models.location_type import LocationType

from shared.graph.calendar import GraphCalendar
from shared.graph.errors import GraphNotFound
from shared.graph.mapping import graph_time, marker_property
from shared.sync.desks import CreateAppointment, DeleteAppointment, UpdateAppointment


class AppointmentGone(Exception):
    """The appointment to update no longer exists in the person's calendar."""


def _location(text: str) -> Location:
    return Location(display_name=text, location_type=LocationType.Default)


def appointment_body(action: CreateAppointment) -> Event:
    a = action.appointment
    return Event(
        subject=a.subject,
        start=graph_time(a.start),
        end=graph_time(a.end),
        location=_location(a.location),
        attendees=[],
        show_as=FreeBusyStatus.Free,
        is_reminder_on=False,
        transaction_id=action.transaction_id,
        single_value_extended_properties=[marker_property(action.booking_id_marker)],
    )


def appointment_patch(action: UpdateAppointment) -> Event:
    patch = Event()
    if action.subject is not None:
        patch.subject = action.subject
    if action.location is not None:
        patch.location = _location(action.location)
    if action.start is not None:
        patch.start = graph_time(action.start)
    if action.end is not None:
        patch.end = graph_time(action.end)
    return patch


class AppointmentWriter:
    def __init__(self, calendar: GraphCalendar) -> None:
        self.calendar = calendar

    async def create(self, action: CreateAppointment) -> str:
        """The created (or, for a repeated transactionId, the earlier) event's id."""
        created = await self.calendar.create_event(
            action.appointment.mailbox, appointment_body(action), action.transaction_id
        )
        if not created.id:  # pragma: no cover - Graph always returns the id
            raise GraphNotFound("create returned no event id", status=201)
        return created.id

    async def update(self, action: UpdateAppointment) -> None:
        try:
            await self.calendar.update_event(action.mailbox, action.event_id, appointment_patch(action), None)
        except GraphNotFound as exc:
            if exc.mailbox_missing:
                raise
            raise AppointmentGone(action.event_id) from exc

    async def delete(self, action: DeleteAppointment) -> None:
        try:
            await self.calendar.delete_event(action.mailbox, action.event_id)
        except GraphNotFound as exc:
            if exc.mailbox_missing:
                raise
