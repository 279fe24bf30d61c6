"""The "Synchronise Calendar" user preference: emulator and client (desk bookings' opt-in)."""

from __future__ import annotations

import pytest

from emulators.ibss.testing import IbssEmulator
from shared.ibss import IbssClient
from shared.ibss.errors import IbssNotFound


async def test_preference_defaults_off_and_follows_the_person(emu: IbssEmulator, client: IbssClient) -> None:
    prefs = await client.get_user_preferences("dave@contoso.example")
    assert prefs.email == "dave@contoso.example"
    assert prefs.calendar_sync is False
    emu.act_set_calendar_sync("Dave@Contoso.example", True)
    assert (await client.get_user_preferences("dave@contoso.example")).calendar_sync is True
    assert (await client.get_user_preferences("carol@contoso.example")).calendar_sync is False


async def test_unknown_person_has_no_preferences(client: IbssClient) -> None:
    with pytest.raises(IbssNotFound):
        await client.get_user_preferences("nobody@contoso.example")


async def test_building_flag_is_read(client: IbssClient) -> None:
    assert (await client.get_building(1001)).sync_enabled is True
