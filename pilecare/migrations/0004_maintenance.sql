-- Maintenance engine (issue 3, first slice): alarms and work orders, with their
-- one-at-a-time rules enforced by partial unique indexes so that any number of
-- maintenance processes can run against the same stream.

CREATE TABLE alarms (
    id             bigserial PRIMARY KEY,
    pile_id        text NOT NULL REFERENCES piles (id),
    connector_id   smallint NOT NULL DEFAULT 0,  -- 0 = the pile as a whole
    rule_id        text NOT NULL,
    fault_category text NOT NULL,
    severity       text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
    safety         boolean NOT NULL DEFAULT false,
    state          text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'cleared')),
    occurrences    integer NOT NULL DEFAULT 1,
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    cleared_at     timestamptz,
    acknowledged_at timestamptz,
    acknowledged_by text,
    detail         jsonb NOT NULL DEFAULT '{}'
);
-- At most one active alarm per (pile, connector, rule).
CREATE UNIQUE INDEX alarms_one_active ON alarms (pile_id, connector_id, rule_id) WHERE state = 'active';
CREATE INDEX alarms_pile_idx ON alarms (pile_id, first_seen DESC);

CREATE TABLE work_orders (
    id             bigserial PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('corrective', 'preventive', 'inspection', 'installation')),
    pile_id        text NOT NULL REFERENCES piles (id),
    fault_category text,
    state          text NOT NULL DEFAULT 'new',
    priority       smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
    title          text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz
);
-- At most one open corrective work order per (pile, fault category): new alarms attach.
CREATE UNIQUE INDEX work_orders_one_open_corrective ON work_orders (pile_id, fault_category)
    WHERE kind = 'corrective' AND state NOT IN ('closed', 'cancelled');
CREATE INDEX work_orders_state_idx ON work_orders (state);

CREATE TABLE work_order_alarms (
    work_order_id bigint NOT NULL REFERENCES work_orders (id),
    alarm_id      bigint NOT NULL REFERENCES alarms (id),
    PRIMARY KEY (work_order_id, alarm_id)
);

-- The timeline: every transition with who and when.
CREATE TABLE work_order_events (
    id            bigserial PRIMARY KEY,
    work_order_id bigint NOT NULL REFERENCES work_orders (id),
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    from_state    text,
    to_state      text NOT NULL,
    note          text
);
CREATE INDEX work_order_events_order_idx ON work_order_events (work_order_id, id);
