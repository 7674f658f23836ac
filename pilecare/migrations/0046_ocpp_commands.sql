-- Commands to OCPP chargers (issue 15, docs/ocpp.md "Commands"). An OCPP charger's command
-- waits in this table, `pending`, until the gateway process holding the charger's current
-- connection (ocpp_connections) claims it with a conditional UPDATE (`delivering`, naming
-- the connection and the time) and sends the CALL; the CALLRESULT, CALLERROR, time-out or
-- lost connection ends it. OCPP-J answers a CALL only on the connection that carried it, so
-- a command `delivering` on a connection that is gone can never learn its outcome: it is
-- recorded `failed` ("outcome unknown") and never sent again.
ALTER TABLE commands DROP CONSTRAINT commands_state_check;
ALTER TABLE commands ADD CONSTRAINT commands_state_check
    CHECK (state IN ('pending', 'sent', 'delivering', 'acknowledged', 'timed_out', 'failed'));

ALTER TABLE commands
    -- How the command travels: 'mqtt' (published on the pile's commands topic) or 'ocpp'
    -- (delivered by the OCPP gateway's command relay). NULL for rows older than this migration.
    ADD COLUMN via           text CHECK (via IN ('mqtt', 'ocpp')),
    -- The OCPP connection whose CALL carried it, and when that CALL was claimed.
    ADD COLUMN connection_id uuid,
    ADD COLUMN delivering_at timestamptz,
    -- When it ended (acknowledged, failed or timed out) and, unless acknowledged, why.
    ADD COLUMN ended_at      timestamptz,
    ADD COLUMN failure       text,
    -- The work order that sent it; its outcome is written to that order's timeline once
    -- (maintenance/orders/command_outcomes.py claims `reported_at`).
    ADD COLUMN work_order_id bigint REFERENCES work_orders (id),
    ADD COLUMN reported_at   timestamptz;

ALTER TABLE commands ADD CONSTRAINT commands_delivering_names_connection
    CHECK (state <> 'delivering' OR (connection_id IS NOT NULL AND delivering_at IS NOT NULL));

-- The relay's queue: per pile, the oldest pending OCPP command first.
CREATE INDEX commands_ocpp_queue_idx ON commands (pile_id, requested_at, id) WHERE state IN ('pending', 'delivering');
CREATE INDEX commands_unreported_idx ON commands (id) WHERE work_order_id IS NOT NULL AND reported_at IS NULL;

-- A new command wakes the relay of the gateway process holding the pile's connection
-- (LISTEN ocpp_commands; payload = pile id). Delivered at commit, so the row is visible.
CREATE FUNCTION commands_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.via = 'ocpp' THEN
        PERFORM pg_notify('ocpp_commands', NEW.pile_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER commands_queued_notify AFTER INSERT ON commands
    FOR EACH ROW EXECUTE FUNCTION commands_queued();
