"""The sync's own booking fields: an external reference to find a booking again, a visible cancel reason."""

from datetime import timedelta

from emulators.ibss.testing import IbssEmulator
from shared.ibss import IbssClient
from shared.ibss.models import BookingCreate


async def test_ext_ref_is_stored_filterable_and_cancel_reason_visible(
    emu: IbssEmulator, client: IbssClient
) -> None:
    start = emu.now() + timedelta(days=1)
    created = await client.create_booking(
        1001,
        BookingCreate(
            space_id="HQ-2-CIRRUS",
            name="From Outlook",
            start=start,
            end=start + timedelta(hours=1),
            owner_email="bob@contoso.example",
            ext_ref="040000008200E00074C5B7101A82E0080000000012345",
        ),
    )
    assert created.ext_ref == "040000008200E00074C5B7101A82E0080000000012345"
    found = await client.list_bookings(1001, ext_ref=created.ext_ref)
    assert [b.id for b in found] == [created.id]
    cancelled = await client.cancel_booking(1001, created.id, reason="The Outlook meeting was cancelled")
    assert cancelled.status == "Cancelled"
    assert cancelled.cancel_reason == "The Outlook meeting was cancelled"
