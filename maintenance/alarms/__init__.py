"""Alarms: rule sets and their store, status changes and connectivity, condition and trend rules, the alarm lifecycle and maintenance windows."""
from maintenance.alarms import rulestore, windows
from maintenance.alarms.lifecycle import acknowledge, comment, raise_alarm, request_clear

__all__ = ["acknowledge", "comment", "raise_alarm", "request_clear", "rulestore", "windows"]
