"""Pydantic models of Graph's ``patternedRecurrence`` (recurrencePattern + recurrenceRange).

Wire names are Graph's camelCase (``daysOfWeek``, ``numberOfOccurrences``); Python names are
snake_case and both are accepted on input. Validation follows the Graph docs
(https://learn.microsoft.com/en-us/graph/api/resources/recurrencepattern,
https://learn.microsoft.com/en-us/graph/api/resources/recurrencerange, reference graph.md 3.2):

* each pattern type requires its properties, and a property that has no meaning for the type is an
  error (non-empty ``daysOfWeek`` on ``daily``, a ``dayOfMonth`` on ``weekly``, ...);
* Graph's *responses* fill every property with a neutral value (``dayOfMonth: 0``, ``month: 0``,
  ``daysOfWeek: []``, ``index: "first"``, ``endDate: "0001-01-01"``, ``numberOfOccurrences: 0``), so
  those neutral values are accepted as "not set" and a model read from Graph round-trips;
* enum values are matched case-insensitively (very old docs used ``EndDate``), ``@odata.*`` keys and
  JSON ``null`` values are ignored, any other unknown key is an error.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from shared.recurrence.timezones import windows_to_iana

NO_DATE = "0001-01-01"


class DayOfWeek(StrEnum):
    SUNDAY = "sunday"
    MONDAY = "monday"
    TUESDAY = "tuesday"
    WEDNESDAY = "wednesday"
    THURSDAY = "thursday"
    FRIDAY = "friday"
    SATURDAY = "saturday"

    @property
    def weekday(self) -> int:
        """Python's ``date.weekday()`` number (Monday = 0) and dateutil's weekday index."""
        return (list(DayOfWeek).index(self) - 1) % 7

    @classmethod
    def from_weekday(cls, weekday: int) -> DayOfWeek:
        return list(cls)[(weekday + 1) % 7]


class WeekIndex(StrEnum):
    FIRST = "first"
    SECOND = "second"
    THIRD = "third"
    FOURTH = "fourth"
    LAST = "last"

    @property
    def setpos(self) -> int:
        """RFC 5545 BYSETPOS: first..fourth = 1..4, last = -1."""
        return -1 if self is WeekIndex.LAST else list(WeekIndex).index(self) + 1


class RecurrencePatternType(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    ABSOLUTE_MONTHLY = "absoluteMonthly"
    RELATIVE_MONTHLY = "relativeMonthly"
    ABSOLUTE_YEARLY = "absoluteYearly"
    RELATIVE_YEARLY = "relativeYearly"


class RecurrenceRangeType(StrEnum):
    END_DATE = "endDate"
    NO_END = "noEnd"
    NUMBERED = "numbered"


_USES_DAYS = frozenset(
    {
        RecurrencePatternType.WEEKLY,
        RecurrencePatternType.RELATIVE_MONTHLY,
        RecurrencePatternType.RELATIVE_YEARLY,
    }
)
_USES_DAY_OF_MONTH = frozenset(
    {RecurrencePatternType.ABSOLUTE_MONTHLY, RecurrencePatternType.ABSOLUTE_YEARLY}
)
_USES_MONTH = frozenset({RecurrencePatternType.ABSOLUTE_YEARLY, RecurrencePatternType.RELATIVE_YEARLY})
_USES_INDEX = frozenset({RecurrencePatternType.RELATIVE_MONTHLY, RecurrencePatternType.RELATIVE_YEARLY})


def _enum_value(enum: type[StrEnum], value: Any, what: str) -> Any:
    """Case-insensitive enum lookup with a message that lists the allowed values."""
    raw = getattr(value, "value", value)  # msgraph-sdk enums carry the wire string in .value
    if isinstance(raw, str):
        for member in enum:
            if member.value.lower() == raw.strip().lower():
                return member
        allowed = ", ".join(m.value for m in enum)
        raise ValueError(f"invalid {what} {raw!r}; expected one of: {allowed}")
    return raw


class _GraphModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid", use_enum_values=False
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_annotations_and_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None and not str(k).startswith("@odata.")}
        return data


class RecurrencePattern(_GraphModel):
    """How often the series repeats. ``0``/``[]`` mean "not set" (Graph's neutral values)."""

    type: RecurrencePatternType
    interval: int = Field(ge=1, description="units (days, weeks, months, years) between occurrences")
    days_of_week: tuple[DayOfWeek, ...] = ()
    first_day_of_week: DayOfWeek = DayOfWeek.SUNDAY
    index: WeekIndex = WeekIndex.FIRST
    day_of_month: int = Field(0, ge=0, le=31)
    month: int = Field(0, ge=0, le=12)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> Any:
        return _enum_value(RecurrencePatternType, v, "recurrence pattern type")

    @field_validator("first_day_of_week", mode="before")
    @classmethod
    def _first_day(cls, v: Any) -> Any:
        return _enum_value(DayOfWeek, v, "firstDayOfWeek")

    @field_validator("index", mode="before")
    @classmethod
    def _index(cls, v: Any) -> Any:
        return _enum_value(WeekIndex, v, "week index")

    @field_validator("days_of_week", mode="before")
    @classmethod
    def _days(cls, v: Any) -> Any:
        if isinstance(v, list | tuple | set | frozenset):
            return [_enum_value(DayOfWeek, d, "day of week") for d in v]
        return v

    @field_validator("days_of_week")
    @classmethod
    def _days_normalised(cls, v: tuple[DayOfWeek, ...]) -> tuple[DayOfWeek, ...]:
        # Sunday-first, without duplicates: one canonical form for equal patterns.
        return tuple(d for d in DayOfWeek if d in v)

    @model_validator(mode="after")
    def _per_type(self) -> Self:
        t = self.type
        if t in _USES_DAYS and not self.days_of_week:
            raise ValueError(f"daysOfWeek is required for pattern type '{t.value}'")
        if t not in _USES_DAYS and self.days_of_week:
            raise ValueError(f"daysOfWeek is not supported for pattern type '{t.value}'")
        if t in _USES_DAY_OF_MONTH and not self.day_of_month:
            raise ValueError(f"dayOfMonth (1-31) is required for pattern type '{t.value}'")
        if t not in _USES_DAY_OF_MONTH and self.day_of_month:
            raise ValueError(f"dayOfMonth is not supported for pattern type '{t.value}'")
        if t in _USES_MONTH and not self.month:
            raise ValueError(f"month (1-12) is required for pattern type '{t.value}'")
        if t not in _USES_MONTH and self.month:
            raise ValueError(f"month is not supported for pattern type '{t.value}'")
        return self

    def to_graph(self) -> dict[str, Any]:
        """The request body Graph expects: only the properties the type uses."""
        out: dict[str, Any] = {"type": self.type.value, "interval": self.interval}
        if self.type in _USES_DAYS:
            out["daysOfWeek"] = [d.value for d in self.days_of_week]
        if self.type is RecurrencePatternType.WEEKLY:
            out["firstDayOfWeek"] = self.first_day_of_week.value
        if self.type in _USES_INDEX:
            out["index"] = self.index.value
        if self.type in _USES_DAY_OF_MONTH:
            out["dayOfMonth"] = self.day_of_month
        if self.type in _USES_MONTH:
            out["month"] = self.month
        return out


class RecurrenceRange(_GraphModel):
    """When the series starts and ends. Dates are local dates in the recurrence time zone."""

    type: RecurrenceRangeType
    start_date: date
    end_date: date | None = None
    number_of_occurrences: int = Field(0, ge=0)
    recurrence_time_zone: str | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, v: Any) -> Any:
        return _enum_value(RecurrenceRangeType, v, "recurrence range type")

    @field_validator("end_date", mode="before")
    @classmethod
    def _no_date(cls, v: Any) -> Any:
        return None if v in (NO_DATE, "", date.min) else v

    @field_validator("recurrence_time_zone", mode="before")
    @classmethod
    def _zone(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return None
        return v

    @field_validator("recurrence_time_zone")
    @classmethod
    def _zone_known(cls, v: str | None) -> str | None:
        if v is not None:
            windows_to_iana(v)  # raises UnknownTimeZone (a ValueError) with a clear message
        return v

    @model_validator(mode="after")
    def _per_type(self) -> Self:
        if self.type is RecurrenceRangeType.END_DATE:
            if self.end_date is None:
                raise ValueError("endDate is required for range type 'endDate'")
            if self.end_date < self.start_date:
                raise ValueError(
                    f"endDate {self.end_date.isoformat()} is before startDate {self.start_date.isoformat()}"
                )
        if self.type is RecurrenceRangeType.NUMBERED and self.number_of_occurrences < 1:
            raise ValueError("numberOfOccurrences must be a positive number for range type 'numbered'")
        return self

    def to_graph(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type.value, "startDate": self.start_date.isoformat()}
        if self.type is RecurrenceRangeType.END_DATE and self.end_date is not None:
            out["endDate"] = self.end_date.isoformat()
        if self.type is RecurrenceRangeType.NUMBERED:
            out["numberOfOccurrences"] = self.number_of_occurrences
        if self.recurrence_time_zone:
            out["recurrenceTimeZone"] = self.recurrence_time_zone
        return out


class PatternedRecurrence(_GraphModel):
    """Graph's ``patternedRecurrence``: ``{"pattern": ..., "range": ...}``."""

    pattern: RecurrencePattern
    range: RecurrenceRange

    def to_graph(self) -> dict[str, Any]:
        """A body for ``recurrence`` in an event create/PATCH."""
        return {"pattern": self.pattern.to_graph(), "range": self.range.to_graph()}

    @classmethod
    def from_graph(cls, data: Any) -> PatternedRecurrence:
        """Validate Graph JSON (a dict) or a msgraph-sdk ``PatternedRecurrence`` object."""
        if isinstance(data, dict):
            return cls.model_validate(data)
        return cls.model_validate(_sdk_to_dict(data))


def _sdk_value(v: Any) -> Any:
    if isinstance(v, list):
        return [_sdk_value(x) for x in v]
    return getattr(v, "value", v)


def _sdk_to_dict(obj: Any) -> dict[str, Any]:
    """msgraph-sdk models (snake_case attributes, enums with ``.value``) to Graph JSON keys."""
    pattern, rng = getattr(obj, "pattern", None), getattr(obj, "range", None)
    if pattern is None or rng is None:
        raise ValueError("a patternedRecurrence needs both 'pattern' and 'range'")
    p_fields = ("type", "interval", "days_of_week", "first_day_of_week", "index", "day_of_month", "month")
    r_fields = ("type", "start_date", "end_date", "number_of_occurrences", "recurrence_time_zone")
    return {
        "pattern": {to_camel(f): _sdk_value(getattr(pattern, f, None)) for f in p_fields},
        "range": {to_camel(f): _sdk_value(getattr(rng, f, None)) for f in r_fields},
    }
