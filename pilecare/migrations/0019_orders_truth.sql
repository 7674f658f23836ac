-- Issue 11, field truth (orders): no automatic command straight into a reboot. A command
-- the policy decides waits until the pile has stayed up `command_settle_s` after its last
-- (re)connect or boot (README, "Maintenance engine"); these say what is waiting, since
-- when and for whom, so a wait is on the timeline once and is never dropped.

-- A remote reset fell due while the pile was not settled: when the wait began (cleared
-- when the reset goes). After the whole triage budget it goes to dispatch instead.
ALTER TABLE work_orders ADD COLUMN triage_waiting_since timestamptz;

-- Taking a pile out of service for a safety fault is decided at once (who and when) and
-- sent once the pile has settled; out_of_service_at stays the claim of the send.
ALTER TABLE work_orders
    ADD COLUMN out_of_service_requested_at timestamptz,
    ADD COLUMN out_of_service_requested_by text;
CREATE INDEX work_orders_out_of_service_due_idx ON work_orders (id)
    WHERE out_of_service_requested_at IS NOT NULL AND out_of_service_at IS NULL;

-- "Did this pile boot lately?" for every automatic command.
CREATE INDEX pile_events_boot_idx ON pile_events (pile_id, received_at) WHERE type = 'boot';
