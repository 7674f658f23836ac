-- Read-side indexes for the operator console (issue 5): its pages must answer fast on a
-- fleet of 5,000 piles.

-- Availability reads only outages: the changes into or out of a down status, and each
-- port's first report (old_status NULL). Charging sessions, the bulk of the table, stay out.
CREATE INDEX connector_status_changes_down_idx ON connector_status_changes (time)
    INCLUDE (pile_id, connector_id, id, old_status, new_status)
    WHERE new_status IN ('Faulted', 'Unavailable') OR old_status IN ('Faulted', 'Unavailable') OR old_status IS NULL;

-- Connection losses fleet-wide since a time (the per-pile index leads with pile_id).
CREATE INDEX connectivity_events_received_idx ON connectivity_events (received_at);

-- The live lists: open work orders most urgent first, active alarms newest first.
CREATE INDEX work_orders_open_idx ON work_orders (priority, created_at)
    WHERE state NOT IN ('closed', 'cancelled');
CREATE INDEX alarms_active_idx ON alarms (id DESC) WHERE state = 'active';
