-- MQTT commands a pile never acknowledges are now ended on every maintenance pass (policy
-- command_ack_timeout_s; maintenance/orders/policy_step.py). The pass looks for them here.
CREATE INDEX commands_unanswered_idx ON commands (requested_at) WHERE state IN ('pending', 'sent');

-- Those left unanswered before that pass existed end at its first run; their work orders
-- (often closed long since) get no "timed out" line dated today. A late ack is still noted.
UPDATE commands SET reported_at = now()
WHERE state IN ('pending', 'sent') AND via IS DISTINCT FROM 'ocpp' AND reported_at IS NULL
  AND requested_at < now() - interval '5 minutes';

-- A connector number a pile's model does not have is no port (data-quality note
-- 'unknown_connector'; ingest makes no state for it any more). State made for one before
-- would otherwise never change again and count in uptime, verification and fault checks;
-- its reports stay in telemetry and connector_status_changes.
DELETE FROM connector_state c USING piles p, pile_models m
WHERE p.id = c.pile_id AND m.id = p.model_id AND c.connector_id > m.connectors;
