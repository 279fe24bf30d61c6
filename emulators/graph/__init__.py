"""Microsoft Graph v1.0 emulator (calendar subset) for local runs and tests."""
