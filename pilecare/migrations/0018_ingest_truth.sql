-- Issue 11, field truth: what real piles send must never hide a fault, invent one, or
-- look like an outage. See docs/device-protocol.md, "What the platform does with quirks".

-- Connector 0 (the pile itself): its latest OCPP status and error code, kept beside the
-- connectors' (connector_state holds ports only: availability counts them). Its changes
-- go to connector_status_changes with connector_id 0, so the same rules see them.
ALTER TABLE pile_state
    ADD COLUMN status            text,
    ADD COLUMN error_code        text,
    ADD COLUMN vendor_error_code text,
    ADD COLUMN info              text,
    ADD COLUMN status_time       timestamptz,   -- trusted time of the newest pile-wide report
    ADD COLUMN status_since      timestamptz,
    -- Sequence counters restart at every boot of some firmware: seq_first/seq_max/seq_count
    -- now describe the current run of the counter; the gaps of runs that ended are kept
    -- here, so lost messages are counted per run and never come out negative.
    ADD COLUMN seq_gaps_closed   bigint NOT NULL DEFAULT 0,
    ADD COLUMN seq_restarts      bigint NOT NULL DEFAULT 0,
    ADD COLUMN seq_run_started_at timestamptz;  -- trusted time of the current run's first message, after a restart

ALTER TABLE pile_state ADD COLUMN seq_gaps bigint GENERATED ALWAYS AS (
    seq_gaps_closed + greatest(coalesce(seq_max - seq_first + 1 - seq_count, 0), 0)) STORED;

-- Every detected restart of a pile's counter: when, and from which number to which.
CREATE TABLE seq_restarts (
    id         bigserial PRIMARY KEY,
    pile_id    text NOT NULL REFERENCES piles (id) ON DELETE CASCADE,
    time       timestamptz NOT NULL,
    seq_before bigint NOT NULL,
    seq_after  bigint NOT NULL
);
CREATE INDEX seq_restarts_pile_idx ON seq_restarts (pile_id, time);

-- A status delivered as retained on subscribe is a snapshot of unknown age: recorded,
-- but it moves neither online nor last_seen and raises nothing.
ALTER TABLE connectivity_events ADD COLUMN retained boolean NOT NULL DEFAULT false;

-- Data-quality problems per pile, one row per (pile, problem), counted: an unknown error
-- code, a timestamp without an offset, an invalid message. Reported as such, never as a
-- connectivity outage; the first and the latest raw message are kept for the record.
CREATE TABLE data_quality (
    pile_id        text NOT NULL REFERENCES piles (id) ON DELETE CASCADE,
    problem        text NOT NULL,
    first_seen     timestamptz NOT NULL,
    last_seen      timestamptz NOT NULL,
    count          bigint NOT NULL DEFAULT 1,
    detail         text NOT NULL,
    topic          text NOT NULL,
    first_payload  bytea NOT NULL,
    last_payload   bytea NOT NULL,
    PRIMARY KEY (pile_id, problem)
);
