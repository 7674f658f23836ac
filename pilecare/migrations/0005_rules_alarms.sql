-- Issue 3, second slice: rules in the database (seeded from the shipped default by
-- maintenance on first load), alarm hold-off and timeline, condition tracking,
-- maintenance windows, SLA, triage and safety columns on work orders, notifications.
-- Ingest records the vendor code with each transition, so a rule can tell an e-stop
-- (OtherError/EStop) from other errors.
ALTER TABLE connector_status_changes ADD COLUMN new_vendor_error_code text;

-- Rules are data owned by the operators once installed; every edit is kept.
CREATE TABLE rules (
    id          text PRIMARY KEY,
    kind        text NOT NULL,
    definition  jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    updated_by  text NOT NULL
);
CREATE TABLE rule_changes (
    id          bigserial PRIMARY KEY,   -- the newest id is the rule-set version processes reload on
    rule_id     text NOT NULL,
    action      text NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    definition  jsonb,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL
);

ALTER TABLE alarms
    ADD COLUMN kind               text NOT NULL DEFAULT 'error_code',
    ADD COLUMN suppressed         boolean NOT NULL DEFAULT false,   -- raised inside a maintenance window
    ADD COLUMN clear_requested_at timestamptz,                      -- the fault went away; clears after the hold-off
    ADD COLUMN clear_after_s      integer NOT NULL DEFAULT 60,
    ADD COLUMN order_after_s      integer,                          -- NULL: this alarm opens no work order
    ADD COLUMN work_order_id      bigint REFERENCES work_orders (id),
    ADD COLUMN flaps              integer NOT NULL DEFAULT 0;       -- returns within the hold-off
CREATE INDEX alarms_clearing_idx ON alarms (clear_requested_at) WHERE state = 'active' AND clear_requested_at IS NOT NULL;
-- Alarms waiting for their order. An alarm whose rule wants an order at once gets one
-- even if it cleared before the policy step ran: the fault did happen.
CREATE INDEX alarms_unordered_idx ON alarms (first_seen)
    WHERE work_order_id IS NULL AND order_after_s IS NOT NULL AND NOT suppressed
      AND (state = 'active' OR order_after_s = 0);
CREATE INDEX alarms_work_order_idx ON alarms (work_order_id);
CREATE INDEX alarms_state_idx ON alarms (state, severity);

-- The alarm's timeline: raised, repeated, clear requested, cleared, acknowledged, comments.
CREATE TABLE alarm_events (
    id        bigserial PRIMARY KEY,
    alarm_id  bigint NOT NULL REFERENCES alarms (id),
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    note      text
);
CREATE INDEX alarm_events_alarm_idx ON alarm_events (alarm_id, id);

-- "Since when has this condition held" for duration rules (and the meter reading it
-- started from), so a restarted or second maintenance process keeps the clock.
CREATE TABLE rule_conditions (
    rule_id      text NOT NULL,
    pile_id      text NOT NULL,
    connector_id smallint NOT NULL,
    since        timestamptz NOT NULL,
    anchor       double precision,
    PRIMARY KEY (rule_id, pile_id, connector_id)
);

-- Planned work on a pile or a whole site: alarms raised inside are suppressed and open
-- no orders.
CREATE TABLE maintenance_windows (
    id           bigserial PRIMARY KEY,
    pile_id      text REFERENCES piles (id),
    site_id      text REFERENCES sites (id),
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    reason       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL,
    cancelled_at timestamptz,
    cancelled_by text,
    CHECK ((pile_id IS NULL) <> (site_id IS NULL)),
    CHECK (ends_at > starts_at)
);
CREATE INDEX maintenance_windows_pile_idx ON maintenance_windows (pile_id, ends_at);
CREATE INDEX maintenance_windows_site_idx ON maintenance_windows (site_id, ends_at);

ALTER TABLE work_orders
    ADD COLUMN severity         text,
    ADD COLUMN safety           boolean NOT NULL DEFAULT false,
    ADD COLUMN description      text,
    ADD COLUMN resolution       text,          -- remote | cleared_at_pile | repaired
    ADD COLUMN responded_at     timestamptz,
    ADD COLUMN resolved_at      timestamptz,
    ADD COLUMN verified_at      timestamptz,
    ADD COLUMN response_due_at  timestamptz,
    ADD COLUMN resolve_due_at   timestamptz,
    ADD COLUMN sla_warned_at    timestamptz,
    ADD COLUMN sla_breached_at  timestamptz,
    ADD COLUMN escalation_level smallint NOT NULL DEFAULT 0,
    ADD COLUMN repeat_of        bigint REFERENCES work_orders (id),
    ADD COLUMN triage_attempts  smallint NOT NULL DEFAULT 0,
    ADD COLUMN triage_next_at   timestamptz,
    ADD COLUMN out_of_service_at timestamptz;
CREATE INDEX work_orders_pile_idx ON work_orders (pile_id, created_at DESC);
CREATE INDEX work_orders_open_sla_idx ON work_orders (response_due_at) WHERE closed_at IS NULL;

-- Messages for people (supervisor on safety faults, SLA warnings and breaches).
-- Delivery channels come with dispatch (issue 4); the row is the record either way.
CREATE TABLE notifications (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    kind           text NOT NULL,
    recipient_role text NOT NULL,
    recipient      text,
    work_order_id  bigint REFERENCES work_orders (id),
    pile_id        text,
    message        text NOT NULL,
    delivered_at   timestamptz
);
CREATE INDEX notifications_at_idx ON notifications (at DESC);
-- One SLA notice of each kind per order, even with two watchdogs.
CREATE UNIQUE INDEX notifications_once_idx ON notifications (work_order_id, kind) WHERE kind LIKE 'sla_%';

-- Windowed counts for the failed-starts and flapping rules.
CREATE INDEX pile_events_type_idx ON pile_events (type, received_at);
CREATE INDEX connectivity_events_offline_idx ON connectivity_events (received_at) WHERE NOT online;
