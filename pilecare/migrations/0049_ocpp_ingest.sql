-- OCPP chargers through ingest (issue 15, item 3; docs/ocpp.md, "From OCPP to pilecare").

-- What a charger says it is in its BootNotification. Kept beside the registry, never over
-- it: the registry's model is what the operator bought and installed; a charger that
-- claims otherwise is a data-quality note (problem 'reported_identity_mismatch').
ALTER TABLE pile_state
    ADD COLUMN reported_vendor      text,
    ADD COLUMN reported_model       text,
    ADD COLUMN reported_serial      text,
    ADD COLUMN reported_identity_at timestamptz;

-- OCPP sends meter values and statuses in separate messages. A meter value moves the
-- connector's latest measurements but not `time`, which stays the time of its newest
-- status: a status that arrives after a newer meter value is still the latest status.
ALTER TABLE connector_state ADD COLUMN measured_at timestamptz;
