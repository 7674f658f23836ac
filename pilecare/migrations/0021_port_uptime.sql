-- Port uptime the way US NEVI rules count it (23 CFR 680.116(b)); docs/kpi.md.

-- A port is the charging position. Two connectors of one position (a CCS and a CHAdeMO
-- cable on one power cabinet, only one of which charges at a time) share a port number:
-- connector_ports[c] is the port of connector c. NULL: every connector is its own port.
ALTER TABLE pile_models ADD COLUMN connector_ports smallint[]
    CHECK (connector_ports IS NULL
           OR (cardinality(connector_ports) = connectors AND 0 < ALL (connector_ports)));

-- Outage time taken out of a port's uptime for a cause outside the operator's control
-- (23 CFR 680.116(b)(4)), recorded by a dispatcher or supervisor with the evidence in
-- `note`. Never deleted: a mistaken exclusion is withdrawn, with who and when.
CREATE TABLE outage_exclusions (
    id               bigserial PRIMARY KEY,
    pile_id          text NOT NULL REFERENCES piles (id),
    port             smallint CHECK (port > 0),   -- NULL: every port of the pile (a grid outage takes all)
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz NOT NULL,
    cause            text NOT NULL CHECK (cause IN ('grid_outage', 'vehicle', 'scheduled_maintenance',
                                                    'vandalism', 'natural_disaster')),
    note             text NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    recorded_by      text NOT NULL,
    withdrawn_at     timestamptz,
    withdrawn_by     text,
    withdrawn_reason text,
    CHECK (ends_at > starts_at),
    CHECK ((withdrawn_at IS NULL) = (withdrawn_by IS NULL))
);
CREATE INDEX outage_exclusions_pile_idx ON outage_exclusions (pile_id, starts_at) WHERE withdrawn_at IS NULL;

-- The telemetry the uptime reads, which is rare: DC samples charging (or held by the pile)
-- below NEVI's 150 kW minimum, and the pile itself (connector 0) Faulted or Unavailable,
-- which ingest keeps only as telemetry. Through this small index the uptime never scans the
-- telemetry. maintenance/kpi/uptime.py's BELOW_MINIMUM and PILE_DOWN each imply one arm of
-- the predicate; a query that does not cannot use the index.
CREATE INDEX telemetry_uptime_idx ON telemetry (pile_id, time) INCLUDE (connector_id)
    WHERE (status IN ('Charging', 'SuspendedEVSE') AND power_offered_kw < 150)
       OR (connector_id = 0 AND status IN ('Faulted', 'Unavailable'));
