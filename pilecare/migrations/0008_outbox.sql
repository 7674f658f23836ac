-- Events for people and systems outside (engineers' phones over MQTT, webhooks, the
-- console's event stream), written in the same transaction as the change they describe
-- and delivered afterwards: a rolled-back change never notifies, a committed one always does.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    event         text NOT NULL,           -- e.g. assignment.offered, work_order.updated, arrival.eta
    work_order_id bigint REFERENCES work_orders (id),
    engineer_id   text REFERENCES engineers (id),
    customer_id   text REFERENCES customers (id),
    payload       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX outbox_engineer_idx ON outbox (engineer_id, id) WHERE engineer_id IS NOT NULL;
