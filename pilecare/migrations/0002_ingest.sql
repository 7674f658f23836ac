-- Tables owned by ingest: latest state, transitions for maintenance, raw device facts.

-- Latest state per pile so fleet queries never scan telemetry.
CREATE TABLE pile_state (
    pile_id                 text PRIMARY KEY REFERENCES piles (id) ON DELETE CASCADE,
    online                  boolean NOT NULL DEFAULT false,
    connectivity_changed_at timestamptz,
    connectivity_reason     text,
    last_seen               timestamptz,   -- broker-receive time of the newest message of any kind
    last_telemetry_at       timestamptz,   -- trusted time of the newest telemetry
    last_seq                bigint,
    temp_internal_c         real,
    fan_rpm                 real,
    ambient_c               real,
    clock_skew_s            double precision,
    clock_skewed            boolean NOT NULL DEFAULT false,
    -- Sequence accounting: gaps = seq_max - seq_first + 1 - seq_count (exact under
    -- reordering and redelivery, because only newly stored messages are counted).
    seq_first               bigint,
    seq_max                 bigint,
    seq_count               bigint NOT NULL DEFAULT 0,
    firmware_reported       text
) WITH (fillfactor = 50);  -- updated on every message: room on the page for HOT updates

CREATE TABLE connector_state (
    pile_id           text NOT NULL REFERENCES piles (id) ON DELETE CASCADE,
    connector_id      smallint NOT NULL,
    time              timestamptz NOT NULL,
    seq               bigint NOT NULL,
    status            text NOT NULL,
    error_code        text NOT NULL,
    vendor_error_code text,
    info              text,
    voltage_v         real,
    current_a         real,
    power_kw          real,
    power_offered_kw  real,
    energy_kwh        double precision,
    temp_c            real,
    soc_pct           real,
    status_since      timestamptz NOT NULL,
    PRIMARY KEY (pile_id, connector_id)
) WITH (fillfactor = 50);  -- updated on every message: room on the page for HOT updates
CREATE INDEX connector_state_status_idx ON connector_state (status);

-- Status/error transitions recorded by ingest; maintenance consumes the unprocessed ones.
CREATE TABLE connector_status_changes (
    id             bigserial PRIMARY KEY,
    pile_id        text NOT NULL,
    connector_id   smallint NOT NULL,
    time           timestamptz NOT NULL,
    old_status     text,
    new_status     text NOT NULL,
    old_error_code text,
    new_error_code text NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    processed_at   timestamptz
);
CREATE INDEX connector_status_changes_unprocessed_idx
    ON connector_status_changes (id) WHERE processed_at IS NULL;
CREATE INDEX connector_status_changes_pile_idx ON connector_status_changes (pile_id, time);

-- Every online/offline message (including last wills), for uptime and flapping rules.
CREATE TABLE connectivity_events (
    id          bigserial PRIMARY KEY,
    pile_id     text NOT NULL,
    received_at timestamptz NOT NULL,
    device_ts   timestamptz,
    online      boolean NOT NULL,
    reason      text,
    processed_at timestamptz
);
CREATE INDEX connectivity_events_pile_idx ON connectivity_events (pile_id, received_at);
-- A redelivered status message (same device time) is recorded once. Last wills carry no
-- device time and cannot be told apart; a repeated offline is harmless.
CREATE UNIQUE INDEX connectivity_events_once_idx
    ON connectivity_events (pile_id, device_ts, online) WHERE device_ts IS NOT NULL;
CREATE INDEX connectivity_events_unprocessed_idx
    ON connectivity_events (id) WHERE processed_at IS NULL;

CREATE TABLE pile_events (
    id           bigserial PRIMARY KEY,
    pile_id      text NOT NULL,
    event_id     text NOT NULL,
    type         text NOT NULL,
    connector_id smallint,
    device_ts    timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}',
    processed_at timestamptz,
    UNIQUE (pile_id, event_id)
);
CREATE INDEX pile_events_pile_idx ON pile_events (pile_id, received_at);
CREATE INDEX pile_events_unprocessed_idx ON pile_events (id) WHERE processed_at IS NULL;

-- Downlink commands (gateway publishes, ingest records the pile's ack).
CREATE TABLE commands (
    id           uuid PRIMARY KEY,
    pile_id      text NOT NULL REFERENCES piles (id),
    type         text NOT NULL,
    params       jsonb NOT NULL DEFAULT '{}',
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'sent', 'acknowledged', 'timed_out', 'failed')),
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    acked_at     timestamptz,
    ack_status   text,
    ack_info     text
);
CREATE INDEX commands_pile_idx ON commands (pile_id, requested_at);

-- Device messages that could not be stored, with the raw bytes and why.
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    topic        text NOT NULL,
    pile_id      text,
    kind         text,
    reason       text NOT NULL,
    payload      bytea NOT NULL,
    payload_size integer NOT NULL,
    worker       text NOT NULL
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_pile_idx ON dead_letters (pile_id, received_at DESC);

-- Per-worker counters per minute, written in the same transaction as the data.
CREATE TABLE ingest_counters (
    worker        text NOT NULL,
    minute        timestamptz NOT NULL,
    received      bigint NOT NULL DEFAULT 0,
    stored        bigint NOT NULL DEFAULT 0,
    duplicates    bigint NOT NULL DEFAULT 0,
    dead_lettered bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (worker, minute)
);

-- Messages stored at receive time because the device clock was implausible. Their
-- storage time differs on redelivery, so they are de-duplicated on the device key here.
CREATE TABLE telemetry_skewed (
    pile_id     text NOT NULL,
    seq         bigint NOT NULL,
    device_ts   timestamptz NOT NULL,
    time        timestamptz NOT NULL,
    PRIMARY KEY (pile_id, seq, device_ts)
);

-- Every pile has a state row from birth, so ingest can lock piles (in id order) before
-- merging a batch: two workers then never interleave on one pile or deadlock.
CREATE FUNCTION pile_state_for_new_pile() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pile_state (pile_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$;
CREATE TRIGGER piles_state_row AFTER INSERT ON piles
    FOR EACH ROW EXECUTE FUNCTION pile_state_for_new_pile();

-- Hours that received telemetry since the hourly rollup last covered them (plain
-- PostgreSQL): ingest marks them in the batch's transaction, housekeeping refreshes
-- exactly those, late uploads included, instead of re-aggregating a fixed window.
CREATE TABLE telemetry_dirty_hours (
    hour  timestamptz PRIMARY KEY,
    marks bigint NOT NULL DEFAULT 1  -- bumped on every new mark: a refresh clears only what it saw
);
