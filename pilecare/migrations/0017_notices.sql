-- Issue 10: notices to people in a role (SLA warnings and breaches, safety faults,
-- escalations, orders no engineer can take) go out through the outbox like every other
-- event. See maintenance/outbox/notices.py.

-- The role an outbox row is addressed to (a notice's dispatcher or supervisor); NULL for
-- events not addressed to a role. The console's stream shows such a row only to that role
-- and the roles above it, and the deliverer publishes it on the role's MQTT topic.
ALTER TABLE outbox ADD COLUMN role text;

-- An MQTT delivery goes to an engineer's topic or to a role's topic, never both: before
-- this only engineers had one.
ALTER TABLE deliveries ADD COLUMN role text;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_mqtt_target_check
    CHECK (channel <> 'mqtt' OR (webhook_id IS NULL AND (engineer_id IS NULL) <> (role IS NULL)));

