"""Room onboarding, Graph subscriptions and per-room delta catch-up (notifications are only hints)."""
