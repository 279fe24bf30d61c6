"""The ONE mapping module of IBSS wire names (fields, paths, headers, OData keywords).

Every JSON field name, URL path and header the client and the emulator put on the wire is defined here
and nowhere else. Each name is marked:

* ``CONFIRMED``: seen in public ICONICS documentation (ibssanswers.iconics.cloud, see
  ``docs/ibss-api.md``).
* ``ASSUMED``: not confirmed by public documentation; chosen by us in the same style. Check these
  against the customer's Swagger (``https://api.ibss.<env>.iconics.cloud/swagger/index.html``).

Aligning with a customer's Swagger is a change to this file only: the pydantic models
(:mod:`shared.ibss.models`) and the emulator take every alias from here.
"""

from __future__ import annotations

from typing import Final

# --------------------------------------------------------------------------------------------------
# Authentication, headers, paging (OData)
# --------------------------------------------------------------------------------------------------
AUTH_HEADER: Final = "Authorization"  # CONFIRMED
AUTH_SCHEME: Final = "apikey"  # CONFIRMED: "Authorization: apikey <key>"
ETAG_HEADER: Final = "ETag"  # ASSUMED (standard HTTP)
IF_MATCH_HEADER: Final = "If-Match"  # ASSUMED (standard HTTP)
RETRY_AFTER_HEADER: Final = "Retry-After"  # ASSUMED (standard HTTP)

ODATA_VALUE: Final = "value"  # ASSUMED (OData convention for a page's items)
ODATA_NEXT_LINK: Final = "@odata.nextLink"  # CONFIRMED
ODATA_SKIPTOKEN: Final = "$skiptoken"  # CONFIRMED
ODATA_TOP: Final = "$top"  # CONFIRMED ("top 25" default)
ODATA_FILTER: Final = "$filter"  # ASSUMED (OData convention; grammar documented in docs/ibss-api.md)
DEFAULT_PAGE_SIZE: Final = 25  # CONFIRMED
MAX_PAGE_SIZE: Final = 100  # ASSUMED (emulator limit)

# Error body: {"Code": 409, "Reason": "SpaceUnavailable", "Message": "..."}.
ERROR_CODE: Final = "Code"  # ASSUMED
ERROR_REASON: Final = "Reason"  # ASSUMED
ERROR_MESSAGE: Final = "Message"  # ASSUMED
ERROR_DETAILS: Final = "Details"  # ASSUMED
ERROR_DETAIL_OCCURRENCE: Final = "Occurrence"  # ASSUMED (Details of a refused series: the occurrence index)
# ASSUMED: a 409 for a taken space names the holder as Details.Booking_Id; without it the worker lists the
# space's bookings for the slot (shared/worker/ibss_side.py, conflict_holder). Booking_Created of the holder
# and the room copy's lastModifiedDateTime are compared (clocks of IBSS and Exchange taken to agree).

# --------------------------------------------------------------------------------------------------
# Paths (node-scoped v2 endpoints)
# --------------------------------------------------------------------------------------------------
PATH_BUILDINGS: Final = "/v2/buildings"  # ASSUMED
PATH_BUILDING: Final = "/v2/buildings/{node_id}"  # ASSUMED
PATH_SPACES: Final = "/v2/{node_id}/spaces"  # ASSUMED (node-scoped like the documented ones)
PATH_SPACE: Final = "/v2/{node_id}/spaces/{space_id}"  # ASSUMED
PATH_BOOKING_POLICIES: Final = "/v2/{node_id}/bookingpolicies"  # CONFIRMED (paged)
PATH_BOOKINGS: Final = "/v2/{node_id}/bookings"  # CONFIRMED (paged)
PATH_BOOKING: Final = "/v2/{node_id}/bookings/{booking_id}"  # ASSUMED
PATH_BOOKING_CHECKIN: Final = "/v2/{node_id}/bookings/{booking_id}/checkin"  # ASSUMED
PATH_BOOKING_CHECKOUT: Final = "/v2/{node_id}/bookings/{booking_id}/checkout"  # ASSUMED
PATH_SERIES: Final = "/v2/{node_id}/bookings/series"  # ASSUMED
PATH_SERIES_ITEM: Final = "/v2/{node_id}/bookings/series/{series_id}"  # ASSUMED
PATH_BOOKING_PARTIES: Final = "/v2/{node_id}/bookingparties"  # CONFIRMED (paged)
PATH_VISITS: Final = "/v2/{node_id}/visits"  # CONFIRMED (paged)
PATH_VISIT: Final = "/v2/{node_id}/visits/{visit_id}"  # ASSUMED
# A person's own preferences (Roamer/Flex "User Preferences > Synchronise Calendar" is documented as a
# UI setting; how an application user reads it is not): ASSUMED path.
PATH_USER_PREFERENCES: Final = "/v2/userpreferences/{email}"  # ASSUMED

# --------------------------------------------------------------------------------------------------
# Booking
# --------------------------------------------------------------------------------------------------
BOOKING_ID: Final = "Booking_Id"  # ASSUMED
BOOKING_NODE_ID: Final = "Node_Id"  # ASSUMED (building node id)
BOOKING_SPACE_ID: Final = "Space_Id"  # ASSUMED
BOOKING_SPACE_NAME: Final = "Space_Name"  # ASSUMED
BOOKING_NAME: Final = "Booking_Name"  # ASSUMED
BOOKING_DESCRIPTION: Final = "Booking_Description"  # ASSUMED
BOOKING_START: Final = "Booking_Start"  # CONFIRMED (UTC)
BOOKING_END: Final = "Booking_End"  # CONFIRMED (UTC)
BOOKING_STATUS: Final = "Booking_Status"  # CONFIRMED
# Also ASSUMED: empty or absent for a booking made at a kiosk (IBSS Unity/Inspire) or by a service account;
# its meeting is organized by the room and invites no one in the owner's place.
BOOKING_OWNER_EMAIL: Final = "Booking_Owner_Email"  # ASSUMED
BOOKING_SERIES_ID: Final = "Booking_Series_Id"  # ASSUMED
BOOKING_CREATED: Final = "Booking_Created"  # ASSUMED (UTC)
# The change feed (shared/ibss/feed.py) filters on it ("Booking_Modified ge ...") and needs it set on every
# change, cancel, check-in/out and auto-cancel included: check both on a customer's IBSS.
BOOKING_MODIFIED: Final = "Booking_Modified"  # ASSUMED (UTC)
BOOKING_ETAG: Final = "Booking_Etag"  # ASSUMED (also sent as the ETag header)
BOOKING_ONLINE_MEETING: Final = "Booking_Online_Meeting"  # ASSUMED (0/1: request a Teams link)
BOOKING_EXT_REF: Final = "Booking_Ext_Ref"  # ASSUMED (external system's reference: the Outlook iCalUId)
BOOKING_CANCEL_REASON: Final = "Booking_Cancel_Reason"  # ASSUMED (shown to the owner; also a DELETE query)
BOOKING_SHARE_LOC: Final = "Booking_Share_Loc"  # CONFIRMED
BOOKING_ALL_DAY: Final = "Booking_All_Day"  # CONFIRMED (0/1)
BOOKING_PARTY_COUNT: Final = "Booking_Party_Count"  # CONFIRMED
BOOKING_PARTIES: Final = "Booking_Parties"  # CONFIRMED
BOOKING_IS_CHECKED_IN: Final = "Booking_IsCheckedIn"  # CONFIRMED (0/1)
BOOKING_IS_ACTIVE: Final = "Booking_IsActive"  # CONFIRMED (0/1)
BOOKING_IS_CANCELLED: Final = "Booking_IsCancelled"  # CONFIRMED (0/1)
BOOKING_IS_COMPLETED: Final = "Booking_IsCompleted"  # CONFIRMED (0/1)
BOOKING_IS_EARLY_CHECKIN: Final = "Booking_IsEarly_CheckIn"  # CONFIRMED (0/1)
BOOKING_IS_LATE_CHECKIN: Final = "Booking_IsLate_CheckIn"  # CONFIRMED (0/1)
BOOKING_AUTO_CHECKIN: Final = "Booking_AutoCheckIn"  # CONFIRMED (0/1)
BOOKING_CHECKIN_TIME: Final = "Booking_Checkin_Time"  # CONFIRMED (UTC)
BOOKING_COMPLETED_TIME: Final = "Booking_Completed_Time"  # CONFIRMED (UTC, = check-out time)
BOOKING_CANCELLED_TIME: Final = "Booking_Cancelled_Time"  # CONFIRMED (UTC)
BOOKING_AUTO_CANCEL_THLD_MIN: Final = "Meta_Auto_Cancel_Thld_Min"  # CONFIRMED

# Booking_Status values. CONFIRMED except "Completed" (the documented list is truncated).
STATUS_NEW: Final = "New"  # CONFIRMED
STATUS_AMENDED: Final = "Amended"  # CONFIRMED
STATUS_EARLY_CHECKIN: Final = "Early CheckIn"  # CONFIRMED
STATUS_LATE_CHECKIN: Final = "Late CheckIn"  # CONFIRMED
STATUS_IN_PROGRESS: Final = "In Progress"  # CONFIRMED
STATUS_CANCELLED: Final = "Cancelled"  # CONFIRMED
STATUS_AUTO_CANCELLED: Final = "Auto Cancelled"  # CONFIRMED
STATUS_COMPLETED: Final = "Completed"  # ASSUMED

# Booking party (items of Booking_Parties; rows of /bookingparties add Booking_Id and Node_Id).
PARTY_IS_VISITOR: Final = "IsVisitor"  # CONFIRMED
PARTY_EMAIL: Final = "Email"  # CONFIRMED
PARTY_FIRST_NAME: Final = "First_Name"  # CONFIRMED
PARTY_LAST_NAME: Final = "Last_Name"  # CONFIRMED
PARTY_COMPANY: Final = "Company"  # CONFIRMED
PARTY_VISIT_ID: Final = "Visit_Id"  # CONFIRMED

# Booking series (POST /bookings/series)
SERIES_OCCURRENCES: Final = "Booking_Occurrences"  # ASSUMED: [{"Booking_Start", "Booking_End"}]

# --------------------------------------------------------------------------------------------------
# Building (node) and floors
# --------------------------------------------------------------------------------------------------
NODE_ID: Final = "Node_Id"  # ASSUMED
NODE_NAME: Final = "Name"  # ASSUMED
NODE_TIME_ZONE: Final = "Node_TimeZone"  # ASSUMED (IANA name, e.g. Europe/Berlin)
NODE_FLOORS: Final = "Floors"  # ASSUMED: [{"Node_Id", "Name"}]
BKNG_EXT_SYSTEM: Final = "Bkng_Ext_System"  # CONFIRMED (building parameter, 0/1)
BKNG_SYNC_ENABLED: Final = "Bkng_Sync_Enabled"  # CONFIRMED (building parameter, 0/1)

# --------------------------------------------------------------------------------------------------
# Space
# --------------------------------------------------------------------------------------------------
SPACE_ID: Final = "Space_Id"  # ASSUMED
SPACE_NAME: Final = "Space_Name"  # ASSUMED
SPACE_NODE_ID: Final = "Node_Id"  # ASSUMED (building node id)
SPACE_FLOOR_NODE_ID: Final = "Floor_Node_Id"  # ASSUMED
SPACE_CAPACITY: Final = "Space_Capacity"  # ASSUMED
SPACE_TYPE: Final = "Space_Type"  # ASSUMED (e.g. MeetingRoom, Desk)
SPACE_BOOKABLE: Final = "Meta_Bookable"  # ASSUMED (0/1)
SPACE_EXT_BOOKING_SYSTEM: Final = "Meta_Ext_Booking_System"  # CONFIRMED (0/1)
SPACE_EXT_BOOKING_SPACE_ID: Final = "Meta_Ext_Booking_SpaceId"  # CONFIRMED (room mailbox address)
SPACE_AUTO_CANCEL_THLD_MIN: Final = (
    "Meta_Auto_Cancel_Thld_Min"  # ASSUMED on spaces (CONFIRMED as a booking field)
)
SPACE_BOOKING_POLICY_ID: Final = "Booking_Policy_Id"  # ASSUMED (policy assigned to the space)

# --------------------------------------------------------------------------------------------------
# Booking policy (/bookingpolicies is CONFIRMED as an endpoint; the field names are ASSUMED)
# --------------------------------------------------------------------------------------------------
POLICY_ID: Final = "Booking_Policy_Id"  # ASSUMED
POLICY_NODE_ID: Final = "Node_Id"  # ASSUMED
POLICY_NAME: Final = "Booking_Policy_Name"  # ASSUMED
POLICY_BOOKABLE_HOURS: Final = "Booking_Policy_Bookable_Hours"  # ASSUMED: [{"Day", "Start", "End"}]
POLICY_HOURS_DAY: Final = "Day"  # ASSUMED (English weekday name, building local time)
POLICY_HOURS_START: Final = "Start"  # ASSUMED ("HH:MM" local)
POLICY_HOURS_END: Final = "End"  # ASSUMED ("HH:MM" local; "24:00" allowed)
POLICY_MAX_DURATION_MIN: Final = "Booking_Policy_Max_Duration_Min"  # ASSUMED
POLICY_WINDOW_DAYS: Final = "Booking_Policy_Window_Days"  # ASSUMED (how far ahead a booking may start)

# --------------------------------------------------------------------------------------------------
# Visit (visitor record; /visits is CONFIRMED as an endpoint; Visit_Id CONFIRMED; the rest ASSUMED)
# --------------------------------------------------------------------------------------------------
VISIT_ID: Final = "Visit_Id"  # CONFIRMED
VISIT_NODE_ID: Final = "Node_Id"  # ASSUMED
VISIT_BOOKING_ID: Final = "Booking_Id"  # ASSUMED
VISITOR_EMAIL: Final = "Visitor_Email"  # ASSUMED
VISITOR_FIRST_NAME: Final = "Visitor_First_Name"  # ASSUMED
VISITOR_LAST_NAME: Final = "Visitor_Last_Name"  # ASSUMED
VISITOR_COMPANY: Final = "Visitor_Company"  # ASSUMED
VISIT_HOST_EMAIL: Final = "Visit_Host_Email"  # ASSUMED
VISIT_START: Final = "Visit_Start_Date"  # ASSUMED (UTC)
VISIT_END: Final = "Visit_End_Date"  # ASSUMED (UTC)
VISIT_STATUS: Final = "Visit_Status"  # ASSUMED
# ASSUMED: a visit is changed with PATCH on PATH_VISIT (times, or the status to cancel it); IBSS is not
# documented to move or cancel a booking's visits with it, so the service does (shared/worker/ibss_side.py).
VISIT_STATUS_CANCELLED: Final = "Cancelled"  # ASSUMED

# --------------------------------------------------------------------------------------------------
# User preferences (the "Synchronise Calendar" personal preference is CONFIRMED to exist in Roamer/Flex;
# its wire names are ASSUMED)
# --------------------------------------------------------------------------------------------------
PREF_EMAIL: Final = "Email"  # ASSUMED
PREF_CALENDAR_SYNC: Final = "Calendar_Sync"  # ASSUMED (0/1: the person's bookings go to their calendar)

# --------------------------------------------------------------------------------------------------
# Booking hooks (our own contract; Standard Webhooks headers). Marked OURS: neither confirmed nor
# assumed of IBSS, but the Standard Webhooks specification.
# --------------------------------------------------------------------------------------------------
HOOK_ID_HEADER: Final = "webhook-id"  # OURS
HOOK_TIMESTAMP_HEADER: Final = "webhook-timestamp"  # OURS
HOOK_SIGNATURE_HEADER: Final = "webhook-signature"  # OURS

CONFIRMED: Final[frozenset[str]] = frozenset(
    {
        AUTH_HEADER,
        AUTH_SCHEME,
        PATH_BOOKING_POLICIES,
        PATH_BOOKINGS,
        PATH_BOOKING_PARTIES,
        PATH_VISITS,
        ODATA_NEXT_LINK,
        ODATA_SKIPTOKEN,
        ODATA_TOP,
        BOOKING_START,
        BOOKING_END,
        BOOKING_STATUS,
        BOOKING_SHARE_LOC,
        BOOKING_ALL_DAY,
        BOOKING_PARTY_COUNT,
        BOOKING_PARTIES,
        BOOKING_IS_CHECKED_IN,
        BOOKING_IS_ACTIVE,
        BOOKING_IS_CANCELLED,
        BOOKING_IS_COMPLETED,
        BOOKING_IS_EARLY_CHECKIN,
        BOOKING_IS_LATE_CHECKIN,
        BOOKING_AUTO_CHECKIN,
        BOOKING_CHECKIN_TIME,
        BOOKING_COMPLETED_TIME,
        BOOKING_CANCELLED_TIME,
        BOOKING_AUTO_CANCEL_THLD_MIN,
        STATUS_NEW,
        STATUS_AMENDED,
        STATUS_EARLY_CHECKIN,
        STATUS_LATE_CHECKIN,
        STATUS_IN_PROGRESS,
        STATUS_CANCELLED,
        STATUS_AUTO_CANCELLED,
        PARTY_IS_VISITOR,
        PARTY_EMAIL,
        PARTY_FIRST_NAME,
        PARTY_LAST_NAME,
        PARTY_COMPANY,
        PARTY_VISIT_ID,
        BKNG_EXT_SYSTEM,
        BKNG_SYNC_ENABLED,
        SPACE_EXT_BOOKING_SYSTEM,
        SPACE_EXT_BOOKING_SPACE_ID,
    }
)
"""Wire names confirmed by public ICONICS documentation. Everything else in this module is assumed
(listed in ``docs/ibss-api.md``, "Assumed names"), except the Standard Webhooks headers (OURS)."""
