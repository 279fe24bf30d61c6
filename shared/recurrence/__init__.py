"""Graph ``patternedRecurrence``: models, expansion with dateutil.rrule, and the inverse (pure, no I/O).

See docs/recurrence.md.
"""

from shared.recurrence.expand import (
    Occurrence,
    RecurrenceError,
    effective_time_zone,
    expand,
    local_starts,
    local_to_utc,
    occurrence_dates,
    to_rrule,
)
from shared.recurrence.inverse import to_patterned_recurrence
from shared.recurrence.models import (
    DayOfWeek,
    PatternedRecurrence,
    RecurrencePattern,
    RecurrencePatternType,
    RecurrenceRange,
    RecurrenceRangeType,
    WeekIndex,
)
from shared.recurrence.timezones import UnknownTimeZone, windows_to_iana, zone

__all__ = [
    "DayOfWeek",
    "Occurrence",
    "PatternedRecurrence",
    "RecurrenceError",
    "RecurrencePattern",
    "RecurrencePatternType",
    "RecurrenceRange",
    "RecurrenceRangeType",
    "UnknownTimeZone",
    "WeekIndex",
    "effective_time_zone",
    "expand",
    "local_starts",
    "local_to_utc",
    "occurrence_dates",
    "to_patterned_recurrence",
    "to_rrule",
    "windows_to_iana",
    "zone",
]
