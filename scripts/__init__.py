"""Maintenance scripts run by hand (see each module)."""
