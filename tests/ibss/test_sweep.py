"""The comparison of IBSS bookings with the links (shared/ibss/sweep.py), pure, from wire payloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.ibss import fields
from shared.ibss.hooks import IbssHookType
from shared.ibss.models import Booking
from shared.ibss.sweep import Finding, SweepRequest, compare_with_links, job_for_finding, sweep_request
from shared.sync import LinkState, SyncBase
from shared.sync.model import Managed, Side

NOW = datetime(2030, 1, 8, 9, 0, tzinfo=UTC)
WINDOW_END = NOW + timedelta(days=90)
SYNCED = frozenset({"HQ-1-AURORA", "HQ-2-CIRRUS"})

# GET /v2/1001/bookings?$filter=Booking_End gt ... and Booking_Start lt ... as IBSS sends it (wire names
# from shared/ibss/fields.py, the shape of the documented booking list).
PAGE: dict[str, Any] = {
    fields.ODATA_VALUE: [
        {  # linked, unchanged
            "Booking_Id": "b-linked",
            "Node_Id": 1001,
            "Space_Id": "HQ-1-AURORA",
            "Booking_Start": "2030-01-09T09:00:00Z",
            "Booking_End": "2030-01-09T10:00:00Z",
            "Booking_Status": "New",
            "Booking_Owner_Email": "alice@contoso.example",
            "Booking_Etag": '"e1"',
        },
        {  # linked, edited in Flex since the link converged
            "Booking_Id": "b-edited",
            "Node_Id": 1001,
            "Space_Id": "HQ-1-AURORA",
            "Booking_Start": "2030-01-09T11:00:00Z",
            "Booking_End": "2030-01-09T12:00:00Z",
            "Booking_Status": "Amended",
            "Booking_Owner_Email": "alice@contoso.example",
            "Booking_Etag": '"e9"',
        },
        {  # made in Flex, its hook never arrived
            "Booking_Id": "b-lost-create",
            "Node_Id": 1001,
            "Space_Id": "HQ-2-CIRRUS",
            "Booking_Start": "2030-01-10T09:00:00Z",
            "Booking_End": "2030-01-10T10:00:00Z",
            "Booking_Status": "New",
            "Booking_Owner_Email": "bob@contoso.example",
            "Booking_Etag": '"e2"',
        },
        {  # cancelled in Flex, its link still active
            "Booking_Id": "b-cancelled",
            "Node_Id": 1001,
            "Space_Id": "HQ-2-CIRRUS",
            "Booking_Start": "2030-01-11T09:00:00Z",
            "Booking_End": "2030-01-11T10:00:00Z",
            "Booking_Status": "Cancelled",
            "Booking_Owner_Email": "bob@contoso.example",
            "Booking_Etag": '"e4"',
        },
        {  # a desk (not a synced room): not compared here
            "Booking_Id": "b-desk",
            "Node_Id": 1001,
            "Space_Id": "HQ-3-DESK-01",
            "Booking_Start": "2030-01-10T08:00:00Z",
            "Booking_End": "2030-01-10T16:00:00Z",
            "Booking_Status": "New",
            "Booking_Owner_Email": "carol@contoso.example",
        },
        {  # cancelled and never linked: nothing to do
            "Booking_Id": "b-cancelled-unlinked",
            "Node_Id": 1001,
            "Space_Id": "HQ-1-AURORA",
            "Booking_Start": "2030-01-12T09:00:00Z",
            "Booking_End": "2030-01-12T10:00:00Z",
            "Booking_Status": "Cancelled",
            "Booking_Owner_Email": "bob@contoso.example",
        },
        {  # the room declined it once: the link ended, the sweep does not bring it back
            "Booking_Id": "b-ended-link",
            "Node_Id": 1001,
            "Space_Id": "HQ-1-AURORA",
            "Booking_Start": "2030-01-13T09:00:00Z",
            "Booking_End": "2030-01-13T10:00:00Z",
            "Booking_Status": "New",
            "Booking_Owner_Email": "bob@contoso.example",
        },
        {  # two occurrences of one series: one finding for the series
            "Booking_Id": "b-s1",
            "Node_Id": 1001,
            "Space_Id": "HQ-1-AURORA",
            "Booking_Start": "2030-01-14T09:00:00Z",
            "Booking_End": "2030-01-14T10:00:00Z",
            "Booking_Status": "New",
            "Booking_Owner_Email": "alice@contoso.example",
            "Booking_Series_Id": "s-1",
            "Booking_Etag": '"s1"',
        },
        {
            "Booking_Id": "b-s2",
            "Node_Id": 1001,
            "Space_Id": "HQ-1-AURORA",
            "Booking_Start": "2030-01-21T09:00:00Z",
            "Booking_End": "2030-01-21T10:00:00Z",
            "Booking_Status": "New",
            "Booking_Owner_Email": "alice@contoso.example",
            "Booking_Series_Id": "s-1",
            "Booking_Etag": '"s2"',
        },
    ]
}
BOOKINGS = [Booking.model_validate(b) for b in PAGE[fields.ODATA_VALUE]]


def _link(booking_id: str, start: str, *, version: str | None = None, **update: Any) -> SyncBase:
    begin = datetime.fromisoformat(start)
    base = SyncBase(
        booking_id=booking_id,
        origin=Side.IBSS,
        managed=Managed.OWNER_ORGANIZED,
        node_id=1001,
        space_id="HQ-1-AURORA",
        room_mailbox="aurora@contoso.example",
        start=begin,
        end=begin + timedelta(hours=1),
        booking_name="x",
        owner_email="alice@contoso.example",
        booking_version=version,
    )
    return base.model_copy(update=update)


LINKS = [
    _link("b-linked", "2030-01-09T09:00:00+00:00", version='"e1"'),
    _link("b-edited", "2030-01-09T11:00:00+00:00", version='"e1"'),
    _link("b-cancelled", "2030-01-11T09:00:00+00:00", version='"e3"', space_id="HQ-2-CIRRUS"),
    _link("b-ended-link", "2030-01-13T09:00:00+00:00", state=LinkState.CANCELLED),
    # hard-deleted in IBSS: in the window, gone from the API
    _link("b-purged", "2030-01-15T09:00:00+00:00", version='"e5"'),
    # beyond the window: not judged by this read
    _link("b-later", "2030-06-01T09:00:00+00:00", version='"e6"'),
    # gone too, but its link already ended: nothing to do
    _link("b-purged-ended", "2030-01-16T09:00:00+00:00", state=LinkState.CANCELLED),
]


def _kinds(findings: list[Finding]) -> dict[str, str]:
    return {f.booking_id: f.kind for f in findings}


def test_the_sweep_finds_lost_creates_cancels_hard_deletes_and_each_series_once() -> None:
    found = compare_with_links(BOOKINGS, LINKS, synced_spaces=SYNCED, window_start=NOW, window_end=WINDOW_END)
    assert _kinds(found) == {
        "b-lost-create": "unlinked",
        "b-cancelled": "cancelled",
        "b-purged": "gone",
        "b-s1": "series",
    }
    series = next(f for f in found if f.kind == "series")
    assert series.series_id == "s-1"


def test_the_window_scan_also_finds_bookings_whose_etag_moved_on() -> None:
    found = compare_with_links(
        BOOKINGS, LINKS, synced_spaces=SYNCED, window_start=NOW, window_end=WINDOW_END, compare_versions=True
    )
    assert _kinds(found)["b-edited"] == "changed"
    assert "b-linked" not in _kinds(found)


def test_a_series_version_changes_when_any_occurrence_changes() -> None:
    def series_version(bookings: list[Booking]) -> str | None:
        found = compare_with_links(
            bookings, [], synced_spaces=SYNCED, window_start=NOW, window_end=WINDOW_END
        )
        return next(f.version for f in found if f.kind == "series")

    before = series_version(BOOKINGS)
    edited = [b.model_copy(update={"etag": '"s2b"'}) if b.id == "b-s2" else b for b in BOOKINGS]
    assert series_version(edited) != before
    assert series_version(list(reversed(BOOKINGS))) == before


def test_findings_become_the_jobs_a_hook_would_make() -> None:
    found = compare_with_links(BOOKINGS, LINKS, synced_spaces=SYNCED, window_start=NOW, window_end=WINDOW_END)
    jobs = {f.booking_id: job_for_finding(f, NOW, "sweep") for f in found}
    assert jobs["b-purged"].hook_type is IbssHookType.CANCELLED
    assert jobs["b-purged"].space_id == "HQ-1-AURORA"
    assert jobs["b-lost-create"].hook_type is IbssHookType.CREATED
    assert jobs["b-s1"].series_id == "s-1"
    assert {j.reason for j in jobs.values()} == {"sweep"}
    assert all(j.is_change_hint for j in jobs.values())
    assert len({j.hook_id for j in jobs.values()}) == len(jobs)


def test_a_sweep_request_round_trips_and_refuses_unknown_fields() -> None:
    request = sweep_request(1001, "ops", NOW)
    assert SweepRequest.model_validate_json(request.model_dump_json()) == request
    with pytest.raises(ValidationError):
        SweepRequest.model_validate({**request.model_dump(), "extra": 1})
