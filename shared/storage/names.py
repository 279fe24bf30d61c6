"""Queue and table names, in one place (infra/app/storage.bicep creates the same ones)."""

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


def poison_queue(queue: str) -> str:
    """The queue the Functions host moves a message to after maxDequeueCount failures."""
    return f"{queue}-poison"
