"""patternedRecurrence models: Graph's response shape, request bodies, validation errors, SDK objects."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from msgraph.generated.models.day_of_week import DayOfWeek as SdkDay
from msgraph.generated.models.patterned_recurrence import PatternedRecurrence as SdkRecurrence
from msgraph.generated.models.recurrence_pattern import RecurrencePattern as SdkPattern
from msgraph.generated.models.recurrence_pattern_type import RecurrencePatternType as SdkPatternType
from msgraph.generated.models.recurrence_range import RecurrenceRange as SdkRange
from msgraph.generated.models.recurrence_range_type import RecurrenceRangeType as SdkRangeType
from msgraph.generated.models.week_index import WeekIndex as SdkWeekIndex
from pydantic import ValidationError

from shared.recurrence import (
    DayOfWeek,
    PatternedRecurrence,
    RecurrencePattern,
    RecurrencePatternType,
    RecurrenceRange,
    RecurrenceRangeType,
    WeekIndex,
)

# What Graph returns for a weekly series (every property present, neutral values filled in).
GRAPH_RESPONSE: dict[str, Any] = {
    "pattern": {
        "type": "weekly",
        "interval": 2,
        "month": 0,
        "dayOfMonth": 0,
        "daysOfWeek": ["friday", "monday"],
        "firstDayOfWeek": "monday",
        "index": "first",
    },
    "range": {
        "type": "noEnd",
        "startDate": "2026-03-02",
        "endDate": "0001-01-01",
        "recurrenceTimeZone": "W. Europe Standard Time",
        "numberOfOccurrences": 0,
    },
}


def test_graph_response_parses_and_normalises() -> None:
    r = PatternedRecurrence.model_validate(GRAPH_RESPONSE)
    assert r.pattern.type is RecurrencePatternType.WEEKLY
    assert r.pattern.days_of_week == (DayOfWeek.MONDAY, DayOfWeek.FRIDAY)
    assert r.pattern.first_day_of_week is DayOfWeek.MONDAY
    assert r.range.type is RecurrenceRangeType.NO_END
    assert r.range.start_date == date(2026, 3, 2)
    assert r.range.end_date is None
    assert r.to_graph() == {
        "pattern": {
            "type": "weekly",
            "interval": 2,
            "daysOfWeek": ["monday", "friday"],
            "firstDayOfWeek": "monday",
        },
        "range": {
            "type": "noEnd",
            "startDate": "2026-03-02",
            "recurrenceTimeZone": "W. Europe Standard Time",
        },
    }
    assert PatternedRecurrence.model_validate(r.to_graph()) == r


@pytest.mark.parametrize(
    ("pattern", "body"),
    [
        ({"type": "daily", "interval": 3}, {"type": "daily", "interval": 3}),
        (
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31, "index": "first"},
            {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
        ),
        (
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"], "index": "second"},
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"], "index": "second"},
        ),
        (
            {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2},
            {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2},
        ),
        (
            {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["friday"], "month": 11, "index": "last"},
            {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["friday"], "index": "last", "month": 11},
        ),
    ],
)
def test_request_bodies_carry_only_what_the_type_uses(pattern: dict[str, Any], body: dict[str, Any]) -> None:
    assert RecurrencePattern.model_validate(pattern).to_graph() == body


def test_ranges_to_graph() -> None:
    numbered = RecurrenceRange.model_validate(
        {"type": "numbered", "startDate": "2026-01-01", "numberOfOccurrences": 4}
    )
    assert numbered.to_graph() == {"type": "numbered", "startDate": "2026-01-01", "numberOfOccurrences": 4}
    ended = RecurrenceRange(
        type=RecurrenceRangeType.END_DATE, start_date=date(2026, 1, 1), end_date=date(2026, 1, 1)
    )
    assert ended.to_graph() == {"type": "endDate", "startDate": "2026-01-01", "endDate": "2026-01-01"}


def test_enum_values_match_case_insensitively() -> None:
    r = PatternedRecurrence.model_validate(
        {
            "pattern": {"type": "RelativeMonthly", "interval": 1, "daysOfWeek": ["Monday"], "index": "Last"},
            "range": {"type": "EndDate", "startDate": "2026-01-01", "endDate": "2026-12-31"},
            "@odata.type": "#microsoft.graph.patternedRecurrence",
        }
    )
    assert r.pattern.index is WeekIndex.LAST
    assert r.range.type is RecurrenceRangeType.END_DATE


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            {"type": "hourly", "interval": 1},
            "invalid recurrence pattern type 'hourly'; expected one of: daily",
        ),
        ({"type": "daily", "interval": 0}, "greater than or equal to 1"),
        ({"type": "daily"}, "interval"),
        (
            {"type": "daily", "interval": 1, "daysOfWeek": ["monday"]},
            "daysOfWeek is not supported for pattern type 'daily'",
        ),
        ({"type": "weekly", "interval": 1}, "daysOfWeek is required for pattern type 'weekly'"),
        ({"type": "weekly", "interval": 1, "daysOfWeek": ["funday"]}, "invalid day of week 'funday'"),
        (
            {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "dayOfMonth": 3},
            "dayOfMonth is not supported",
        ),
        ({"type": "absoluteMonthly", "interval": 1}, "dayOfMonth (1-31) is required"),
        ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 32}, "less than or equal to 31"),
        ({"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 3, "month": 4}, "month is not supported"),
        ({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 3}, "month (1-12) is required"),
        (
            {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["monday"], "month": 13},
            "less than or equal to 12",
        ),
        (
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"], "index": "fifth"},
            "invalid week index",
        ),
        ({"type": "daily", "interval": 1, "daysofweek": []}, "Extra inputs are not permitted"),
    ],
)
def test_bad_patterns_are_clear_errors(pattern: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        RecurrencePattern.model_validate(pattern)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("range_", "message"),
    [
        ({"type": "forever", "startDate": "2026-01-01"}, "invalid recurrence range type 'forever'"),
        ({"type": "noEnd"}, "startDate\n  Field required"),
        ({"type": "endDate", "startDate": "2026-01-01"}, "endDate is required for range type 'endDate'"),
        ({"type": "endDate", "startDate": "2026-01-01", "endDate": "0001-01-01"}, "endDate is required"),
        (
            {"type": "endDate", "startDate": "2026-02-01", "endDate": "2026-01-01"},
            "endDate 2026-01-01 is before startDate",
        ),
        ({"type": "numbered", "startDate": "2026-01-01"}, "numberOfOccurrences must be a positive number"),
        (
            {"type": "noEnd", "startDate": "2026-01-01", "recurrenceTimeZone": "Mars/Olympus"},
            "unknown time zone 'Mars/Olympus'",
        ),
        ({"type": "noEnd", "startDate": "2026-13-01"}, "startDate\n  Input should be a valid date"),
    ],
)
def test_bad_ranges_are_clear_errors(range_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as err:
        RecurrenceRange.model_validate(range_)
    assert message in str(err.value)


def test_msgraph_sdk_objects_convert() -> None:
    sdk = SdkRecurrence(
        pattern=SdkPattern(
            type=SdkPatternType.RelativeMonthly,
            interval=1,
            days_of_week=[SdkDay.Friday],
            index=SdkWeekIndex.Last,
            first_day_of_week=SdkDay.Sunday,
            day_of_month=0,
            month=0,
        ),
        range=SdkRange(
            type=SdkRangeType.Numbered,
            start_date=date(2026, 1, 30),
            number_of_occurrences=6,
            recurrence_time_zone="W. Europe Standard Time",
        ),
    )
    r = PatternedRecurrence.from_graph(sdk)
    assert r.pattern.type is RecurrencePatternType.RELATIVE_MONTHLY
    assert r.pattern.days_of_week == (DayOfWeek.FRIDAY,)
    assert r.pattern.index is WeekIndex.LAST
    assert r.range.number_of_occurrences == 6
    with pytest.raises(ValueError, match="needs both"):
        PatternedRecurrence.from_graph(SdkRecurrence(pattern=sdk.pattern))


def test_models_are_frozen_and_hashable() -> None:
    r = PatternedRecurrence.model_validate(GRAPH_RESPONSE)
    assert hash(r) == hash(PatternedRecurrence.model_validate(GRAPH_RESPONSE))
    with pytest.raises(ValidationError):
        r.pattern.interval = 3  # type: ignore[misc]
