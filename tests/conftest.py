"""Root fixtures. Stack fixtures start real Azurite and the dev host; emulator plugins add their fixtures."""

from tests.stack_fixtures import azurite_pool, devhost, storage_connection

pytest_plugins = ["emulators.graph.pytest_plugin", "emulators.ibss.pytest_plugin"]

__all__ = ["azurite_pool", "devhost", "storage_connection"]
