"""Field work on one order, as the engineer's phone drives it: travel and arrival, diagnosis, warranty and quotes, parts, the checklist, the service report and escalation."""
