"""Alarms: rule sets and their store, status changes and connectivity, condition and trend rules, the alarm lifecycle and maintenance windows."""
