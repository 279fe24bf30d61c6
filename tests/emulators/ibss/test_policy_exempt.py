"""Application users exempt from booking policies (the emulator's model of an IBSS right that lets an
integration book outside a space's policy, as the vendor's Sync Service v2 does)."""

from datetime import UTC, datetime

import httpx

from emulators.ibss.testing import IbssEmulator

NODE = 1001
EVENING = (datetime(2030, 1, 8, 19, 0, tzinfo=UTC), datetime(2030, 1, 8, 20, 0, tzinfo=UTC))  # 20-21 Berlin


def _book(api: httpx.Client, start: datetime, end: datetime) -> httpx.Response:
    return api.post(
        f"/v2/{NODE}/bookings",
        json={
            "Space_Id": "HQ-1-AURORA",
            "Booking_Name": "Late",
            "Booking_Start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Booking_End": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Booking_Owner_Email": "bob@contoso.example",
        },
    )


def test_policies_apply_to_api_callers_unless_exempt(emu: IbssEmulator, api: httpx.Client) -> None:
    refused = _book(api, *EVENING)
    assert refused.status_code == 400
    assert refused.json()["Reason"] == "OutsideBookableHours"

    emu.add_api_key(emu.api_key, policy_exempt=True)
    made = _book(api, *EVENING)
    assert made.status_code == 201, made.text
    later = api.patch(
        f"/v2/{NODE}/bookings/{made.json()['Booking_Id']}",
        json={"Booking_Start": "2030-01-08T20:00:00Z", "Booking_End": "2030-01-08T21:30:00Z"},
    )
    assert later.status_code == 200, later.text
    # Double booking is still refused: only policies are skipped.
    overlapping = _book(api, datetime(2030, 1, 8, 21, 0, tzinfo=UTC), datetime(2030, 1, 8, 22, 0, tzinfo=UTC))
    assert overlapping.status_code == 409


def test_flex_users_are_always_checked_and_reset_clears_the_exemption(
    emu: IbssEmulator, api: httpx.Client
) -> None:
    emu.add_api_key(emu.api_key, policy_exempt=True)
    flex = httpx.post(
        f"{emu.base_url}/_emulator/flex/book",
        json={
            "person": "alice@contoso.example",
            "space_id": "HQ-1-BOREALIS",
            "start": "2030-01-08T19:00:00Z",
            "end": "2030-01-08T20:00:00Z",
        },
    )
    assert flex.status_code == 400
    emu.reset()
    assert _book(api, *EVENING).status_code == 400
