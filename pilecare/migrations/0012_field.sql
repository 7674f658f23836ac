-- Issue 4, the field flow: the service report (R-REPORT), parts used (R-PARTS), quotes
-- for work outside warranty (R-WARRANTY).

CREATE TABLE service_reports (
    work_order_id         bigint PRIMARY KEY REFERENCES work_orders (id),
    diagnosis             text,
    cause_class           text CHECK (cause_class IN ('design', 'manufacture', 'installation', 'material',
                                                      'wear', 'misuse', 'external', 'unknown')),
    fault_cause           text,
    action_taken          text,
    no_parts              boolean NOT NULL DEFAULT false,   -- "no parts used" said explicitly
    test_passed           boolean,
    test_notes            text,
    customer_opinion      text,
    customer_rating       smallint CHECK (customer_rating BETWEEN 1 AND 5),
    customer_signoff_name text,
    completed_at          timestamptz,
    completed_by          text,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    updated_by            text NOT NULL
);

CREATE TABLE parts_used (
    id                 bigserial PRIMARY KEY,
    work_order_id      bigint NOT NULL REFERENCES work_orders (id),
    part_id            text NOT NULL REFERENCES parts (id),
    quantity           integer NOT NULL CHECK (quantity > 0),
    location_id        text NOT NULL REFERENCES stock_locations (id),
    defective_returned boolean NOT NULL DEFAULT false,   -- the removed part goes back for analysis
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    recorded_by        text NOT NULL
);
CREATE INDEX parts_used_order_idx ON parts_used (work_order_id);

CREATE TABLE quotes (
    id            bigserial PRIMARY KEY,
    work_order_id bigint NOT NULL REFERENCES work_orders (id),
    state         text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected', 'superseded')),
    lines         jsonb NOT NULL,
    parts_cost    numeric(12, 2) NOT NULL,
    labour_h      numeric(6, 2) NOT NULL,
    labour_cost   numeric(12, 2) NOT NULL,
    travel_km     numeric(8, 1) NOT NULL,
    travel_cost   numeric(12, 2) NOT NULL,
    total         numeric(12, 2) NOT NULL,
    currency      text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL,
    decided_at    timestamptz,
    decided_by    text,
    approver_name text                        -- the customer's person who approved
);
-- One quote awaiting or holding approval per order.
CREATE UNIQUE INDEX quotes_one_live ON quotes (work_order_id) WHERE state IN ('pending', 'approved');

ALTER TABLE work_orders
    ADD COLUMN warranty       text CHECK (warranty IN ('in_warranty', 'out_of_warranty')),
    ADD COLUMN reopened_count smallint NOT NULL DEFAULT 0;   -- verification failures: not a first-time fix
