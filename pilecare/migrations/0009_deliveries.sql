-- Issue 4: delivering the outbox. Each outbox row fans out once into one delivery per
-- target (the engineer's MQTT topic, each subscribed webhook); every attempt's outcome is
-- kept on the delivery so failures are visible. See maintenance/deliver.py.

-- Endpoints of integrations (customer_id NULL: receives every subscribed event) and of
-- customers (only that customer's customer-facing events, e.g. arrival.eta).
CREATE TABLE webhooks (
    id               bigserial PRIMARY KEY,
    url              text NOT NULL CHECK (url ~* '^https?://[^/\s]+'),
    secret           text NOT NULL,                 -- HMAC key; shown once, at creation
    events           text[] NOT NULL DEFAULT '{}',  -- empty: every event it may receive
    customer_id      text REFERENCES customers (id),
    description      text,
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by       text NOT NULL,
    disabled_at      timestamptz,
    disabled_reason  text,
    -- Dead deliveries in a row; any success resets it. Too many disable the endpoint.
    consecutive_dead integer NOT NULL DEFAULT 0
);
CREATE INDEX webhooks_active_idx ON webhooks (customer_id) WHERE active;

-- Fanned out: delivery rows exist for it. NULL marks the work left for the deliverer.
ALTER TABLE outbox ADD COLUMN fanned_out_at timestamptz;
CREATE INDEX outbox_fan_out_idx ON outbox (id) WHERE fanned_out_at IS NULL;

-- The writing transaction's id: the console's event stream reads only rows of finished
-- transactions, in (txid, id) order, so a row that commits after a higher id is never
-- skipped (bigserial ids are handed out in call order, not commit order).
ALTER TABLE outbox ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX outbox_stream_idx ON outbox (txid, id);

CREATE TABLE deliveries (
    id              bigserial PRIMARY KEY,
    outbox_id       bigint NOT NULL REFERENCES outbox (id),
    channel         text NOT NULL CHECK (channel IN ('mqtt', 'webhook')),
    webhook_id      bigint REFERENCES webhooks (id) ON DELETE CASCADE,
    engineer_id     text REFERENCES engineers (id),
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A deliverer's claim: until this time nobody else sends it; a crashed deliverer's
    -- claims come back when it passes. The token lets only the claimer record the outcome.
    leased_until    timestamptz,
    lease_token     uuid,
    last_status     integer,          -- HTTP status of the last attempt (webhooks)
    last_error      text,
    last_duration_ms integer,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (channel <> 'mqtt' OR (engineer_id IS NOT NULL AND webhook_id IS NULL)),
    CHECK (channel <> 'webhook' OR webhook_id IS NOT NULL),
    -- An outbox row reaches each target once, however many deliverers fan it out.
    UNIQUE NULLS NOT DISTINCT (outbox_id, channel, webhook_id)
);
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_webhook_idx ON deliveries (webhook_id, id);
CREATE INDEX deliveries_dead_idx ON deliveries (id) WHERE state = 'dead';
