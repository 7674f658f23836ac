"""Rules, alarms, work orders, preventive planning, dispatch and SLAs (coming next)."""
