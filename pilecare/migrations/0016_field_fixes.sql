-- Field-flow fixes.
--
-- A reopened order (verification failed) starts a fresh visit: the completed report moves
-- to service_report_history and the visit's parts and quotes are marked superseded at the
-- same instant, so GET /work-orders/{id}/report shows them as one earlier visit while the
-- next engineer must diagnose, test and sign off again.
CREATE TABLE service_report_history (
    id                    bigserial PRIMARY KEY,
    work_order_id         bigint NOT NULL REFERENCES work_orders (id),
    superseded_at         timestamptz NOT NULL,
    diagnosis             text,
    cause_class           text,
    fault_cause           text,
    action_taken          text,
    no_parts              boolean NOT NULL,
    test_passed           boolean,
    test_notes            text,
    customer_opinion      text,
    customer_rating       smallint,
    customer_signoff_name text,
    completed_at          timestamptz,
    completed_by          text,
    updated_at            timestamptz NOT NULL,
    updated_by            text NOT NULL,
    warranty              text          -- what the earlier diagnosis decided
);
CREATE INDEX service_report_history_order_idx ON service_report_history (work_order_id);

ALTER TABLE parts_used
    ADD COLUMN superseded_at timestamptz,
    -- A phone retrying a request it never saw answered sends the same id: recorded once,
    -- stock taken once.
    ADD COLUMN request_id    text,
    ADD CONSTRAINT parts_used_request_once UNIQUE (work_order_id, request_id);

ALTER TABLE quotes ADD COLUMN superseded_at timestamptz;
