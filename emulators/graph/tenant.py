"""Tenant files (YAML or JSON): users, room mailboxes, app registrations."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

DEMO_TENANT_PATH = Path(__file__).parent / "tenants" / "demo.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class CalendarProcessing(_Model):
    """Exchange ``Set-CalendarProcessing`` settings, with Exchange Online's room defaults."""

    automate_processing: Literal["AutoAccept", "AutoUpdate", "None"] = Field(
        "AutoAccept", alias="automateProcessing"
    )
    allow_conflicts: bool = Field(False, alias="allowConflicts")
    booking_window_in_days: int = Field(180, alias="bookingWindowInDays")
    enforce_scheduling_horizon: bool = Field(True, alias="enforceSchedulingHorizon")
    maximum_duration_in_minutes: int = Field(1440, alias="maximumDurationInMinutes")
    allow_recurring_meetings: bool = Field(True, alias="allowRecurringMeetings")
    add_organizer_to_subject: bool = Field(True, alias="addOrganizerToSubject")
    delete_subject: bool = Field(True, alias="deleteSubject")
    delete_comments: bool = Field(True, alias="deleteComments")
    remove_private_property: bool = Field(True, alias="removePrivateProperty")
    remove_canceled_meetings: bool = Field(False, alias="removeCanceledMeetings")


class UserSpec(_Model):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    address: str
    display_name: str = Field(alias="displayName")
    time_zone: str = Field("UTC", alias="timeZone")


class RoomSpec(_Model):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    address: str
    display_name: str = Field(alias="displayName")
    capacity: int | None = None
    building: str | None = None
    floor_number: int | None = Field(None, alias="floorNumber")
    floor_label: str | None = Field(None, alias="floorLabel")
    time_zone: str = Field("UTC", alias="timeZone")
    calendar_processing: CalendarProcessing = Field(
        default_factory=CalendarProcessing, alias="calendarProcessing"
    )


class AppSpec(_Model):
    client_id: str = Field(alias="clientId")
    client_secret: str | None = Field(None, alias="clientSecret")
    display_name: str = Field("app", alias="displayName")
    service_principal_id: str = Field(default_factory=lambda: str(uuid.uuid4()), alias="servicePrincipalId")
    roles: list[str] = Field(
        default_factory=lambda: ["Calendars.ReadWrite", "Place.Read.All", "User.Read.All"]
    )
    # None: every mailbox (tenant-wide consent); a list: ApplicationAccessPolicy-like scope.
    mailbox_scope: list[str] | None = Field(None, alias="mailboxScope")


class ExternalPerson(_Model):
    address: str
    display_name: str = Field(alias="displayName")
    company: str | None = None


class TenantSpec(_Model):
    tenant_id: str = Field(alias="tenantId")
    domain: str
    display_name: str = Field("Tenant", alias="displayName")
    apps: list[AppSpec]
    users: list[UserSpec] = Field(default_factory=list)
    rooms: list[RoomSpec] = Field(default_factory=list)
    external_people: list[ExternalPerson] = Field(default_factory=list, alias="externalPeople")


def parse_tenant(data: dict[str, Any]) -> TenantSpec:
    return TenantSpec.model_validate(data)


def load_tenant(path: str | Path) -> TenantSpec:
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    return parse_tenant(data)
