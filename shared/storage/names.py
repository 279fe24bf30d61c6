"""Queue and table names, in one place (infra/app/storage.bicep creates the same ones)."""

import re
from enum import StrEnum


class QueueName(StrEnum):
    GRAPH_NOTIFICATIONS = "graph-notifications"
    GRAPH_LIFECYCLE = "graph-lifecycle"
    IBSS_HOOKS = "ibss-hooks"
    SYNC_BOOKINGS = "sync-bookings"
    SYNC_ROOMS = "sync-rooms"
    SYNC_SERIES = "sync-series"  # one job per Outlook-made recurring meeting (shared/worker/series_outlook)
    SYNC_IBSS_SERIES = "sync-ibss-series"  # one job per IBSS booking series (shared/worker/series_ibss)
    IBSS_SWEEP = "ibss-sweep"  # one reconciliation sweep per building (shared/ibss/sweep.py)


class TableName(StrEnum):
    SUBSCRIPTIONS = "subscriptions"
    LINKS = "links"
    LINK_KEYS = "linkkeys"
    SYNC_EVENTS = "syncevents"
    ROOMS = "rooms"
    BUILDINGS = "buildings"
    CONFLICTS = "conflicts"
    DEDUP = "dedup"
    NOTIFICATIONS = "notifications"
    HEARTBEATS = "heartbeats"
    ONBOARDING = "onboarding"
    ROOM_CHANGES = "roomchanges"
    ROOM_EVENTS = "roomevents"
    OUTLOOK_SERIES = "outlookseries"  # recurring meetings made in Outlook (shared/state/series.py)
    DESK_LINKS = "desklinks"  # personal appointments of desk bookings (shared/state/desk_links.py)
    IBSS_SERIES = "ibssseries"
    IBSS_FEED = "ibssfeed"  # the IBSS change feed's watermark per building (shared/state/ibss_feed.py)
    MAILBOXLESS = "mailboxless"  # internal-looking owners without a mailbox (shared/state/mailboxless.py)


def poison_queue(queue: str) -> str:
    """The queue the Functions host moves a message to after maxDequeueCount failures."""
    return f"{queue}-poison"


# Characters Table Storage refuses in PartitionKey and RowKey values (its documentation on the table
# service data model): / \ # ? and the control characters U+0000-U+001F and U+007F-U+009F.
_KEY_FORBIDDEN = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")
MAX_KEY_CHARS = 512  # keys are at most 1 KiB; UTF-16, as the service counts them


def is_table_key(value: str) -> bool:
    """Whether ``value`` can be a PartitionKey or RowKey: anything else is never sent to storage."""
    return 0 < len(value) <= MAX_KEY_CHARS and _KEY_FORBIDDEN.search(value) is None
