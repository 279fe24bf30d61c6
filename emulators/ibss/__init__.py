"""Emulator of the ICONICS IBSS REST API (public parts) with platform rules, booking hooks and a
control plane. See README.md."""

from emulators.ibss.app import DEFAULT_API_KEY, DEMO_DATA, Emulator, EmulatorConfig, create_app

__all__ = ["DEFAULT_API_KEY", "DEMO_DATA", "Emulator", "EmulatorConfig", "create_app"]
