"""Normalization helpers and the serializable sync base."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.sync import SyncBase
from shared.sync.normalize import (
    content_hash,
    is_internal,
    iso_utc,
    normalize_email,
    parse_utc,
    room_subject_to_title,
    transaction_id,
)
from tests.sync.factories import GUEST, booking, ibss_made, outlook_made


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice@Contoso.Example", "alice@contoso.example"),
        (" SMTP:Bob@contoso.example ", "bob@contoso.example"),
    ],
)
def test_normalize_email(raw, expected) -> None:
    assert normalize_email(raw) == expected


def test_internal_domains_include_subdomains() -> None:
    assert is_internal("a@contoso.example", {"contoso.example"})
    assert is_internal("a@eu.contoso.example", {"contoso.example"})
    assert not is_internal(GUEST, {"contoso.example"})
    assert not is_internal("a@notcontoso.example", {"contoso.example"})


@pytest.mark.parametrize(
    ("raw", "add", "delete", "expected"),
    [
        ("Alice Adams", True, False, None),  # the subject is only the organizer's name
        ("Team sync", True, True, None),  # DeleteSubject: nothing truthful is left
        ("Alice Adams Team sync", True, False, "Team sync"),
        ("Alice Adams - Team sync", True, False, "Team sync"),
        ("Alice Adamson review", True, False, "Alice Adamson review"),  # not a prefix at a word boundary
        ("Team  sync ", False, False, "Team sync"),
        ("", False, False, None),
        (None, False, False, None),
    ],
)
def test_room_subject_to_title(raw, add, delete, expected) -> None:
    assert (
        room_subject_to_title(raw, "Alice Adams", add_organizer_to_subject=add, delete_subject=delete)
        == expected
    )


def test_parse_utc_accepts_graph_seven_digit_fractions_and_offsets() -> None:
    assert parse_utc("2025-03-10T11:00:00.1234567Z") == datetime(2025, 3, 10, 11, 0, 0, 123456, tzinfo=UTC)
    assert parse_utc("2025-03-10T12:00:00+01:00") == datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
    assert parse_utc("2025-03-10T11:00:00") == datetime(2025, 3, 10, 11, 0, tzinfo=UTC)


@given(st.datetimes(timezones=st.just(UTC)))
def test_iso_round_trip(value) -> None:
    assert parse_utc(iso_utc(value)) == value


def test_snapshots_reject_naive_datetimes_and_convert_to_utc() -> None:
    with pytest.raises(ValidationError):
        booking(start=datetime(2025, 3, 11, 9, 0))
    cet = timezone(timedelta(hours=1))
    b = booking(start=datetime(2025, 3, 11, 10, 0, tzinfo=cet))
    assert b.start == datetime(2025, 3, 11, 9, 0, tzinfo=UTC)
    assert b.start.tzinfo == UTC


def test_content_hash_is_order_independent_for_sets_and_stable() -> None:
    assert content_hash({"a": frozenset({"x", "y"})}) == content_hash({"a": frozenset({"y", "x"})})
    assert len(content_hash({"a": 1})) == 64


def test_transaction_id_is_deterministic_and_distinct() -> None:
    assert transaction_id("BK-1", "Alice@contoso.example") == transaction_id("BK-1", "alice@contoso.example")
    assert transaction_id("BK-1", "a@x", 0) != transaction_id("BK-1", "a@x", 1)
    assert transaction_id("BK-1", "a@x") != transaction_id("BK-2", "a@x")


@pytest.mark.parametrize("make", [ibss_made, outlook_made])
def test_sync_base_round_trips_through_a_table_row(make) -> None:
    base = make().base
    row = base.to_row()
    assert all(isinstance(v, str | int | bool) for v in row.values())
    assert SyncBase.from_row(row) == base


def test_sync_base_row_stays_small_with_many_attendees() -> None:
    base = ibss_made().base.model_copy(
        update={"attendees": tuple(f"person{i:03d}@contoso.example" for i in range(500))}
    )
    row = base.to_row()
    assert sum(len(str(k)) + len(str(v)) for k, v in row.items()) < 32 * 1024
    assert SyncBase.from_row(row) == base


def test_sync_base_stores_no_body_fields() -> None:
    assert not {"body", "body_preview", "bodyPreview"} & set(SyncBase.model_fields)
