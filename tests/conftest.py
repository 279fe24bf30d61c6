"""Root fixtures. Stack fixtures start real Azurite and the dev host; emulator plugins add their fixtures."""

from tests.stack_fixtures import devhost, storage_connection

pytest_plugins: list[str] = []

__all__ = ["devhost", "storage_connection"]
