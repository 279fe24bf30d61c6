"""Root fixtures. Stack fixtures start real Azurite and the dev host; emulator plugins add their fixtures."""

from tests.stack_fixtures import devhost, storage_connection

pytest_plugins = ["emulators.graph.pytest_plugin", "emulators.ibss.pytest_plugin"]

__all__ = ["devhost", "storage_connection"]
